import { MalformedKeyError } from '../core/errors.js';
import { FINAL_STATUSES } from '../core/task-record.js';
import type { RedisClient } from './connection.js';
import type { RedisKeys } from './keys.js';

/** The Redis type the engine (lua/includes/*.lua) keeps in each of an app's queue keys with a fixed name. */
export function queueKeyTypes(keys: RedisKeys): [key: string, type: string][] {
  return [
    [keys.priorities, 'zset'], [keys.delayed, 'zset'], [keys.active, 'zset'], [keys.waitingLineReopens, 'zset'],
    [keys.finishedCounts, 'hash'], [keys.runningCounts, 'hash'],
    [keys.pauses, 'set'],
    ...[...FINAL_STATUSES].map((status): [string, string] => [keys.finished(status), 'zset']),
  ];
}

/**
 * Of `expected` (each key with the Redis type the app keeps there), the first key holding another
 * type, as MalformedKeyError; undefined when none does (a missing key is fine). One round trip:
 * the keys of one app share its hash tag, so a cluster takes them in one pipeline.
 */
export async function mistypedKey(client: RedisClient, expected: [key: string, type: string][]): Promise<MalformedKeyError | undefined> {
  const pipeline = client.pipeline();
  for (const [key] of expected) pipeline.type(key);
  const replies = (await pipeline.exec()) ?? [];
  for (const [index, [key, type]] of expected.entries()) {
    const [error, found] = replies[index] ?? [];
    if (error) throw error;
    if (found !== 'none' && found !== type) return new MalformedKeyError(key, found as string, type);
  }
  return undefined;
}
