// The public API of nestjs-qtasks, and nothing else: the engine, and the Nest layer over it.
export * from './engine.js';

export { QTasksStarter, type RunForeverOptions } from './starters/run-forever.js';
export { QTasksModule, type QTasksModuleOptions, type QTasksModuleAsyncOptions, type QTasksModuleOptionsFactory } from './nest/qtasks.module.js';
export { Task, type NestTaskOptions } from './nest/task.decorator.js';
export { QTasksPlugin, OnTrigger, type QTasksPluginOptions } from './nest/plugin.decorators.js';
export { TaskCtx, UseTaskInterceptors, type InterceptorRef } from './nest/task-context.decorators.js';
export { QTasksClient, TaskHandle, type MethodKeys, type TaskArgs, type TaskResult, type TypedBulkItem } from './nest/qtasks-client.js';
export { QTasksRootHooks } from './nest/qtasks-root-hooks.js';
export { QTASKS_OPTIONS } from './nest/tokens.js';
