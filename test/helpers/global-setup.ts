import type {} from 'vitest';
import type { TestProject } from 'vitest/node';
import { startRedisCluster } from './redis-cluster.js';
import { startRedisServer } from './redis-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
    /** Startup nodes of a local 3-master Redis Cluster (see test/helpers/backends.ts). */
    redisClusterNodes: { host: string; port: number }[];
  }
}

/**
 * One private redis-server and one private 3-master Redis Cluster for the whole run; each test
 * uses its own app name, so keys never collide.
 */
export default async function setup(project: TestProject) {
  const [server, cluster] = await Promise.all([startRedisServer(), startRedisCluster(3)]);
  project.provide('redisUrl', server.url);
  project.provide('redisClusterNodes', cluster.nodes);
  return async () => {
    await Promise.all([server.destroy(), cluster.destroy()]);
  };
}
