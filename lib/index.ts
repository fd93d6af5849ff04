// The public API of nestjs-qtasks, and nothing else.
export { QueueTasks, type QueueTasksOptions, type QTasksBackend, type AddOptions, type BulkItem, type WaitOptions } from './core/queue-tasks.js';
export { DEFAULT_CONFIG, type QTasksConfig } from './core/config.js';
export * from './core/errors.js';
export { TASK_STATUSES, type TaskRecord, type TaskStatus, type NewTask, type ClaimedTask, type TaskOutcome } from './core/task-record.js';
export { TaskRegistry, type TaskOptions, type TaskDefinition, type TaskCatalogEntry } from './core/task-registry.js';
export { TaskExecutor, type ExecutionResult } from './core/executor.js';
export type { QTasksLogger } from './core/logger.js';

export { Broker, type Lease, type ClaimBatch, type Retention } from './brokers/broker.js';
export { RedisBroker, type RedisBrokerOptions } from './brokers/redis/redis-broker.js';
export { MemoryBroker, type MemoryBrokerOptions } from './brokers/memory/memory-broker.js';
export { Storage } from './storages/storage.js';
export { MemoryStorage, type MemoryStorageOptions } from './storages/memory/memory-storage.js';
export { RedisStorage, type RedisStorageOptions } from './storages/redis/redis-storage.js';
export { GlobalConfig, type WorkerStatus } from './configs/global-config.js';
export { RedisGlobalConfig, type RedisGlobalConfigOptions } from './configs/redis/redis-global-config.js';
export { MemoryGlobalConfig } from './configs/memory/memory-global-config.js';
export { RedisConnection, type RedisConnectionOptions, type RedisClient } from './redis/connection.js';
export { Worker, type WorkerContext } from './workers/worker.js';
export { AsyncWorker, type AsyncWorkerOptions } from './workers/async-worker.js';
export { Starter, type StartHook, type StartableApp } from './starters/starter.js';
export { QTasksStarter, type RunForeverOptions } from './starters/run-forever.js';

export { QTasksModule, type QTasksModuleOptions, type QTasksModuleAsyncOptions } from './nest/qtasks.module.js';
export { Task } from './nest/task.decorator.js';
export { QTasksClient, TaskHandle, type MethodKeys, type TaskArgs, type TaskResult } from './nest/qtasks-client.js';
export { QTASKS_OPTIONS } from './nest/tokens.js';
