/** Injection token of the module options. */
export const QTASKS_OPTIONS = Symbol('QTASKS_OPTIONS');
/** Metadata key `@Task()` writes on a method. */
export const TASK_METADATA = 'qtasks:task';
/** Injection token of the defaults an entry point sets for its process (see process-defaults.ts). */
export const QTASKS_PROCESS_DEFAULTS = Symbol('QTASKS_PROCESS_DEFAULTS');
