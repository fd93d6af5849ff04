import { InvalidOptionError, shownValue } from '../core/errors.js';
import { abortedResult, traceback, type ExecutionResult } from '../core/executor.js';
import { unlessAborted, untilAborted, type TaskAbort } from '../core/task-abort.js';
import type { ClaimedTask, TaskOutcome, TaskRecord } from '../core/task-record.js';
import type { ThreadRunner } from '../core/thread-task.js';
import { isDelay, MAX_DELAY_MS } from '../core/timing.js';
import type { TriggerEvent } from '../plugins/triggers.js';
import type { WorkerContext } from './worker.js';

/**
 * One claimed task through the worker's triggers and the executor, to the outcome to store. A
 * failed task becomes `retry` when a `worker_task_error_retry` handler (the retry plugin) says so;
 * a plugin throwing before the outcome is known ends the task `error`, one after it is logged, and
 * neither ends the worker.
 *
 * The whole run is raced against the task's abort switch (cancel, maxTime, the shutdown grace): a
 * handler that never answers cannot hold the task or its slot. Aborted before its outcome is known,
 * the task ends as an abort ends it (`cancel`, or the time limit's `error`); once it is known, the
 * triggers after it are no longer waited for and it stands. Either way a handler answering late
 * changes nothing. A task aborted before those triggers fire still has them waited for, bounded by
 * the shutdown grace: a timed-out task is retried, and a hung handler still cannot hold it.
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
  // Counted from here: time a trigger takes is the task's time too.
  executor.startTimeLimit(claimed.taskName, abort);
  // A trigger nobody handles costs nothing here (no event, no await): this runs for every task.
  try {
    let record = claimed;
    let result: ExecutionResult;
    try {
      if (plugins.has('broker_add_worker')) ({ record } = await untilAborted(plugins.fire('broker_add_worker', { record, workerId }), abort));
      if (plugins.has('storage_add_process')) await untilAborted(plugins.fire('storage_add_process', { record }), abort);
      if (plugins.has('worker_add')) await untilAborted(plugins.fire('worker_add', { record, workerId }), abort);
      if (plugins.has('worker_execute_before')) ({ record } = await untilAborted(plugins.fire('worker_execute_before', { record }), abort));
      if (plugins.has('worker_run_task_before')) await untilAborted(plugins.fire('worker_run_task_before', { record }), abort);
      result = await executor.execute(record, { token, abort, threadRunner });
    } catch (error) {
      // Aborted while a trigger kept it waiting: it ends as the executor ends an aborted task.
      if (abort.reason === undefined) throw error;
      result = abortedResult(abort);
    }
    let outcome: TaskOutcome = { uuid, token, status: result.status, payload: result.payload };
    if (result.status === 'error') outcome = await retryDecision(ctx, record, outcome, result.error, abort);
    if (plugins.has('worker_execute_after')) await afterOutcome(ctx, 'worker_execute_after', { record, outcome }, abort);
    if (plugins.has('broker_update')) ({ outcome } = await afterOutcome(ctx, 'broker_update', { record, outcome }, abort));
    return outcome;
  } catch (error) {
    return { uuid, token, status: 'error', payload: traceback(error) };
  } finally {
    abort.pauseTime();
  }
}

/**
 * A trigger fired once the outcome is known: the event as its handlers left it, or as it was when
 * one throws (or times out), which is logged. The work is done, so its outcome stands, as for a
 * failing `task_executor_task_close`: a failed notification must not turn a result into an error.
 */
async function afterOutcome<T extends 'worker_execute_after' | 'broker_update'>(
  { plugins, logger }: WorkerContext,
  trigger: T,
  event: TriggerEvent<T>,
  abort: TaskAbort,
): Promise<TriggerEvent<T>> {
  try {
    return await unlessAborted(plugins.fire(trigger, event), abort, event);
  } catch (error) {
    logger.error(`task ${event.record.uuid} keeps its outcome (${event.outcome.status}): ${traceback(error)}`);
    return event;
  }
}

/**
 * A failed task's outcome after the `worker_task_error_retry` handlers. One that throws (a custom
 * backoff, say) leaves the task `error` with its own traceback, the handler's failure added to it;
 * one still unanswered when the task is aborted leaves it `error`, not retried. On a task aborted
 * before (a timeout, which retries like any error) the handlers are waited for, but only up to the
 * shutdown grace (`unlessAborted`).
 */
async function retryDecision(
  { plugins, executor }: WorkerContext,
  record: TaskRecord,
  outcome: TaskOutcome,
  error: unknown,
  abort: TaskAbort,
): Promise<TaskOutcome> {
  const options = executor.registry.get(record.taskName)?.options ?? {};
  try {
    const event = { record, options, error, retry: undefined, delayMs: undefined };
    const decision = await unlessAborted(plugins.fire('worker_task_error_retry', event), abort, event);
    if (!decision.retry) return outcome;
    const delayMs = decision.delayMs ?? 0;
    // As a custom backoff's: a plugin's delay past 100 years would store an invalid run-at time.
    if (!isDelay(delayMs)) {
      const given = shownValue(delayMs);
      throw new InvalidOptionError(`worker_task_error_retry answered delayMs ${given}; it must be from 0 to ${MAX_DELAY_MS} milliseconds (100 years).`);
    }
    return { ...outcome, status: 'retry', retryDelayMs: delayMs };
  } catch (failure) {
    return { ...outcome, payload: `${outcome.payload}\n\nNot retried: deciding the retry failed with ${traceback(failure)}` };
  }
}
