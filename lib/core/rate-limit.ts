import { InvalidOptionError, shownValue } from './errors.js';
import { MAX_TIMER_MS } from './timing.js';

/**
 * At most `max` starts of a task in each window of `windowMs`, counted across every worker of the
 * app (retries count). A window opens with the first start after the last one closed; a task
 * whose window is full waits, in order, until the next one opens.
 */
export interface RateLimit {
  max: number;
  windowMs: number;
}

/** Rate limits by task name, as a worker hands them to its broker with each claim. */
export type RateLimits = ReadonlyMap<string, RateLimit>;

/** Refuses a rate limit the broker could not keep (`where` names it in the error). */
export function assertRateLimit(limit: unknown, where: string): void {
  if (limit === undefined) return;
  const { max, windowMs } = (limit ?? {}) as Partial<RateLimit>;
  if (typeof limit !== 'object' || limit === null || !Number.isInteger(max) || max! < 1) {
    throw new InvalidOptionError(`${where} needs max, a whole number of starts above 0; got ${shownValue(limit)}.`);
  }
  if (!Number.isInteger(windowMs) || windowMs! < 1 || windowMs! > MAX_TIMER_MS) {
    throw new InvalidOptionError(`${where} needs windowMs, a whole number of milliseconds from 1 to ${MAX_TIMER_MS}; got ${shownValue(windowMs)}.`);
  }
}
