import { NonRetryableError, NotSerializableError, shownValue, ThreadModuleError } from '../core/errors.js';
import { traceback } from '../core/executor.js';
import type { ThreadTarget } from '../core/thread-task.js';

/** What the pool sends a thread: one call of a task's export. */
export interface ThreadJob {
  /** The task's name, which a result that cannot be stored is named by. */
  taskName: string;
  target: ThreadTarget;
  args: unknown[];
}

/** An error as it crosses from a thread: what a traceback and the retry rules need of it. */
export interface ThrownInThread {
  name: string;
  message: string;
  stack: string;
  code?: string;
  /** Set for a NotSerializableError, from its parts: the result the export returned cannot be stored. */
  unstorable?: { what: string; path: string; reason: string };
  /** Set for a ThreadModuleError, from its parts: the export cannot be loaded, so the task is not retried. */
  unloadable?: { moduleUrl: string; exportName: string; problem: string };
}

/**
 * A thread's messages: once `ready` (its entry loaded), then per job `started` as it takes the job
 * and one reply: the result as the JSON its record keeps, or what the call threw. A thread that
 * dies before `started` was not running that job.
 */
export type ThreadMessage = 'ready' | 'started' | { json: string } | { error: ThrownInThread };

/** In the thread: what it threw, as plain data (an Error's class does not survive the crossing). */
export function toThrown(error: unknown): ThrownInThread {
  const code = (error as { code?: unknown } | null)?.code;
  return {
    name: error instanceof Error ? error.name : 'Error',
    message: error instanceof Error ? error.message : shownValue(error),
    stack: traceback(error),
    ...(typeof code === 'string' ? { code } : {}),
    ...(error instanceof NotSerializableError ? { unstorable: { what: error.what, path: error.path, reason: error.reason } } : {}),
    ...(error instanceof ThreadModuleError ? { unloadable: { moduleUrl: error.moduleUrl, exportName: error.exportName, problem: error.problem } } : {}),
  };
}

/**
 * In the main thread: the error again, with the thread's stack. A NonRetryableError stays one, and
 * so do a NotSerializableError and a ThreadModuleError, so the retry rules and callers tell them
 * apart as for a task run inline.
 */
export function fromThrown({ name, message, stack, code, unstorable, unloadable }: ThrownInThread): Error {
  let error: Error;
  if (code === 'NON_RETRYABLE') error = new NonRetryableError(message);
  else if (unloadable) error = new ThreadModuleError(unloadable.moduleUrl, unloadable.exportName, unloadable.problem);
  else if (unstorable) error = new NotSerializableError(unstorable.what, unstorable.path, unstorable.reason);
  else error = Object.assign(new Error(message), code ? { code } : {});
  return Object.assign(error, { name, stack });
}
