import { spawnSync } from 'node:child_process';
import { Redis } from 'ioredis';

export interface Ceiling {
  /** One-key EVALSHA calls per second with 50 clients, one command in flight each. */
  evalshaPerSec: number;
  /** The same with 16 commands pipelined per client. */
  evalshaPipelinedPerSec: number;
}

/** redis-benchmark's figure for a one-key Lua script: the most script calls this Redis can serve. */
export async function measureCeiling(url: string, requests: number): Promise<Ceiling | null> {
  const { hostname, port } = new URL(url);
  const client = new Redis(url);
  try {
    const sha = (await client.script('LOAD', "return redis.call('INCR', KEYS[1])")) as string;
    const run = (extra: string[]) => {
      const result = spawnSync(
        'redis-benchmark',
        ['-h', hostname, '-p', port, '-c', '50', '-n', String(requests), '-q', ...extra, 'EVALSHA', sha, '1', 'bench:ceiling'],
        { encoding: 'utf8', timeout: 120_000 },
      );
      const match = /([\d.]+) requests per second/.exec(result.stdout ?? '');
      return match ? Number(match[1]) : null;
    };
    const plain = run([]);
    const pipelined = run(['-P', '16']);
    await client.del('bench:ceiling');
    return plain && pipelined ? { evalshaPerSec: plain, evalshaPipelinedPerSec: pipelined } : null;
  } finally {
    client.disconnect();
  }
}
