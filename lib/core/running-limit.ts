import { InvalidOptionError, shownValue } from './errors.js';

/**
 * `maxRunning` of the tasks that have one, by name, as a worker hands them to its broker with each
 * claim: at most this many tasks of the name are held by workers at once, across every worker of
 * the app, each from its claim until its outcome is stored, it is given back or its lease expires.
 */
export type RunningLimits = ReadonlyMap<string, number>;

/**
 * When a waiting line whose running slots are all held is due: later than any time, so never by the
 * clock (a lease end that frees a slot makes it due). 2^53 - 1, as WAITS_FOR_SLOT in
 * lib/redis/lua/includes/waiting-lines.lua.
 */
export const RUNNING_SLOT_WAIT = Number.MAX_SAFE_INTEGER;

/** Refuses a maxRunning the broker could not keep (`where` names it in the error). */
export function assertMaxRunning(value: unknown, where: string): void {
  if (value === undefined) return;
  if (!Number.isInteger(value) || (value as number) < 1) {
    throw new InvalidOptionError(`${where} must be a whole number of tasks above 0; got ${shownValue(value)}.`);
  }
}
