import type { Broker } from '../brokers/broker.js';
import { PluginRunner } from '../plugins/plugin-runner.js';
import { timeLimit } from '../plugins/time-limit.interceptor.js';
import { PluginError, shownValue, TaskCancelledError, TaskTimeoutError } from './errors.js';
import { runInterceptors, TaskExecutionContext, type TaskInterceptor } from './interceptor.js';
import { toJson } from './json.js';
import type { QTasksLogger } from './logger.js';
import { TaskContext, type TaskClient } from './task-context.js';
import { collectGenerated, isGenerator } from './task-generator.js';
import { TaskAbort } from './task-abort.js';
import type { TaskRecord } from './task-record.js';
import type { TaskDefinition, TaskRegistry } from './task-registry.js';
import type { ThreadRunner, ThreadTimeLimit } from './thread-task.js';

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
 * the handler (time limit first), generator tasks collected, result encoded.
 */
export class TaskExecutor {
  private readonly interceptors: TaskInterceptor[] = [];
  /** Each task's chain, built once (not per run); emptied when interceptors are added. */
  private chains = new WeakMap<TaskDefinition, readonly TaskInterceptor[]>();
  /** The same for thread tasks run on a thread pool. */
  private threadChains = new WeakMap<TaskDefinition, readonly TaskInterceptor[]>();

  constructor(
    readonly registry: TaskRegistry,
    private readonly deps: ExecutorDependencies,
  ) {}

  /** Adds interceptors around every task, outermost first. */
  useInterceptors(...interceptors: TaskInterceptor[]): void {
    this.interceptors.push(...interceptors);
    this.chains = new WeakMap();
    this.threadChains = new WeakMap();
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
    let result: ExecutionResult;
    try {
      result = await this.encode(record, await this.run(record, definition, controls));
    } catch (error) {
      result = await this.failure(record, error, controls.abort);
    }
    if (this.deps.plugins.has('task_executor_task_close')) {
      await this.deps.plugins.trigger('task_executor_task_close', { record, status: result.status }).catch((error: unknown) => {
        this.deps.taskLogger(record.uuid, record.taskName).error(traceback(error));
      });
    }
    return result;
  }

  private async run(
    record: TaskRecord,
    definition: TaskDefinition,
    { token, abort: switched, threadRunner }: ExecutionControls,
  ): Promise<unknown> {
    const { plugins, broker } = this.deps;
    // A trigger nobody handles costs nothing here (no event, no await): this runs for every task.
    if (plugins.has('task_executor_before_execute')) await plugins.trigger('task_executor_before_execute', { record });
    let args = record.args;
    if (plugins.has('task_executor_args_replace')) {
      ({ args } = await plugins.trigger('task_executor_args_replace', {
        record,
        args,
        options: definition.options,
        paramTypes: definition.paramTypes ?? [],
      }));
    }
    const onThread = definition.thread !== undefined && threadRunner !== undefined;
    let interceptors = this.interceptorsOf(definition, onThread);
    if (plugins.has('task_executor_middlewares_execute')) {
      // A copy: the plugin may change the list it is given, and the chain is shared by every run.
      ({ interceptors } = await plugins.trigger('task_executor_middlewares_execute', { record, interceptors: [...interceptors] }));
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
        { progress: (json) => broker.progress({ uuid: record.uuid, token }, json), abort },
      ));
    const call = async (callArgs: unknown[]) => {
      if (plugins.has('task_executor_run_task')) await plugins.trigger('task_executor_run_task', { record, args: callArgs });
      const handlerArgs = definition.contextIndex === undefined ? callArgs : withContext(callArgs, definition.contextIndex, contextOf());
      const returned = onThread
        ? await threadRunner!.run(definition.thread!, handlerArgs, switched, threadTimeLimit(definition))
        : await definition.handler(...handlerArgs);
      return isGenerator(returned) ? collectGenerated(returned, record, definition, contextOf(), plugins) : returned;
    };
    const work =
      interceptors.length === 0
        ? call(args)
        : runInterceptors(interceptors, new TaskExecutionContext(contextOf(), args, definition, abort), call);
    let result = await untilAborted(work, switched);
    if (plugins.has('task_executor_after_execute')) await plugins.trigger('task_executor_after_execute', { record, result });
    if (plugins.has('task_executor_after_execute_result_replace')) {
      ({ result } = await plugins.trigger('task_executor_after_execute_result_replace', { record, result }));
    }
    return result;
  }

  /**
   * A thread task on a pool has its time limit counted by the pool, from when a thread starts it:
   * a wait for a free thread is not the task's time.
   */
  private interceptorsOf(definition: TaskDefinition, onThread: boolean): readonly TaskInterceptor[] {
    const chains = onThread ? this.threadChains : this.chains;
    let chain = chains.get(definition);
    if (!chain) {
      const limited = definition.options.maxTime && !onThread;
      chain = [...(limited ? [timeLimit] : []), ...this.interceptors, ...(definition.options.interceptors ?? [])];
      chains.set(definition, chain);
    }
    return chain;
  }

  private async encode(record: TaskRecord, result: unknown): Promise<ExecutionResult> {
    let payload = toJson(result ?? null, `The result of task "${record.taskName}"`);
    if (this.deps.plugins.has('task_executor_decode')) {
      ({ payload } = await this.deps.plugins.trigger('task_executor_decode', { record, result, payload }));
    }
    return { status: 'success', payload };
  }

  private async failure(record: TaskRecord, error: unknown, abort: TaskAbort): Promise<ExecutionResult> {
    if (abort.reason instanceof TaskCancelledError) {
      return { status: 'cancel', payload: abort.reason.reason };
    }
    if (error instanceof PluginError) {
      // Another plugin may supply a result for what a plugin broke (the original's run_task_trigger_error).
      try {
        const answer = await this.deps.plugins.trigger('task_executor_run_task_trigger_error', { record, error });
        if ('result' in answer) return await this.encode(record, answer.result);
      } catch (second) {
        return { status: 'error', payload: traceback(second), error: second };
      }
    }
    return { status: 'error', payload: traceback(error), error };
  }
}

/** The handler's arguments with the context put in its place. */
function withContext(args: unknown[], index: number, context: TaskContext): unknown[] {
  const full = [...args];
  while (full.length < index) full.push(undefined);
  full.splice(index, 0, context);
  return full;
}

/**
 * Settles with `work`, or rejects with the abort reason as soon as the task is aborted: the slot
 * is freed even when the task ignores its signal (its late outcome is dropped).
 */
function untilAborted<T>(work: Promise<T>, abort: TaskAbort): Promise<T> {
  if (abort.reason) {
    work.catch(() => undefined);
    return Promise.reject(abort.reason);
  }
  return new Promise<T>((resolve, reject) => {
    abort.onAbort(reject);
    work.then(
      (value) => {
        abort.onAbort(undefined);
        resolve(value);
      },
      (error: unknown) => {
        abort.onAbort(undefined);
        reject(error);
      },
    );
  });
}

function threadTimeLimit({ name, options: { maxTime } }: TaskDefinition): ThreadTimeLimit | undefined {
  return maxTime ? { ms: maxTime, reason: () => new TaskTimeoutError(name, maxTime) } : undefined;
}

/** Message and stack of anything a task threw, Error or not. */
export function traceback(error: unknown): string {
  if (error instanceof Error) return error.stack ?? `${error.name}: ${error.message}`;
  return `Error: task threw a non-Error value: ${shownValue(error)}`;
}
