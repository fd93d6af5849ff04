import { assertBackoff, type Backoff } from '../plugins/retry/backoff.js';
import { DuplicateTaskError, InvalidOptionError, UnknownTaskError } from './errors.js';
import { assertRateLimit, type RateLimit, type RateLimits } from './rate-limit.js';
import { assertMaxRunning, type RunningLimits } from './running-limit.js';
import type { TaskInterceptor } from './interceptor.js';
import type { ScheduleTiming } from './schedule.js';
import { assertTimerRange } from './timing.js';
import { asThreadTask, type ThreadTarget, type ThreadTaskOptions } from './thread-task.js';

export type TaskHandler = (...args: any[]) => unknown;
export type ErrorClass = abstract new (...args: any[]) => Error;

/**
 * Options of one task, given to `@Task()` or `QueueTasks.task()`. With `cron` or `every` the task
 * also runs on that schedule (the timer enqueues it, with `args`).
 */
export interface TaskOptions extends ScheduleTiming {
  /** Unique name; defaults to the method's name. */
  name?: string;
  /** Lower runs first. */
  priority?: number;
  description?: string;
  tags?: string[];
  /** The task gets its TaskContext as first argument (the original's `echo`). */
  echo?: boolean;
  /** Times a failed task runs again (same uuid, attempt + 1). */
  retry?: number;
  /** Only errors of these classes are retried; default: every error but NonRetryableError. */
  retryOn?: ErrorClass[];
  /** Delay before each retry; default none. */
  backoff?: Backoff;
  /** Time limit in ms over the task's whole run, plugin handlers included: its signal aborts and it ends `error` (timed out). */
  maxTime?: number;
  /** At most `max` starts in each window of `windowMs`, across all workers (see RateLimit). */
  rateLimit?: RateLimit;
  /** At most this many of the task running at once, across all workers (see RunningLimits). */
  maxRunning?: number;
  /** Interceptors around this task only, after the global ones. */
  interceptors?: TaskInterceptor[];
  /** Classes of the enqueue arguments, for validation; Nest tasks default to the emitted types. */
  paramTypes?: Function[];
  /** Set false to skip the DTO validation of the arguments. */
  validate?: boolean;
  /** Generator tasks: maps each yielded value before it is stored as progress and kept. */
  generateHandler?: (value: unknown, index: number) => unknown;
  /** Arguments of the scheduled runs (with `cron` or `every`). */
  args?: unknown[];
  /**
   * The task's work is this module's export, which a ThreadWorker runs on a worker thread (other
   * workers import it and call it on the event loop). It gets the JSON arguments, no TaskContext.
   */
  thread?: ThreadTaskOptions;
}

export interface TaskDefinition {
  name: string;
  handler: TaskHandler;
  options: TaskOptions;
  /** Where it was declared, e.g. "UsersService.record", for error messages. */
  source: string;
  /** Class and method it came from, when it came from a decorated method. */
  owner?: { type: Function; method: string | symbol };
  /**
   * The module listing the instance (a Nest module), for error messages: one class listed by two
   * modules is two instances registering the same task, alike but for this.
   */
  module?: string;
  /**
   * What tells the instance from another of its class in a module of the same name (in Nest, its
   * provider token or which import of a dynamic module), for error messages: set only when one may
   * exist, as the class and module then read alike.
   */
  instance?: string;
  /** Types of the enqueue arguments (the context parameter left out). */
  paramTypes?: readonly unknown[];
  /** Position of the TaskContext among the handler's parameters, when it takes one. */
  contextIndex?: number;
  /** The export a thread task runs (set at registration, from the `thread` option). */
  thread?: ThreadTarget;
}

/** A definition as registered: a thread task needs no handler (its module's export is the work). */
export type TaskDeclaration = Omit<TaskDefinition, 'handler' | 'thread'> & { handler?: TaskHandler };

/** Public facts about a task, as published in GlobalConfig for the dashboard and CLI. */
export interface TaskCatalogEntry {
  name: string;
  source: string;
  priority?: number;
  rateLimit?: RateLimit;
  maxRunning?: number;
  description?: string;
  tags: string[];
}

export class TaskRegistry {
  private readonly byName = new Map<string, TaskDefinition>();

  register(declared: TaskDeclaration): void {
    if (!declared.name) throw new InvalidOptionError(`Task at ${declared.source} has an empty name.`);
    const existing = this.byName.get(declared.name);
    if (existing) throw duplicateTaskError(existing, declared);
    assertTaskOptions(declared);
    const { handler, options } = declared;
    if (options.thread) this.byName.set(declared.name, asThreadTask(declared, options.thread));
    else if (handler) this.byName.set(declared.name, { ...declared, handler });
    else throw new InvalidOptionError(`Task at ${declared.source} needs a handler or a thread module (option thread).`);
  }

  get(name: string): TaskDefinition | undefined {
    return this.byName.get(name);
  }

  /** The definition, or an UnknownTaskError listing the known names. */
  require(name: string): TaskDefinition {
    const definition = this.byName.get(name);
    if (!definition) throw new UnknownTaskError(name, this.names());
    return definition;
  }

  names(): string[] {
    return [...this.byName.keys()];
  }

  definitions(): TaskDefinition[] {
    return [...this.byName.values()];
  }

  /** Where the thread tasks' exports are: what a ThreadWorker's threads load before their first call. */
  threadTargets(): ThreadTarget[] {
    return this.definitions().flatMap(({ thread }) => (thread ? [thread] : []));
  }

  /** The rate limits of the tasks that have one, by name. */
  rateLimits(): RateLimits {
    return new Map(this.definitions().flatMap(({ name, options }) => (options.rateLimit ? [[name, options.rateLimit] as const] : [])));
  }

  /** The maxRunning of the tasks that have one, by name. */
  runningLimits(): RunningLimits {
    return new Map(this.definitions().flatMap(({ name, options }) => (options.maxRunning ? [[name, options.maxRunning] as const] : [])));
  }

  /**
   * The task `type.method` declares, else the one of its nearest base class (a subclass may declare
   * its own). For a class no task was found on because a subclass is built in its place (Nest's
   * `{ provide: Notifier, useClass: SmsNotifier }`), that subclass's; refused when several are.
   */
  findByMethod(type: Function, method: string | symbol): TaskDefinition | undefined {
    const declared = this.definitions().filter(({ owner }) => owner?.method === method);
    for (let current: unknown = type; typeof current === 'function'; current = Object.getPrototypeOf(current)) {
      const found = declared.find(({ owner }) => owner!.type === current);
      if (found) return found;
    }
    const below = declared.filter(({ owner }) => owner!.type.prototype instanceof type);
    if (below.length > 1) {
      throw new InvalidOptionError(
        `${type.name}.${String(method)} is a task of several classes that extend ${type.name} (${below.map(({ owner }) => owner!.type.name).join(', ')}): take the handle on the one meant.`,
      );
    }
    return below[0];
  }

  catalog(): TaskCatalogEntry[] {
    return [...this.byName.values()].map(({ name, source, options }) => ({
      name,
      source,
      priority: options.priority,
      rateLimit: options.rateLimit,
      maxRunning: options.maxRunning,
      description: options.description,
      tags: options.tags ?? [],
    }));
  }
}

/** Where a task was declared, with the module listing its instance when one does. */
function declaredWhere({ source, module }: TaskDeclaration): string {
  return module ? `${source} in ${module}` : source;
}

/**
 * The refusal of a second task of one name. When both were declared by one method in one module
 * (one class under two tokens, or a dynamic module imported twice), what tells the instances
 * apart is shown, else the message would name the same place twice.
 */
function duplicateTaskError(existing: TaskDeclaration, declared: TaskDeclaration): DuplicateTaskError {
  const [first, second] = [declaredWhere(existing), declaredWhere(declared)];
  if (first !== second || existing.instance === declared.instance) return new DuplicateTaskError(declared.name, first, second);
  const withInstance = (where: string, instance: string | undefined) => (instance ? `${where} (${instance})` : where);
  return new DuplicateTaskError(declared.name, withInstance(first, existing.instance), withInstance(second, declared.instance));
}

function assertTaskOptions({ options, source }: TaskDeclaration): void {
  const where = `of task at ${source}`;
  if (options.retry !== undefined && (!Number.isInteger(options.retry) || options.retry < 0)) {
    throw new InvalidOptionError(`retry ${where} must be a whole number of 0 or more, got ${String(options.retry)}.`);
  }
  if (options.maxTime !== undefined) {
    if (!Number.isFinite(options.maxTime) || options.maxTime <= 0) {
      throw new InvalidOptionError(`maxTime ${where} must be a positive number of milliseconds, got ${String(options.maxTime)}.`);
    }
    assertTimerRange(options.maxTime, `maxTime ${where}`);
  }
  if (options.retryOn !== undefined && (!Array.isArray(options.retryOn) || options.retryOn.some((c) => typeof c !== 'function'))) {
    throw new InvalidOptionError(`retryOn ${where} must be a list of error classes.`);
  }
  assertBackoff(options.backoff, `backoff ${where}`);
  assertRateLimit(options.rateLimit, `rateLimit ${where}`);
  assertMaxRunning(options.maxRunning, `maxRunning ${where}`);
}
