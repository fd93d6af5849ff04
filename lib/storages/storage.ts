import type { GlobalConfig } from '../configs/global-config.js';
import { isFinal, type TaskRecord } from '../core/task-record.js';

/** A watch on one task, in place before the task can finish. */
export interface TaskWatch {
  /**
   * The final record once the task finishes (pushed, not polled); when the timeout passes first,
   * the current record (null if none).
   */
  finished: Promise<TaskRecord | null>;
  /** Ends the watch early; `finished` then never settles. */
  cancel(): void;
  /**
   * The record when the watch was placed (null if none), read in the same step: a task finishing
   * afterwards settles `finished`, one finished before is seen here.
   */
  current: TaskRecord | null;
}

/**
 * Storage: task records (status, result, error, timings). Holds the link to GlobalConfig,
 * as in the original: `broker.storage.globalConfig`, which may be null.
 */
export abstract class Storage {
  abstract readonly globalConfig: GlobalConfig | null;

  abstract start(): Promise<void>;
  abstract stop(): Promise<void>;

  /** The record, or null when there is none (never stored, deleted or expired). */
  abstract get(uuid: string): Promise<TaskRecord | null>;

  /**
   * Starts watching a task, which may not exist yet (`run` watches before it enqueues, so even a
   * task whose record is deleted the moment it finishes is seen finishing).
   */
  abstract watch(uuid: string, timeoutMs?: number): Promise<TaskWatch>;

  /**
   * Resolves with the record once it reaches a final status, or with the current record (null if
   * none) when `timeoutMs` passes first.
   */
  async waitFinished(uuid: string, timeoutMs?: number): Promise<TaskRecord | null> {
    const watch = await this.watch(uuid, timeoutMs);
    const { current } = watch;
    if (current === null || isFinal(current.status)) {
      watch.cancel();
      return current;
    }
    return watch.finished;
  }

  /** Deletes one record; true when there was one. */
  abstract remove(uuid: string): Promise<boolean>;
}
