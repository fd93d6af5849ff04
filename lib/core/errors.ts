import type { TaskRecord } from './task-record.js';

/**
 * Every `code` a QTasksError carries, one per row of the README's errors table, so that a
 * `switch (error.code)` is checked: a misspelt case does not compile.
 */
export type QTasksErrorCode =
  | 'UNKNOWN_TASK'
  | 'DUPLICATE_TASK'
  | 'NOT_SERIALIZABLE'
  | 'PAYLOAD_TOO_LARGE'
  | 'INVALID_OPTION'
  | 'WAIT_TIMEOUT'
  | 'TASK_NOT_FOUND'
  | 'INVALID_TASK_STATE'
  | 'ADD_TOO_LATE'
  | 'TASK_FAILED'
  | 'MALFORMED_RECORD'
  | 'MALFORMED_KEY'
  | 'REDIS_UNAVAILABLE'
  | 'APP_STOPPED'
  | 'STOPPED'
  | 'INVALID_SCHEDULE'
  | 'DUPLICATE_SCHEDULE'
  | 'PLUGIN_FAILED'
  | 'PLUGIN_TIMEOUT'
  | 'PLUGIN_BAD_ANSWER'
  | 'INVALID_ARGUMENTS'
  | 'NON_RETRYABLE'
  | 'TASK_TIMEOUT'
  | 'TASK_CANCELLED'
  | 'WORKER_STOPPED'
  | 'THREAD_MODULE'
  | 'THREAD_CRASHED'
  | 'THREAD_START'
  | 'WEBVIEW_START'
  | 'NOT_ATTACHED'
  // Thrown by the testing entry's helpers.
  | 'DRAIN_TIMEOUT'
  | 'REDIS_SERVER';

/**
 * Base class of every error this library throws; `code` is stable for programs to match on. Each
 * subclass narrows `code` to its own (`declare`: the constructor sets it), so a caught error of a
 * known class has one literal code.
 */
export class QTasksError extends Error {
  constructor(
    readonly code: QTasksErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

export class UnknownTaskError extends QTasksError {
  declare readonly code: 'UNKNOWN_TASK';

  constructor(readonly taskName: string, known: readonly string[]) {
    super(
      'UNKNOWN_TASK',
      `Unknown task "${taskName}". Registered tasks: ${known.length ? known.map((n) => `"${n}"`).join(', ') : '(none)'}.`,
    );
  }
}

export class DuplicateTaskError extends QTasksError {
  declare readonly code: 'DUPLICATE_TASK';

  constructor(readonly taskName: string, first: string, second: string) {
    // Two registrations can look alike (app.task('ok', fn) twice): "by X and by X" would read as one.
    const where = first === second ? `registered twice, both times by ${first}` : `used twice: by ${first} and by ${second}`;
    super('DUPLICATE_TASK', `Task name "${taskName}" is ${where}.`);
  }
}

export class NotSerializableError extends QTasksError {
  declare readonly code: 'NOT_SERIALIZABLE';

  constructor(readonly what: string, readonly path: string, readonly reason: string) {
    // A path hundreds of levels deep is shown by its ends; `path` keeps all of it.
    const shown = path.length > 120 ? `${path.slice(0, 80)}…${path.slice(-30)}` : path;
    super('NOT_SERIALIZABLE', `${what} cannot be stored as JSON: ${shown} ${reason}.`);
  }
}

export class PayloadTooLargeError extends QTasksError {
  declare readonly code: 'PAYLOAD_TOO_LARGE';

  constructor(readonly taskName: string, readonly bytes: number, readonly limit: number) {
    super('PAYLOAD_TOO_LARGE', `Arguments of task "${taskName}" take ${bytes} bytes, over the limit of ${limit}.`);
  }
}

export class InvalidOptionError extends QTasksError {
  declare readonly code: 'INVALID_OPTION';

  constructor(message: string) {
    super('INVALID_OPTION', message);
  }
}

export class WaitTimeoutError extends QTasksError {
  declare readonly code: 'WAIT_TIMEOUT';

  constructor(readonly uuid: string, readonly timeoutMs: number, readonly record: TaskRecord | null) {
    super(
      'WAIT_TIMEOUT',
      `Task ${uuid} did not finish within ${timeoutMs} ms (status: ${record?.status ?? 'not found'}).`,
    );
  }
}

export class TaskNotFoundError extends QTasksError {
  declare readonly code: 'TASK_NOT_FOUND';

  constructor(readonly uuid: string) {
    super('TASK_NOT_FOUND', `No task with uuid ${uuid}.`);
  }
}

/** A task is not in a status the call can act on (requeue takes only tasks that ended `error` or `cancel`). */
export class TaskStateError extends QTasksError {
  declare readonly code: 'INVALID_TASK_STATE';

  constructor(readonly uuid: string, readonly status: string, wanted: string) {
    super('INVALID_TASK_STATE', `Task ${uuid} is ${status}; ${wanted}.`);
  }
}

/** Thrown by typed handles' `run` when the task ended in `error` or `cancel`. */
export class TaskFailedError extends QTasksError {
  declare readonly code: 'TASK_FAILED';

  constructor(readonly record: TaskRecord) {
    super(
      'TASK_FAILED',
      `Task "${record.taskName}" (${record.uuid}) ended with status ${record.status}: ` +
        `${record.status === 'cancel' ? record.cancelReason ?? 'cancelled' : firstLine(record.traceback)}`,
    );
  }
}

export class MalformedRecordError extends QTasksError {
  declare readonly code: 'MALFORMED_RECORD';

  constructor(readonly uuid: string, reason: string) {
    super('MALFORMED_RECORD', `Task record ${uuid} in storage is malformed: ${reason}.`);
  }
}

/**
 * One of an app's own keys holds another Redis type than the engine keeps there, or a counter in it
 * (the whole key, or its hash field `field`) holds no integer (`expected` is then 'integer'):
 * another tool or version wrote it.
 */
export class MalformedKeyError extends QTasksError {
  declare readonly code: 'MALFORMED_KEY';

  constructor(
    readonly key: string,
    readonly type: string,
    readonly expected: string,
    readonly field?: string,
  ) {
    const where = field === undefined ? `Key ${key}` : `Field ${JSON.stringify(field)} of key ${key}`;
    super('MALFORMED_KEY', `${where} holds a Redis ${type} where this version keeps ${withArticle(expected)} (written by another tool or version?).`);
  }
}

function withArticle(noun: string): string {
  return `${/^[aeiou]/.test(noun) ? 'an' : 'a'} ${noun}`;
}

export class RedisUnavailableError extends QTasksError {
  declare readonly code: 'REDIS_UNAVAILABLE';

  constructor(
    readonly target: string,
    cause: unknown,
    detail?: string,
  ) {
    super('REDIS_UNAVAILABLE', `Redis at ${target} is not reachable: ${errorMessage(cause)}${detail ? `; ${detail}` : ''}`, { cause });
  }
}

/**
 * A call on an app whose connections its stop() (or a failed start()) closed: refused before
 * anything was sent, so nothing was stored or changed. Starting the app again makes calls work.
 * Also how a start() ends when stop() is called while it is under way.
 */
export class AppStoppedError extends QTasksError {
  declare readonly code: 'APP_STOPPED';

  constructor(
    readonly appName: string,
    how = '(stop() or a failed start() closed its connections): nothing was sent, so nothing was stored or changed; start() it again first',
  ) {
    super('APP_STOPPED', `App "${appName}" is stopped ${how}.`);
  }
}

/**
 * An `addOnce` given a `deadline` reached the backend after it, by the backend's own clock (an add
 * held while Redis was down, or sent again after a reconnect): nothing was enqueued.
 */
export class AddTooLateError extends QTasksError {
  declare readonly code: 'ADD_TOO_LATE';

  constructor(
    readonly taskName: string,
    readonly deadline: number,
  ) {
    super('ADD_TOO_LATE', `The add of task "${taskName}" arrived after its deadline (${new Date(deadline).toISOString()}, by the backend's clock): nothing was enqueued.`);
  }
}

/**
 * Redis became unreachable while an add was on its way: Redis may have stored its tasks, or not.
 * `uuids` names them all; `get(uuid)` tells once Redis is back, before adding them again.
 */
export class AddOutcomeUnknownError extends RedisUnavailableError {
  constructor(
    unavailable: RedisUnavailableError,
    readonly uuids: string[],
  ) {
    const tasks = uuids.length === 1 ? `task ${uuids[0]}` : `its ${uuids.length} tasks (${uuids[0]} and ${uuids.length - 1} more, all in .uuids)`;
    super(
      unavailable.target,
      unavailable.cause,
      `the add was on its way when the connection was lost, so Redis may have stored ${tasks}: get(uuid) tells once Redis is back`,
    );
  }
}

/** A thrown value as text, whatever it is: JSON, else its String(), else its type tag. */
export function shownValue(value: unknown): string {
  // JSON writes NaN and the infinities as null, which would hide the very value at fault.
  if (typeof value === 'number') return String(value);
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    // A cycle, a BigInt, or a throwing toJSON: String() may still work.
  }
  try {
    return String(value);
  } catch {
    // An object with no prototype has no toString.
    return Object.prototype.toString.call(value);
  }
}

/** The message of anything thrown, Error or not. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function firstLine(text: string | undefined): string {
  return (text ?? 'no error text').split('\n')[0] ?? '';
}

/** A plugin handler threw: names the plugin and the trigger; the original error is the cause. */
export class PluginError extends QTasksError {
  // A PluginTimeoutError is the one PluginError of another code.
  declare readonly code: 'PLUGIN_FAILED' | 'PLUGIN_TIMEOUT';

  constructor(readonly plugin: string, readonly trigger: string, cause: unknown) {
    // A handler that threw undefined has no cause to show.
    super('PLUGIN_FAILED', pluginFailure(plugin, trigger, describeCause(cause)), cause === undefined ? undefined : { cause });
    if (cause instanceof Error && cause.stack) this.stack = `${this.stack ?? this.message}\nCaused by: ${cause.stack}`;
  }
}

/**
 * A plugin handler's promise did not settle within `pluginTimeoutMs`. A PluginError, so it goes
 * where a handler's failure goes (a running task ends `error`, an add before the store rejects).
 */
export class PluginTimeoutError extends PluginError {
  override readonly code = 'PLUGIN_TIMEOUT';

  constructor(plugin: string, trigger: string, readonly timeoutMs: number) {
    super(plugin, trigger, undefined);
    this.message = pluginFailure(plugin, trigger, `no answer within ${timeoutMs} ms (config.pluginTimeoutMs)`);
  }
}

function pluginFailure(plugin: string, trigger: string, problem: string): string {
  return `Plugin "${plugin}" failed on trigger "${trigger}": ${problem}`;
}

/** A plugin handler answered something other than nothing or an object of replaceable fields. */
export class PluginAnswerError extends QTasksError {
  declare readonly code: 'PLUGIN_BAD_ANSWER';

  constructor(readonly plugin: string, readonly trigger: string, problem: string, replaceable: readonly string[]) {
    super(
      'PLUGIN_BAD_ANSWER',
      `Plugin "${plugin}" answered trigger "${trigger}" with ${problem}; an answer is nothing or an object ` +
        `with some of: ${replaceable.length ? replaceable.join(', ') : '(none: this trigger only informs)'}.`,
    );
  }
}

/** A task's arguments failed their DTO validation (at enqueue, or again before it ran). */
export class TaskValidationError extends QTasksError {
  declare readonly code: 'INVALID_ARGUMENTS';

  constructor(readonly taskName: string, readonly problems: string[]) {
    super('INVALID_ARGUMENTS', `Arguments of task "${taskName}" are invalid: ${problems.join('; ')}.`);
  }
}

/** Thrown by a task to end it `error` at once, whatever its retry settings. */
export class NonRetryableError extends QTasksError {
  // A ThreadModuleError is the one NonRetryableError of another code.
  declare readonly code: 'NON_RETRYABLE' | 'THREAD_MODULE';

  constructor(message: string, options?: { cause?: unknown }) {
    super('NON_RETRYABLE', message, options);
  }
}

/** The reason a task's signal aborts when it runs longer than its `maxTime`. */
export class TaskTimeoutError extends QTasksError {
  declare readonly code: 'TASK_TIMEOUT';

  constructor(readonly taskName: string, readonly maxTimeMs: number) {
    super('TASK_TIMEOUT', `Task "${taskName}" timed out after ${maxTimeMs} ms.`);
  }
}

/** The reason a task's signal aborts when it is cancelled while running. */
export class TaskCancelledError extends QTasksError {
  declare readonly code: 'TASK_CANCELLED';

  constructor(readonly reason: string) {
    super('TASK_CANCELLED', `Task cancelled: ${reason}`);
  }
}

/**
 * The reason a task's signal aborts when its worker stops before it finished: the task was handed
 * back to the queue and runs again elsewhere, so this run should stop.
 */
export class WorkerStoppedError extends QTasksError {
  declare readonly code: 'WORKER_STOPPED';

  constructor(readonly graceMs: number) {
    super('WORKER_STOPPED', `The worker stopped before the task finished (it had ${graceMs} ms of grace); the task goes back to the queue.`);
  }
}

function describeCause(cause: unknown): string {
  return cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause);
}
/** A timer schedule that cannot run: bad cron expression, time zone or interval, unknown task. */
export class InvalidScheduleError extends QTasksError {
  declare readonly code: 'INVALID_SCHEDULE';

  constructor(readonly scheduleName: string, where: string, reason: string, options?: { cause?: unknown }) {
    super('INVALID_SCHEDULE', `Schedule "${scheduleName}" (${where}) is invalid: ${reason}`, options);
  }
}

export class DuplicateScheduleError extends QTasksError {
  declare readonly code: 'DUPLICATE_SCHEDULE';

  constructor(readonly scheduleName: string) {
    super(
      'DUPLICATE_SCHEDULE',
      `Schedule "${scheduleName}" is added twice; give the second one its own \`name\` option.`,
    );
  }
}

/** The dashboard (WebView) cannot listen: its port is taken, or its host is no address of this machine. */
export class WebViewStartError extends QTasksError {
  declare readonly code: 'WEBVIEW_START';

  constructor(readonly address: string, cause: unknown) {
    const reason = (cause as NodeJS.ErrnoException).code === 'EADDRINUSE'
      ? 'the port is already in use (EADDRINUSE): give the webview a free port, or 0 for any'
      : errorMessage(cause);
    super('WEBVIEW_START', `The dashboard (webview) cannot listen on ${address}: ${reason}.`, { cause });
  }
}

/**
 * A thread task's module could not be loaded, or has no function under its export name. A
 * NonRetryableError: the next attempt would load the same module and fail the same way.
 */
export class ThreadModuleError extends NonRetryableError {
  override readonly code = 'THREAD_MODULE';

  constructor(readonly moduleUrl: string, readonly exportName: string, readonly problem: string, options?: { cause?: unknown }) {
    super(`Cannot run export "${exportName}" of thread module ${moduleUrl}: ${problem}.`, options);
  }
}

/** A component was used on its own before a QueueTasks wired it, e.g. `worker.start()` called directly. */
export class NotAttachedError extends QTasksError {
  declare readonly code: 'NOT_ATTACHED';

  constructor(readonly component: string, remedy: string) {
    super('NOT_ATTACHED', `${component} was used before it was attached to an app: ${remedy}`);
  }
}

/** A ThreadWorker's thread died before it was ready (a bad `execArgv`, a missing loader). */
export class ThreadStartError extends QTasksError {
  declare readonly code: 'THREAD_START';

  constructor(entry: string, how: string, options?: { cause?: unknown }) {
    super('THREAD_START', `A worker thread could not start ${entry} (${how}).`, options);
  }
}

/** The worker thread running a thread task died under it (process.exit, an uncaught error, out of memory). */
export class ThreadCrashedError extends QTasksError {
  declare readonly code: 'THREAD_CRASHED';

  constructor(readonly moduleUrl: string, readonly exportName: string, how: string) {
    super('THREAD_CRASHED', `The thread running export "${exportName}" of ${moduleUrl} crashed (${how}); it was replaced.`);
  }
}
