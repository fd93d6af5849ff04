export const TASK_STATUSES = ['new', 'process', 'success', 'error', 'cancel'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

/** Statuses after which a task never changes again. */
export const FINAL_STATUSES: ReadonlySet<TaskStatus> = new Set(['success', 'error', 'cancel']);

export function isFinal(status: TaskStatus): boolean {
  return FINAL_STATUSES.has(status);
}

/** Everything known about one task. `R` is the task's result type, `A` its argument list. */
export interface TaskRecord<R = unknown, A extends readonly unknown[] = unknown[]> {
  uuid: string;
  taskName: string;
  status: TaskStatus;
  priority: number;
  args: A;
  createdAt: Date;
  updatedAt: Date;
  startedAt?: Date;
  finishedAt?: Date;
  /** The task's result, set when status is `success`. */
  returning?: R;
  /** Error message and stack, set when status is `error`. */
  traceback?: string;
  /** 1 on the first run; grows with each retry. */
  attempt: number;
  /** Why it was cancelled, on a `cancel` record; a running task shows it once its cancel is asked for, until it ends. */
  cancelReason?: string;
  /** Id of the worker that holds or held the task. */
  worker?: string;
  /** How many times a worker died (lease expired) while holding it. */
  stalls: number;
  /** Earliest time it may run, for delayed tasks. */
  runAt?: Date;
  /** Last progress the current attempt reported (a retry starts with none). */
  progress?: unknown;
  /** Tracebacks of the attempts that failed, oldest first, when the task was retried. */
  errors?: string[];
}

/** What a producer hands to the broker. */
export interface NewTask {
  /**
   * A random UUID (the app makes one per task). No whitespace: the Redis broker packs it with other
   * fields, space-separated, and refuses one that has.
   */
  uuid: string;
  taskName: string;
  priority: number;
  /** Arguments already encoded as a JSON array. */
  argsJson: string;
  createdAt: number;
  delayMs: number;
  /** When set, a second task with the same key (until it expires) is dropped: used by timers. */
  uniqueKey?: string;
  uniqueTtlMs?: number;
}

/** A task claimed by a worker: the lease token proves the claim at completion. */
export interface ClaimedTask {
  record: TaskRecord;
  token: string;
}

export interface TaskOutcome {
  uuid: string;
  token: string;
  /** `retry` sends the task back under the same uuid with attempt + 1, after `retryDelayMs`. */
  status: 'success' | 'error' | 'cancel' | 'retry';
  /** Result JSON (success), traceback (error, retry) or reason (cancel). */
  payload: string;
  retryDelayMs?: number;
}
