import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { assertRedisInstalled, freePort, startRedisServer, type RedisServerHandle } from './redis-server.js';
import { eventually } from './eventually.js';

const run = promisify(execFile);

export interface RedisClusterHandle {
  /** Startup nodes for ioredis `new Cluster(nodes)` or the `cluster` connection option. */
  nodes: { host: string; port: number }[];
  destroy(): Promise<void>;
}

/**
 * Starts a local Redis Cluster of `masters` nodes without replicas (each a private redis-server on
 * free loopback ports, bus port included), joins them with `redis-cli --cluster create`, and
 * resolves once every node reports cluster_state:ok.
 */
export async function startRedisCluster(masters = 3): Promise<RedisClusterHandle> {
  assertRedisInstalled('redis-cli');
  const servers: RedisServerHandle[] = [];
  const destroy = async () => {
    await Promise.all(servers.map((server) => server.destroy()));
  };
  try {
    for (let i = 0; i < masters; i++) {
      const busPort = await freePort();
      servers.push(
        await startRedisServer({
          extraArgs: ['--cluster-enabled', 'yes', '--cluster-port', String(busPort), '--cluster-node-timeout', '5000'],
        }),
      );
    }
    const addresses = servers.map((server) => `127.0.0.1:${server.port}`);
    await run('redis-cli', ['--cluster', 'create', ...addresses, '--cluster-replicas', '0', '--cluster-yes'], { timeout: 30_000 });
    await Promise.all(servers.map((server) => untilClusterOk(server.url, 30_000)));
  } catch (error) {
    await destroy();
    throw error;
  }
  return { nodes: servers.map((server) => ({ host: '127.0.0.1', port: server.port })), destroy };
}

async function untilClusterOk(url: string, timeoutMs: number): Promise<void> {
  const client = new Redis(url);
  try {
    await eventually(
      `cluster node ${url} reports cluster_state:ok`,
      async () => ((await client.cluster('INFO')) as string).includes('cluster_state:ok'),
      timeoutMs,
      100,
    );
  } finally {
    client.disconnect();
  }
}
