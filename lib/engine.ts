// The engine's public API, `nestjs-qtasks/engine`: the queue without the Nest layer. It loads no
// Nest, rxjs or class-validator (that one only at the first DTO), so a plain worker process or a
// tool pays for none of them. The main entry is this plus the Nest layer.
export {
  QueueTasks,
  type QueueTasksOptions,
  type QTasksBackend,
  type AddOptions,
  type AddOnceOptions,
  type AddOnceResult,
  type BulkItem,
  type WaitOptions,
} from './core/queue-tasks.js';
export { DEFAULT_CONFIG, type QTasksConfig } from './core/config.js';
export * from './core/errors.js';
export { TASK_STATUSES, type TaskRecord, type TaskStatus, type NewTask, type ClaimedTask, type TaskOutcome } from './core/task-record.js';
export { TaskRegistry, type TaskOptions, type TaskDefinition, type TaskDeclaration, type TaskCatalogEntry, type TaskHandler } from './core/task-registry.js';
export { TaskExecutor, type ExecutionResult, type ExecutionControls } from './core/executor.js';
// A custom Worker builds the abort switch of each run it hands the executor.
export { TaskAbort } from './core/task-abort.js';
export { TaskContext, type TaskClient } from './core/task-context.js';
export { TaskExecutionContext, type TaskInterceptor, type CallHandler } from './core/interceptor.js';
export type { ErrorClass } from './core/task-registry.js';
export type { QTasksLogger } from './core/logger.js';
export type { Jsonified, JsonifiedArgs } from './core/json.js';
export type { ScheduleTiming, ScheduleOptions, ScheduleDefinition, ScheduleRun, ScheduleState } from './core/schedule.js';

export {
  Broker,
  type Lease,
  type ClaimBatch,
  type ClaimRequest,
  type RecoverOutcome,
  type ReleaseOptions,
  type RequeueOutcome,
  type Retention,
} from './brokers/broker.js';
export { RedisBroker, type RedisBrokerOptions } from './brokers/redis/redis-broker.js';
export { MemoryBroker, type MemoryBrokerOptions } from './brokers/memory/memory-broker.js';
export { Storage, type TaskWatch } from './storages/storage.js';
export { MemoryStorage, type MemoryStorageOptions } from './storages/memory/memory-storage.js';
export { RedisStorage, type RedisStorageOptions } from './storages/redis/redis-storage.js';
export { GlobalConfig, type ScheduleAtTick, type WorkerStatus } from './configs/global-config.js';
export { RedisGlobalConfig, type RedisGlobalConfigOptions } from './configs/redis/redis-global-config.js';
export { MemoryGlobalConfig, type MemoryGlobalConfigOptions } from './configs/memory/memory-global-config.js';
export {
  RedisConnection,
  type RedisConnectionOptions,
  type RedisClient,
  type RedisClusterConnection,
  type WhenRedisDown,
} from './redis/connection.js';
export { Worker, type WorkerContext } from './workers/worker.js';
export { AsyncWorker, type AsyncWorkerOptions } from './workers/async-worker.js';
export { ThreadWorker, type ThreadWorkerOptions } from './workers/thread-worker.js';
export type { ThreadTaskOptions, ThreadTarget, ThreadRunner } from './core/thread-task.js';
export type { RateLimit, RateLimits } from './core/rate-limit.js';
export type { RunningLimits } from './core/running-limit.js';
export { Starter, type StartHook, type StartableApp } from './starters/starter.js';
export { QTasksTimer, type TimerOptions, type TickEvent, type CronJobRegistry } from './timers/timer.js';
export {
  QueueInspector,
  TASK_STATES,
  type TaskState,
  type QueueOverview,
  type TaskList,
  type TaskSummary,
  type InspectorOptions,
} from './webview/inspector.js';
export { WebView, type WebViewOptions, type WebViewServerOptions } from './webview/web-view.js';
export type { WebViewAuth } from './webview/basic-auth.js';

export { PluginRunner } from './plugins/plugin-runner.js';
export type { TaskPlugin, TriggerHandler, TriggerHandlers, AddPluginOptions } from './plugins/plugin.js';
export {
  TRIGGERS,
  type TriggerEvents,
  type TriggerName,
  type TriggerEvent,
  type TriggerAnswer,
  type PluginComponent,
  type ArgsReplaceEvent,
} from './plugins/triggers.js';
export { RetryPlugin } from './plugins/retry/retry.plugin.js';
export { backoffDelay, type Backoff } from './plugins/retry/backoff.js';
export { ValidationPlugin } from './plugins/validation/validation.plugin.js';
