import type { Redis } from 'ioredis';
import type { QTasksTimer, TickEvent } from '../../lib/index.js';

/** Resolves with the first tick event of `timer` that matches, or fails after `timeoutMs`. */
export function nextTickEvent(
  timer: QTasksTimer,
  match: (event: TickEvent) => boolean = () => true,
  timeoutMs = 10_000,
): Promise<TickEvent> {
  return new Promise((resolve, reject) => {
    const timeout = setTimeout(() => {
      unsubscribe();
      reject(new Error(`no matching tick event within ${timeoutMs} ms`));
    }, timeoutMs);
    const unsubscribe = timer.onTick((event) => {
      if (!match(event)) return;
      clearTimeout(timeout);
      unsubscribe();
      resolve(event);
    });
  });
}

/** Every key matching `pattern` (SCAN, bounded). */
async function scanKeys(redis: Redis, pattern: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  for (let round = 0; round < 1000; round++) {
    const [next, batch] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    keys.push(...batch);
    cursor = next;
    if (cursor === '0') break;
  }
  return keys;
}

/** The idempotency keys a schedule's ticks took in Redis: tick time (ms) -> uuid of the tick's task. */
export async function tickKeys(redis: Redis, appName: string, schedule: string): Promise<Map<number, string>> {
  const prefix = `qtasks:{${appName}}:u:timer:${schedule}:`;
  const keys = await scanKeys(redis, `${prefix}*`);
  const holders = keys.length ? await redis.mget(...keys) : [];
  return new Map(keys.map((key, i) => [Number(key.slice(prefix.length)), holders[i]!]));
}

/** Uuids of every task record of an app. */
export async function taskUuids(redis: Redis, appName: string): Promise<string[]> {
  const prefix = `qtasks:{${appName}}:t:`;
  return (await scanKeys(redis, `${prefix}*`)).map((key) => key.slice(prefix.length));
}
