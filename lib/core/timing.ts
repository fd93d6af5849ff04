import { InvalidOptionError, shownValue } from './errors.js';

/** The longest delay a Node timer takes (a longer one fires at once): 2³¹−1 ms, about 24.8 days. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Refuses a duration above MAX_TIMER_MS for an option that feeds a timer: the timer would fire
 * after 1 ms instead (a time limit failing every run, a shutdown grace of nothing).
 */
export function assertTimerRange(ms: number, what: string): void {
  if (ms > MAX_TIMER_MS) {
    throw new InvalidOptionError(`${what} must be at most ${MAX_TIMER_MS} ms, about 24.8 days (a longer timer fires at once), got ${shownValue(ms)}.`);
  }
}

/**
 * The longest `delay` of a task: 100 years, past any real use. Beyond it the run-at time soon
 * stops being a valid Date (a delay of 1e16 ms gave runAt Invalid Date), and Lua's number format
 * (14 digits) would round it in the stored record.
 */
export const MAX_DELAY_MS = 100 * 365.25 * 24 * 3_600_000;

/** A delay a task can wait (an add's, a retry's): 0 to MAX_DELAY_MS milliseconds. */
export function isDelay(value: unknown): value is number {
  return typeof value === 'number' && value >= 0 && value <= MAX_DELAY_MS;
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * Settles like `work`, or with `onTimeout()` (its value, or what it throws) when `ms` pass first.
 * One promise and one timer, both ended whichever comes first: a race between two promises would
 * leave the loser pending for good. `unref`: the timer alone does not keep the process alive.
 */
export function raceTimeout<T, U>(work: Promise<T>, ms: number, onTimeout: () => U, unref = false): Promise<T | U> {
  return new Promise<T | U>((resolve, reject) => {
    const timer = setTimeout(() => {
      try {
        resolve(onTimeout());
      } catch (error) {
        reject(error);
      }
    }, ms);
    // Optional: a fake timer (a test's) may have no unref.
    if (unref) timer.unref?.();
    work.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

/**
 * Waits for `work` to settle, but no longer than `ms`: shutdown steps use it so that a Redis
 * which is gone (commands queued until it returns) cannot hold a stop forever.
 */
export async function settleWithin(work: Promise<unknown>[], ms: number): Promise<void> {
  await raceTimeout(Promise.allSettled(work), ms, () => undefined);
}

/**
 * Calls `call(arg)`, a throw turned into a rejection, and runs `onSettle` once what it returned
 * settles: beside the caller's chain, not in it (no promise turn added to the caller), and before
 * the caller resumes, as reactions run in the order they were registered. For counts of calls
 * under way; `arg` is passed through, so a hot caller makes no closure.
 */
export function callThenOnSettle<A, T>(call: (arg: A) => Promise<T>, arg: A, onSettle: () => void): Promise<T> {
  let sent: Promise<T>;
  try {
    sent = call(arg);
  } catch (error) {
    sent = Promise.reject(error);
  }
  sent.then(onSettle, onSettle);
  return sent;
}
