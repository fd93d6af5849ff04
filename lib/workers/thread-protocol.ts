import { NonRetryableError, NotSerializableError, shownValue, ThreadModuleError } from '../core/errors.js';
import { traceback } from '../core/executor.js';
import type { ThreadTarget } from '../core/thread-task.js';

/** What a thread is given as it starts (its `workerData`). */
export interface ThreadData {
  /** The exports it loads before it says `ready`: those of the worker's thread tasks. */
  preload: ThreadTarget[];
}

/** What the pool sends a thread: one call of a task's export. */
export interface ThreadJob {
  /** The task's name, which a result that cannot be stored is named by. */
  taskName: string;
  target: ThreadTarget;
  args: unknown[];
  /** Shared by the pool and the thread: whether the thread began the call, or the pool took it back first (see beginCall). */
  startFlag: Int32Array;
}

/** A call's start flag: the thread sets BEGUN as it begins it, or the pool WITHDRAWN before, whichever comes first. */
const POSTED = 0;
const BEGUN = 1;
const WITHDRAWN = 2;

/**
 * A new call's start flag. Shared memory rather than messages: a message saying the thread began would
 * cross one saying the pool took the call back, and both would then think the call theirs.
 */
export function newStartFlag(): Int32Array {
  return new Int32Array(new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT));
}

/** In the thread: takes the call, false when the pool took it back first (it must not run). */
export function beginCall(startFlag: Int32Array): boolean {
  return Atomics.compareExchange(startFlag, 0, POSTED, BEGUN) === POSTED;
}

/** In the pool: takes back a call its thread has not begun, false when the thread began it first. */
export function withdrawCall(startFlag: Int32Array): boolean {
  return Atomics.compareExchange(startFlag, 0, POSTED, WITHDRAWN) === POSTED;
}

/** Whether the thread began the call: its crash is then the call's. */
export function callBegun(startFlag: Int32Array): boolean {
  return Atomics.load(startFlag, 0) === BEGUN;
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
 * A thread's messages: once `ready` (its entry loaded, and the exports it preloads), then one reply
 * per job: the result as the JSON its record keeps, what the call threw, or `withdrawn` for a call
 * the pool took back before the thread began it. Whether it began a call is in the call's start flag (see beginCall).
 */
export type ThreadMessage = 'ready' | 'withdrawn' | { json: string } | { error: ThrownInThread };

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
