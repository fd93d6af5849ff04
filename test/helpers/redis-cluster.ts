import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { assertRedisInstalled, freePort, startRedisServer, type RedisServerHandle } from './redis-server.js';
import { eventually } from './eventually.js';

const run = promisify(execFile);

export interface RedisClusterHandle {
  /** Every node (masters and replicas): startup nodes for ioredis `new Cluster(nodes)` or the `cluster` connection option. */
  nodes: { host: string; port: number }[];
  destroy(): Promise<void>;
}

export interface RedisClusterOptions {
  /** Replicas of each master (a master that fails is replaced by one of them). Default 0. */
  replicasPerMaster?: number;
  /** cluster-node-timeout: how long a silent master takes to be failed over. Default 5000. */
  nodeTimeoutMs?: number;
}

/**
 * Starts a local Redis Cluster of `masters` nodes, each with `replicasPerMaster` replicas (each a
 * private redis-server on free loopback ports, bus port included), joins them with
 * `redis-cli --cluster create`, and resolves once every node reports cluster_state:ok.
 */
export async function startRedisCluster(masters = 3, { replicasPerMaster = 0, nodeTimeoutMs = 5000 }: RedisClusterOptions = {}): Promise<RedisClusterHandle> {
  assertRedisInstalled('redis-cli');
  const servers: RedisServerHandle[] = [];
  const destroy = async () => {
    await Promise.all(servers.map((server) => server.destroy()));
  };
  try {
    for (let i = 0; i < masters * (1 + replicasPerMaster); i++) {
      const busPort = await freePort();
      servers.push(
        await startRedisServer({
          extraArgs: ['--cluster-enabled', 'yes', '--cluster-port', String(busPort), '--cluster-node-timeout', String(nodeTimeoutMs)],
        }),
      );
    }
    const addresses = servers.map((server) => `127.0.0.1:${server.port}`);
    await run('redis-cli', ['--cluster', 'create', ...addresses, '--cluster-replicas', String(replicasPerMaster), '--cluster-yes'], { timeout: 30_000 });
    await Promise.all(servers.map((server) => untilClusterOk(server.url, 30_000)));
  } catch (error) {
    await destroy();
    throw error;
  }
  return { nodes: servers.map((server) => ({ host: '127.0.0.1', port: server.port })), destroy };
}

/** Waits for cluster_state:ok, and on a replica for its link to its master (no failover before). */
async function untilClusterOk(url: string, timeoutMs: number): Promise<void> {
  const client = new Redis(url);
  try {
    await eventually(
      `cluster node ${url} reports cluster_state:ok and, on a replica, master_link_status:up`,
      async () => {
        const [cluster, replication] = await Promise.all([client.cluster('INFO') as Promise<string>, client.info('replication')]);
        return cluster.includes('cluster_state:ok') && (replication.includes('role:master') || replication.includes('master_link_status:up'));
      },
      timeoutMs,
      100,
    );
  } finally {
    client.disconnect();
  }
}
