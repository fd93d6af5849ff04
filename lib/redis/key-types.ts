import { MalformedKeyError } from '../core/errors.js';
import type { RedisClient } from './connection.js';

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
