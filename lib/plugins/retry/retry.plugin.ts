import { NonRetryableError } from '../../core/errors.js';
import type { TaskPlugin } from '../plugin.js';
import type { TriggerAnswer, TriggerEvent } from '../triggers.js';
import { backoffDelay } from './backoff.js';

/**
 * The `retry`, `retryOn` and `backoff` task options, on the worker's `task_error_retry` trigger:
 * a failed task runs again under the same uuid with attempt + 1, after its backoff delay, until
 * `retry` extra runs are spent. A NonRetryableError, or an error outside `retryOn`, ends it.
 * It decides only when no handler before it answered `retry`, and keeps a `delayMs` one answered.
 */
export class RetryPlugin implements TaskPlugin {
  readonly name = 'RetryPlugin';
  readonly handlers = {
    worker_task_error_retry: (event: TriggerEvent<'worker_task_error_retry'>) => this.decide(event),
  };

  private decide({ record, options, error, retry, delayMs }: TriggerEvent<'worker_task_error_retry'>): TriggerAnswer<'worker_task_error_retry'> | void {
    if (retry !== undefined) return; // a handler before this one decided: a user's veto or retry wins
    const retries = options.retry ?? 0;
    if (retries === 0 || record.attempt > retries || error instanceof NonRetryableError) return;
    if (options.retryOn && !options.retryOn.some((type) => error instanceof type)) return;
    return { retry: true, delayMs: delayMs ?? backoffDelay(options.backoff, record.attempt, error) };
  }
}
