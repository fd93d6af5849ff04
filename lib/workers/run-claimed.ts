import { traceback } from '../core/executor.js';
import type { TaskAbort } from '../core/task-abort.js';
import type { ClaimedTask, TaskOutcome, TaskRecord } from '../core/task-record.js';
import type { ThreadRunner } from '../core/thread-task.js';
import type { WorkerContext } from './worker.js';

/**
 * One claimed task through the worker's triggers and the executor, to the outcome to store. A
 * failed task becomes `retry` when a `worker_task_error_retry` handler (the retry plugin) says so;
 * a throwing plugin ends the task `error`, never the worker.
 */
export async function runClaimed(
  ctx: WorkerContext,
  workerId: string,
  { record: claimed, token }: ClaimedTask,
  abort: TaskAbort,
  threadRunner?: ThreadRunner,
): Promise<TaskOutcome> {
  const { plugins, executor } = ctx;
  const uuid = claimed.uuid;
  // A trigger nobody handles costs nothing here (no event, no await): this runs for every task.
  try {
    let record = claimed;
    if (plugins.has('broker_add_worker')) ({ record } = await plugins.trigger('broker_add_worker', { record, workerId }));
    if (plugins.has('storage_add_process')) await plugins.trigger('storage_add_process', { record });
    if (plugins.has('worker_add')) await plugins.trigger('worker_add', { record, workerId });
    if (plugins.has('worker_execute_before')) ({ record } = await plugins.trigger('worker_execute_before', { record }));
    if (plugins.has('worker_run_task_before')) await plugins.trigger('worker_run_task_before', { record });
    const { status, payload, error } = await executor.execute(record, { token, abort, threadRunner });
    let outcome: TaskOutcome = { uuid, token, status, payload };
    if (status === 'error') outcome = await retryDecision(ctx, record, outcome, error);
    if (plugins.has('worker_execute_after')) await plugins.trigger('worker_execute_after', { record, outcome });
    if (plugins.has('broker_update')) ({ outcome } = await plugins.trigger('broker_update', { record, outcome }));
    return outcome;
  } catch (error) {
    return { uuid, token, status: 'error', payload: traceback(error) };
  }
}

/**
 * A failed task's outcome after the `worker_task_error_retry` handlers. One that throws (a custom
 * backoff, say) leaves the task `error` with its own traceback, the handler's failure added to it.
 */
async function retryDecision({ plugins, executor }: WorkerContext, record: TaskRecord, outcome: TaskOutcome, error: unknown): Promise<TaskOutcome> {
  const options = executor.registry.get(record.taskName)?.options ?? {};
  try {
    const decision = await plugins.trigger('worker_task_error_retry', { record, options, error, retry: undefined, delayMs: undefined });
    return decision.retry ? { ...outcome, status: 'retry', retryDelayMs: decision.delayMs ?? 0 } : outcome;
  } catch (failure) {
    return { ...outcome, payload: `${outcome.payload}\n\nNot retried: deciding the retry failed with ${traceback(failure)}` };
  }
}
