import { MalformedRecordError } from '../core/errors.js';
import type { RedisClient } from './connection.js';

/** Whether Redis refused a command because its key holds another type (a hash where a string was expected). */
export function isWrongTypeError(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('WRONGTYPE');
}

/** Why a record key holding Redis type `type` is no task record (readRecordText in lua/includes/record.lua says the same). */
export function wrongTypeReason(type: string): string {
  return `the key holds a Redis ${type}, not a task record`;
}

/**
 * The text stored at the record key `key` of `uuid`, null when there is none. A key of another
 * Redis type throws MalformedRecordError naming the uuid and the type, not Redis's WRONGTYPE.
 */
export async function getRecordText(client: RedisClient, key: string, uuid: string): Promise<string | null> {
  try {
    return await client.get(key);
  } catch (error) {
    if (!isWrongTypeError(error)) throw error;
    throw new MalformedRecordError(uuid, wrongTypeReason(await client.type(key)));
  }
}
