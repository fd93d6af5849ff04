import { inject } from 'vitest';
import type { RedisConnectionOptions } from '../../lib/index.js';

/** A Redis deployment the shared behaviour tests run against. */
export interface Backend {
  name: string;
  /** Connection options for QTasksModule / QueueTasks. */
  connection(): RedisConnectionOptions;
}

/**
 * Every deployment the engine supports, both started by the global setup. Shared tests run on
 * each with `describe.each(BACKENDS)('... on $name', (backend) => ...)`.
 */
export const BACKENDS: Backend[] = [
  { name: 'a single Redis', connection: () => ({ url: inject('redisUrl') }) },
  { name: 'a Redis Cluster', connection: () => ({ cluster: { nodes: inject('redisClusterNodes') } }) },
];
