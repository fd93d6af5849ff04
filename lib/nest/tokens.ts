/** Injection token of the module options. */
export const QTASKS_OPTIONS = Symbol('QTASKS_OPTIONS');
/** Metadata key `@Task()` writes on a method. */
export const TASK_METADATA = 'qtasks:task';
/** Metadata key `@QTasksPlugin()` writes on a class. */
export const PLUGIN_METADATA = 'qtasks:plugin';
/** Metadata key `@OnTrigger()` writes on a method: the trigger names. */
export const TRIGGER_METADATA = 'qtasks:triggers';
/** Metadata key `@UseTaskInterceptors()` writes on a method. */
export const TASK_INTERCEPTORS_METADATA = 'qtasks:interceptors';
/** Metadata key `@TaskCtx()` writes on a method: the index of the context parameter. */
export const TASK_CONTEXT_METADATA = 'qtasks:context-param';
/** Injection token of the defaults an entry point sets for its process (see process-defaults.ts). */
export const QTASKS_PROCESS_DEFAULTS = Symbol('QTASKS_PROCESS_DEFAULTS');
