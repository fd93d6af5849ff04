import { NonRetryableError, shownValue } from '../core/errors.js';
import { traceback } from '../core/executor.js';
import type { ThreadTarget } from '../core/thread-task.js';

/** What the pool sends a thread: one call of an export. */
export interface ThreadJob {
  target: ThreadTarget;
  args: unknown[];
}

/** An error as it crosses from a thread: what a traceback and the retry rules need of it. */
export interface ThrownInThread {
  name: string;
  message: string;
  stack: string;
  code?: string;
}

/**
 * A thread's messages: once `ready` (its entry loaded), then per job `started` as it takes the job
 * and one reply. A thread that dies before `started` was not running that job.
 */
export type ThreadMessage = 'ready' | 'started' | { value: unknown } | { error: ThrownInThread };

/** In the thread: what it threw, as plain data (an Error's class does not survive the crossing). */
export function toThrown(error: unknown): ThrownInThread {
  const code = (error as { code?: unknown } | null)?.code;
  return {
    name: error instanceof Error ? error.name : 'Error',
    message: error instanceof Error ? error.message : shownValue(error),
    stack: traceback(error),
    ...(typeof code === 'string' ? { code } : {}),
  };
}

/** In the main thread: the error again, with the thread's stack (a NonRetryableError stays one). */
export function fromThrown({ name, message, stack, code }: ThrownInThread): Error {
  const error = code === 'NON_RETRYABLE' ? new NonRetryableError(message) : Object.assign(new Error(message), code ? { code } : {});
  return Object.assign(error, { name, stack });
}
