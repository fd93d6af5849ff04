import { InvalidOptionError, shownValue, TaskCancelledError } from './errors.js';
import { toJson } from './json.js';
import type { QTasksLogger } from './logger.js';
import type { AddOptions, WaitOptions } from './queue-tasks.js';
import type { TaskRecord } from './task-record.js';

/** What a running task may use to enqueue follow-up tasks and read them back. */
export interface TaskClient {
  add(name: string, args?: unknown[], options?: AddOptions): Promise<TaskRecord>;
  run(name: string, args?: unknown[], options?: AddOptions & WaitOptions): Promise<TaskRecord>;
  get(uuid: string): Promise<TaskRecord | null>;
  wait(uuid: string, options?: WaitOptions): Promise<TaskRecord>;
  cancel(uuid: string, reason?: string): Promise<TaskRecord>;
}

/** The engine-side powers behind a context, supplied by the executor. */
export interface TaskControls {
  /** Stores progress JSON on the record; false when the lease is lost. */
  progress(json: string): Promise<boolean>;
  abort(reason: Error): void;
}

/**
 * A running task's own context (the original's `echo`): who it is, a logger tagged with its uuid,
 * progress reports, a signal that aborts on cancel or time limit, and a client for follow-ups.
 */
export class TaskContext {
  constructor(
    readonly uuid: string,
    readonly taskName: string,
    /** 1 on the first run; grows with each retry. */
    readonly attempt: number,
    readonly logger: QTasksLogger,
    /** Aborts when the task is cancelled or runs out of time; `signal.reason` says which. */
    readonly signal: AbortSignal,
    readonly client: TaskClient,
    private readonly controls: TaskControls,
  ) {}

  /** Stores `value` (any JSON) as the record's progress, readable by clients while the task runs. */
  async progress(value: unknown): Promise<void> {
    const stored = await this.controls.progress(toJson(value, `Progress of task "${this.taskName}"`));
    if (!stored) this.logger.warn(`progress of task ${this.uuid} not stored: its lease is lost`);
  }

  /** Ends the task now with status `cancel` and this reason; throws to stop the code after it. */
  cancel(reason = 'cancelled'): never {
    // Stored as text: an object would be kept as "[object Object]".
    if (typeof reason !== 'string') {
      throw new InvalidOptionError(`Task ${this.taskName} (${this.uuid}) cancelled itself with a reason that is no string: ${shownValue(reason)}.`);
    }
    const error = new TaskCancelledError(reason);
    this.controls.abort(error);
    throw error;
  }
}
