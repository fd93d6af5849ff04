/** Injection token of the module options. */
export const QTASKS_OPTIONS = Symbol('QTASKS_OPTIONS');
/** Metadata key `@Task()` writes on a method. */
export const TASK_METADATA = 'qtasks:task';
