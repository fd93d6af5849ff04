import { DEFAULT_CONFIG } from './config.js';
import { raceTimeout } from './timing.js';

/** How long a closing trigger is waited for on an aborted task, by default (the default shutdown grace). */
export const CLOSING_WAIT_MS = DEFAULT_CONFIG.shutdownGraceMs;

/**
 * A running task's abort switch. Cancel and time limit flip it; the executor stops waiting at
 * once. Its AbortController is built only when something reads `signal` (the task's context, a
 * generator): most tasks never do, and one controller with its listeners per task is a cost the
 * worker's hot path does not need to pay.
 */
export class TaskAbort {
  /**
   * @param closingWaitMs How long a closing trigger's handler is waited for on a task aborted
   *   before the trigger fired (a timed-out task's retry decision, say): the worker gives its
   *   `shutdownGraceMs`, a run without one `CLOSING_WAIT_MS`.
   */
  constructor(readonly closingWaitMs = CLOSING_WAIT_MS) {}

  private controller?: AbortController;
  private listener?: (reason: Error) => void;
  private clock?: TimeLimitClock;
  /** Why it was aborted, once it was. */
  reason?: Error;

  get aborted(): boolean {
    return this.reason !== undefined;
  }

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.reason) this.controller.abort(this.reason);
    }
    return this.controller.signal;
  }

  abort(reason: Error): void {
    if (this.reason) return;
    this.reason = reason;
    this.controller?.abort(reason);
    this.listener?.(reason);
  }

  /**
   * The listener of the wait in progress (`untilAborted`'s, in the executor or the worker's
   * triggers), called at once if already aborted. One slot is enough: a task's waits run one after
   * the other and each clears it when it settles, so no two overlap (after the abort none sets it,
   * so one settling late clears nothing another needs).
   */
  onAbort(listener: ((reason: Error) => void) | undefined): void {
    this.listener = listener;
    if (listener && this.reason) listener(this.reason);
  }

  /**
   * Starts the time limit (maxTime): the switch flips with `reason()` once the run has used `ms`.
   * Whoever runs the task starts it once, before its first trigger (the worker, or runInline).
   */
  limitTime(ms: number, reason: () => Error): void {
    this.clock = { ms, since: 0, reason };
    this.resumeTime();
  }

  /** Stops the clock, keeping what is left: the run is over, or a thread task waits for a thread, which is not its time. */
  pauseTime(): void {
    const clock = this.clock;
    if (!clock?.timer) return;
    clearTimeout(clock.timer);
    clock.timer = undefined;
    clock.ms = Math.max(0, clock.ms - (performance.now() - clock.since));
  }

  resumeTime(): void {
    const clock = this.clock;
    if (!clock || clock.timer || this.reason) return;
    clock.since = performance.now();
    clock.timer = setTimeout(() => this.abort(clock.reason()), clock.ms);
  }
}

/** What is left of the limit (`ms`, as of when it last stopped counting) and the reason to abort with. */
interface TimeLimitClock {
  ms: number;
  /** performance.now() when it last started counting. */
  since: number;
  reason: () => Error;
  timer?: NodeJS.Timeout;
}

/**
 * Settles with `work` (a trigger's answer, or the task's own work), or rejects with the abort
 * reason as soon as the task is aborted: the slot is freed even when the task or a plugin ignores
 * the signal (a late outcome is dropped, a late failure swallowed). An answer given at once is
 * returned as it is, with no promise: nothing to wait for.
 */
export function untilAborted<T>(work: T | Promise<T>, abort: TaskAbort): T | Promise<T> {
  if (!(work instanceof Promise)) return work;
  if (abort.reason) {
    work.catch(() => undefined);
    return Promise.reject(abort.reason);
  }
  return new Promise<T>((resolve, reject) => {
    abort.onAbort(reject);
    work.then(
      (value) => {
        abort.onAbort(undefined);
        resolve(value);
      },
      (error: unknown) => {
        abort.onAbort(undefined);
        reject(error);
      },
    );
  });
}

/**
 * A trigger's answer once the task's outcome is known (its closing triggers). Aborted while it
 * waits, the wait ends at once: `otherwise` (the event as it was) stands and the outcome is kept.
 * Aborted already when it fired (a timed-out task's retry decision), the answer is waited for, or
 * the abort would throw away every closing handler's work, the retry plugin's decision included,
 * whenever one handler is async; but only `abort.closingWaitMs`, after which `otherwise` stands,
 * so a hung handler cannot hold the task either. A handler's own failure still throws. An answer
 * given at once (the retry plugin's) is returned as it is, with no promise.
 */
export function unlessAborted<T>(answer: T | Promise<T>, abort: TaskAbort, otherwise: T): T | Promise<T> {
  if (!(answer instanceof Promise)) return answer;
  // `otherwise` once the wait is up; a late answer or failure is dropped.
  if (abort.reason !== undefined) return raceTimeout(answer, abort.closingWaitMs, () => otherwise);
  return (untilAborted(answer, abort) as Promise<T>).catch((error: unknown) => {
    if (abort.reason !== undefined && error === abort.reason) return otherwise;
    throw error;
  });
}
