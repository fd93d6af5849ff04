import { pbkdf2Sync } from 'node:crypto';

/**
 * CPU-bound on purpose (a key-stretching hash): the `hashPassword` task runs this export on a
 * ThreadWorker thread, so other tasks and HTTP requests keep being served meanwhile.
 */
export function hashPassword(password: string, salt: string): string {
  return pbkdf2Sync(password, salt, 100_000, 32, 'sha256').toString('hex');
}
