import type { GlobalConfig } from '../configs/global-config.js';
import type { TaskRecord } from '../core/task-record.js';

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
   * Resolves with the record once it reaches a final status (pushed, not polled), or with the
   * current record (null if none) when `timeoutMs` passes first.
   */
  abstract waitFinished(uuid: string, timeoutMs?: number): Promise<TaskRecord | null>;

  /** Deletes one record; true when there was one. */
  abstract remove(uuid: string): Promise<boolean>;
}
