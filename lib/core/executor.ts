import type { Broker } from '../brokers/broker.js';
import { PluginRunner } from '../plugins/plugin-runner.js';
import { PluginError, shownValue, TaskCancelledError, TaskTimeoutError } from './errors.js';
import { runInterceptors, TaskExecutionContext, type TaskInterceptor } from './interceptor.js';
import { resultToJson } from './json.js';
import type { QTasksLogger } from './logger.js';
import { TaskContext, type TaskClient } from './task-context.js';
import { collectGenerated, isGenerator } from './task-generator.js';
import { TaskAbort, unlessAborted, untilAborted } from './task-abort.js';
import type { TaskRecord } from './task-record.js';
import type { TaskDefinition, TaskRegistry } from './task-registry.js';
import type { ThreadRunner } from './thread-task.js';

export interface ExecutionResult {
  status: 'success' | 'error' | 'cancel';
  /** Result JSON on success, traceback text on error, reason on cancel. */
  payload: string;
  /** What the task (or a plugin) threw, for the retry decision. */
  error?: unknown;
}

/** What the worker hands the executor with each task it holds. */
export interface ExecutionControls {
  /** Lease token, which progress reports must show. */
  token: string;
  /** Flipped on cancel or time limit: the task then ends at once, whether it listens or not. */
  abort: TaskAbort;
  /** Where thread tasks' exports run (ThreadWorker's pool); without it they run on the event loop. */
  threadRunner?: ThreadRunner;
  /** Where the task's progress goes; by default the broker, under the lease (runInline, which has none, keeps it itself). */
  progress?: (json: string) => Promise<boolean>;
}

export interface ExecutorDependencies {
  broker: Broker;
  plugins: PluginRunner;
  client: TaskClient;
  /** The logger a task's context gets, tagged with its uuid. */
  taskLogger: (uuid: string, taskName: string) => QTasksLogger;
}

/**
 * Runs one claimed task: executor triggers, arguments (validated, replaced), interceptors around
 * the handler, generator tasks collected, result encoded. Every wait, a plugin's included, is
 * raced against the task's abort switch, which its time limit flips too.
 */
export class TaskExecutor {
  private readonly interceptors: TaskInterceptor[] = [];
  /** Each task's chain, built once (not per run); emptied when interceptors are added. */
  private chains = new WeakMap<TaskDefinition, readonly TaskInterceptor[]>();

  constructor(
    readonly registry: TaskRegistry,
    private readonly deps: ExecutorDependencies,
  ) {}

  /** Adds interceptors around every task, outermost first. */
  useInterceptors(...interceptors: TaskInterceptor[]): void {
    this.interceptors.push(...interceptors);
    this.chains = new WeakMap();
  }

  /**
   * Starts the task's `maxTime` on its abort switch, so it counts the whole run: whoever runs the
   * task (the worker, runInline) calls this before its first trigger, and pauses it when the run is
   * over (a hung handler then uses up the task's time like its code does).
   */
  startTimeLimit(taskName: string, abort: TaskAbort): void {
    const definition = this.registry.get(taskName);
    const maxTime = definition?.options.maxTime;
    if (maxTime !== undefined) abort.limitTime(maxTime, () => new TaskTimeoutError(definition!.name, maxTime));
  }

  async execute(record: TaskRecord, controls: ExecutionControls): Promise<ExecutionResult> {
    const definition = this.registry.get(record.taskName);
    if (!definition) {
      return {
        status: 'error',
        payload:
          `NoHandlerError: no handler for task "${record.taskName}" in this worker ` +
          `(it knows: ${this.registry.names().join(', ') || 'none'}); was it enqueued by another app version?`,
      };
    }
    const { abort } = controls;
    let result: ExecutionResult;
    try {
      result = await this.encode(record, await this.run(record, definition, controls), abort);
    } catch (error) {
      result = await this.failure(record, error, abort);
    }
    const { plugins } = this.deps;
    if (plugins.has('task_executor_task_close')) {
      try {
        const event = { record, status: result.status };
        await unlessAborted(plugins.fire('task_executor_task_close', event), abort, event);
      } catch (error) {
        this.deps.taskLogger(record.uuid, record.taskName).error(traceback(error));
      }
    }
    return result;
  }

  private async run(
    record: TaskRecord,
    definition: TaskDefinition,
    { token, abort: switched, threadRunner, progress }: ExecutionControls,
  ): Promise<unknown> {
    const { plugins, broker } = this.deps;
    // A trigger nobody handles costs nothing here (no event, no await): this runs for every task.
    // One that does is raced against the abort: a handler that never answers cannot hold the task.
    if (plugins.has('task_executor_before_execute')) await untilAborted(plugins.fire('task_executor_before_execute', { record }), switched);
    let args = record.args;
    if (plugins.has('task_executor_args_replace')) {
      const event = { record, args, options: definition.options, paramTypes: definition.paramTypes ?? [] };
      ({ args } = await untilAborted(plugins.fire('task_executor_args_replace', event), switched));
    }
    const onThread = definition.thread !== undefined && threadRunner !== undefined;
    let interceptors = this.interceptorsOf(definition);
    if (plugins.has('task_executor_middlewares_execute')) {
      // A copy: the plugin may change the list it is given, and the chain is shared by every run.
      const event = { record, interceptors: [...interceptors] };
      ({ interceptors } = await untilAborted(plugins.fire('task_executor_middlewares_execute', event), switched));
    }
    const abort = (reason: Error) => switched.abort(reason);
    // Built on first use: a plain task with no interceptor never needs its context.
    let context: TaskContext | undefined;
    const contextOf = () =>
      (context ??= new TaskContext(
        record.uuid,
        record.taskName,
        record.attempt,
        this.deps.taskLogger(record.uuid, record.taskName),
        switched.signal,
        this.deps.client,
        { progress: progress ?? ((json) => broker.progress({ uuid: record.uuid, token }, json)), abort },
      ));
    // Inside `work`, which is raced as a whole: its own trigger needs no race of its own.
    const call = async (callArgs: unknown[]) => {
      if (plugins.has('task_executor_run_task')) await plugins.trigger('task_executor_run_task', { record, args: callArgs });
      const handlerArgs = definition.contextIndex === undefined ? callArgs : withContext(callArgs, definition.contextIndex, contextOf());
      if (onThread) {
        const json = await onThreadPool(threadRunner!, definition, handlerArgs, switched);
        // Stored as the thread encoded it, unless something here is given the value (an interceptor,
        // a result trigger): that gets it parsed back, and it is encoded again once they are done.
        const resultSeen =
          interceptors.length > 0 || plugins.has('task_executor_after_execute') || plugins.has('task_executor_after_execute_result_replace');
        return resultSeen ? JSON.parse(json) : new EncodedResult(json);
      }
      const returned = await definition.handler(...handlerArgs);
      return isGenerator(returned) ? collectGenerated(returned, record, definition, contextOf(), plugins) : returned;
    };
    const work =
      interceptors.length === 0
        ? call(args)
        : runInterceptors(interceptors, new TaskExecutionContext(contextOf(), args, definition, abort), call);
    let result = await untilAborted(work, switched);
    if (plugins.has('task_executor_after_execute')) await untilAborted(plugins.fire('task_executor_after_execute', { record, result }), switched);
    if (plugins.has('task_executor_after_execute_result_replace')) {
      ({ result } = await untilAborted(plugins.fire('task_executor_after_execute_result_replace', { record, result }), switched));
    }
    return result;
  }

  private interceptorsOf(definition: TaskDefinition): readonly TaskInterceptor[] {
    let chain = this.chains.get(definition);
    if (!chain) {
      chain = [...this.interceptors, ...(definition.options.interceptors ?? [])];
      this.chains.set(definition, chain);
    }
    return chain;
  }

  private async encode(record: TaskRecord, result: unknown, abort: TaskAbort): Promise<ExecutionResult> {
    const encoded = result instanceof EncodedResult;
    let payload = encoded ? result.json : resultToJson(record.taskName, result);
    if (this.deps.plugins.has('task_executor_decode')) {
      const event = { record, result: encoded ? JSON.parse(payload) : result, payload };
      ({ payload } = await untilAborted(this.deps.plugins.fire('task_executor_decode', event), abort));
    }
    return { status: 'success', payload };
  }

  private async failure(record: TaskRecord, error: unknown, abort: TaskAbort): Promise<ExecutionResult> {
    let failed = error;
    if (error instanceof PluginError && !(abort.reason instanceof TaskCancelledError)) {
      // Another plugin may supply a result for what a plugin broke (the original's run_task_trigger_error).
      try {
        const answer = await untilAborted(this.deps.plugins.fire('task_executor_run_task_trigger_error', { record, error }), abort);
        if ('result' in answer) return await this.encode(record, answer.result, abort);
      } catch (second) {
        failed = second;
      }
    }
    return abortedResult(abort, failed);
  }
}

/**
 * How a task ends that failed with `error` (by default the abort's reason, for a task aborted while
 * a trigger kept it waiting): a cancelled one `cancel` with the reason, whatever it was doing; any
 * other `error` with its traceback (a time limit or a stop ends it as the error it is).
 */
export function abortedResult(abort: TaskAbort, error: unknown = abort.reason): ExecutionResult {
  if (abort.reason instanceof TaskCancelledError) return { status: 'cancel', payload: abort.reason.reason };
  return { status: 'error', payload: traceback(error), error };
}

/** A result already encoded (by the thread that ran the export), stored without encoding it again. */
class EncodedResult {
  constructor(readonly json: string) {}
}

/**
 * Runs a thread task's export on the pool; resolves with its result's JSON. The time limit stops
 * while the call waits for a free thread (the pool resumes it when a thread takes the call), and
 * runs on, as one clock, after the call.
 */
async function onThreadPool(threadRunner: ThreadRunner, definition: TaskDefinition, args: unknown[], abort: TaskAbort): Promise<string> {
  abort.pauseTime();
  try {
    return await threadRunner.run(definition.name, definition.thread!, args, abort);
  } finally {
    abort.resumeTime();
  }
}

/** The handler's arguments with the context put in its place. */
function withContext(args: unknown[], index: number, context: TaskContext): unknown[] {
  const full = [...args];
  while (full.length < index) full.push(undefined);
  full.splice(index, 0, context);
  return full;
}


/** Message and stack of anything a task threw, Error or not. */
export function traceback(error: unknown): string {
  if (error instanceof Error) return error.stack ?? `${error.name}: ${error.message}`;
  return `Error: task threw a non-Error value: ${shownValue(error)}`;
}
