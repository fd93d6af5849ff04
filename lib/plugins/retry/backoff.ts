import { InvalidOptionError } from '../../core/errors.js';
import { isDelay, MAX_DELAY_MS } from '../../core/timing.js';

/**
 * Delay before a retry: a number (fixed ms), `{ type: 'fixed', delay }`, `{ type: 'exponential',
 * delay, maxDelay?, jitter? }` (delay × 2^(attempt-1), capped, with jitter unless `jitter: false`),
 * or a function of the attempt that failed (1 = first run) and its error.
 */
export type Backoff =
  | number
  | { type: 'fixed'; delay: number }
  | { type: 'exponential'; delay: number; maxDelay?: number; jitter?: boolean }
  | ((attempt: number, error: unknown) => number);

export function backoffDelay(backoff: Backoff | undefined, attempt: number, error: unknown): number {
  if (backoff === undefined) return 0;
  if (typeof backoff === 'number') return backoff;
  if (typeof backoff === 'function') {
    const delay = backoff(attempt, error);
    if (!isDelay(delay)) {
      throw new InvalidOptionError(`A custom backoff returned ${String(delay)}; it must return from 0 to ${MAX_DELAY_MS} milliseconds (100 years).`);
    }
    return Math.round(delay);
  }
  if (backoff.type === 'fixed') return backoff.delay;
  // Doubling soon passes the longest delay a task takes (many retries, no maxDelay): held there.
  // The power stops at 2^1023, the last finite one: a delay of 0 times Infinity would be NaN.
  const full = Math.min(backoff.delay * 2 ** Math.min(attempt - 1, 1023), backoff.maxDelay ?? MAX_DELAY_MS);
  // Equal jitter: half fixed, half random, so retries of many tasks failing together spread out.
  return Math.round(backoff.jitter === false ? full : full / 2 + Math.random() * (full / 2));
}

export function assertBackoff(backoff: unknown, what: string): void {
  if (backoff === undefined || typeof backoff === 'function' || isDelay(backoff)) return;
  const shape = backoff as { type?: unknown; delay?: unknown; maxDelay?: unknown };
  const known = shape?.type === 'fixed' || shape?.type === 'exponential';
  if (!known || !isDelay(shape.delay) || (shape.maxDelay !== undefined && !isDelay(shape.maxDelay))) {
    throw new InvalidOptionError(
      `${what} must be milliseconds (0 to ${MAX_DELAY_MS}, 100 years), { type: 'fixed' | 'exponential', delay, maxDelay? } or a function, got ${JSON.stringify(backoff)}.`,
    );
  }
}
