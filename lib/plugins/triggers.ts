import type { WorkerStatus } from '../configs/global-config.js';
import type { TaskInterceptor } from '../core/interceptor.js';
import type { NewTask, TaskOutcome, TaskRecord } from '../core/task-record.js';
import type { TaskOptions } from '../core/task-registry.js';

export type PluginComponent = 'app' | 'broker' | 'worker' | 'executor' | 'storage' | 'global_config' | 'starter';

/**
 * Every trigger: the event its handlers receive. Names follow the original QueueTasks, prefixed by
 * the component that fires them (`task_executor_args_replace` is the executor's `args_replace`).
 */
export interface TriggerEvents {
  // app (QueueTasks)
  app_add_task_before_broker: { name: string; args: unknown[]; priority: number | undefined; delay: number | undefined };
  app_add_task_after_broker: { record: TaskRecord };
  app_get: { uuid: string; record: TaskRecord | null };
  app_stop: { appName: string };
  // broker (fired where the broker is called, so every backend has them)
  broker_start: { appName: string };
  broker_stop: { appName: string };
  broker_add_before: { task: NewTask };
  broker_add_after: { tasks: NewTask[]; uuids: string[] };
  broker_listen_start: { workerId: string };
  broker_add_worker: { record: TaskRecord; workerId: string };
  broker_update: { record: TaskRecord; outcome: TaskOutcome };
  broker_running_older_tasks: { requeued: number; failed: number };
  // worker
  worker_start: { workerId: string };
  worker_stop: { workerId: string };
  worker_add: { record: TaskRecord; workerId: string };
  worker_execute_before: { record: TaskRecord };
  worker_run_task_before: { record: TaskRecord };
  worker_task_error_retry: {
    record: TaskRecord;
    options: TaskOptions;
    error: unknown;
    /**
     * Whether the task runs again (only when true). Undefined until a handler answers: the retry
     * plugin decides only then, so a handler before it (registered for this trigger) has the last word.
     */
    retry: boolean | undefined;
    /** Milliseconds before the retry; undefined until a handler answers (then the task's backoff, or 0). */
    delayMs: number | undefined;
  };
  worker_execute_after: { record: TaskRecord; outcome: TaskOutcome };
  // executor
  task_executor_before_execute: { record: TaskRecord };
  task_executor_args_replace: { record: TaskRecord; args: unknown[]; options: TaskOptions; paramTypes: readonly unknown[] };
  task_executor_middlewares_execute: { record: TaskRecord; interceptors: TaskInterceptor[] };
  task_executor_run_task: { record: TaskRecord; args: unknown[] };
  task_executor_run_task_gen: { record: TaskRecord; value: unknown; index: number };
  task_executor_run_task_trigger_error: { record: TaskRecord; error: unknown; result?: unknown };
  task_executor_after_execute: { record: TaskRecord; result: unknown };
  task_executor_after_execute_result_replace: { record: TaskRecord; result: unknown };
  task_executor_decode: { record: TaskRecord; result: unknown; payload: string };
  task_executor_task_close: { record: TaskRecord; status: TaskOutcome['status'] };
  // storage
  storage_start: { appName: string };
  storage_stop: { appName: string };
  storage_add: { record: TaskRecord };
  storage_get: { uuid: string; record: TaskRecord | null };
  storage_add_process: { record: TaskRecord };
  storage_update: { uuid: string; status: TaskOutcome['status'] };
  storage_running_older_tasks: { requeued: number; failed: number };
  // global config
  global_config_start: { appName: string };
  global_config_stop: { appName: string };
  global_config_set: { key: string; value: unknown };
  global_config_get: { key: string; value: unknown };
  global_config_get_all: { values: Record<string, unknown> };
  global_config_set_status: { status: WorkerStatus; ttlMs: number };
  // starter
  starter_start: { appName: string };
  starter_stop: { appName: string };
}

export type TriggerName = keyof TriggerEvents;

interface TriggerSpec<T extends TriggerName> {
  component: PluginComponent;
  /** Event fields an answer may replace; the rest are read-only. */
  replaces: readonly (keyof TriggerEvents[T])[];
}

const none = [] as const;

/** The catalogue: each trigger's component and what an answer may replace. */
export const TRIGGERS = {
  app_add_task_before_broker: { component: 'app', replaces: ['name', 'args', 'priority', 'delay'] },
  app_add_task_after_broker: { component: 'app', replaces: none },
  app_get: { component: 'app', replaces: ['record'] },
  app_stop: { component: 'app', replaces: none },
  broker_start: { component: 'broker', replaces: none },
  broker_stop: { component: 'broker', replaces: none },
  broker_add_before: { component: 'broker', replaces: ['task'] },
  broker_add_after: { component: 'broker', replaces: none },
  broker_listen_start: { component: 'broker', replaces: none },
  broker_add_worker: { component: 'broker', replaces: ['record'] },
  broker_update: { component: 'broker', replaces: ['outcome'] },
  broker_running_older_tasks: { component: 'broker', replaces: none },
  worker_start: { component: 'worker', replaces: none },
  worker_stop: { component: 'worker', replaces: none },
  worker_add: { component: 'worker', replaces: none },
  worker_execute_before: { component: 'worker', replaces: ['record'] },
  worker_run_task_before: { component: 'worker', replaces: none },
  worker_task_error_retry: { component: 'worker', replaces: ['retry', 'delayMs'] },
  worker_execute_after: { component: 'worker', replaces: none },
  task_executor_before_execute: { component: 'executor', replaces: none },
  task_executor_args_replace: { component: 'executor', replaces: ['args'] },
  task_executor_middlewares_execute: { component: 'executor', replaces: ['interceptors'] },
  task_executor_run_task: { component: 'executor', replaces: none },
  task_executor_run_task_gen: { component: 'executor', replaces: ['value'] },
  task_executor_run_task_trigger_error: { component: 'executor', replaces: ['result'] },
  task_executor_after_execute: { component: 'executor', replaces: none },
  task_executor_after_execute_result_replace: { component: 'executor', replaces: ['result'] },
  task_executor_decode: { component: 'executor', replaces: ['payload'] },
  task_executor_task_close: { component: 'executor', replaces: none },
  storage_start: { component: 'storage', replaces: none },
  storage_stop: { component: 'storage', replaces: none },
  storage_add: { component: 'storage', replaces: none },
  storage_get: { component: 'storage', replaces: ['record'] },
  storage_add_process: { component: 'storage', replaces: none },
  storage_update: { component: 'storage', replaces: none },
  storage_running_older_tasks: { component: 'storage', replaces: none },
  global_config_start: { component: 'global_config', replaces: none },
  global_config_stop: { component: 'global_config', replaces: none },
  global_config_set: { component: 'global_config', replaces: ['value'] },
  global_config_get: { component: 'global_config', replaces: ['value'] },
  global_config_get_all: { component: 'global_config', replaces: ['values'] },
  global_config_set_status: { component: 'global_config', replaces: ['status'] },
  starter_start: { component: 'starter', replaces: none },
  starter_stop: { component: 'starter', replaces: none },
} as const satisfies { readonly [T in TriggerName]: TriggerSpec<T> };

export type TriggerEvent<T extends TriggerName> = TriggerEvents[T];

/** The event fields a handler of trigger T may replace. */
type ReplaceableField<T extends TriggerName> = Extract<(typeof TRIGGERS)[T]['replaces'][number], keyof TriggerEvents[T]>;

/**
 * What a handler may return: nothing (no change) or some of the replaceable fields. The event's
 * other fields are typed `never`, and an object sharing no field with the event is refused, so a
 * wrong answer fails to compile rather than with a PluginAnswerError when the trigger fires (an
 * informing trigger's answer would otherwise be `{}`, which accepts any object).
 */
export type TriggerAnswer<T extends TriggerName> = {
  [K in keyof TriggerEvents[T]]?: K extends ReplaceableField<T> ? TriggerEvents[T][K] : never;
};

export function isTriggerName(name: string): name is TriggerName {
  return Object.hasOwn(TRIGGERS, name);
}

/** The event of `task_executor_args_replace`, where validation and argument injection hook. */
export type ArgsReplaceEvent = TriggerEvent<'task_executor_args_replace'>;
