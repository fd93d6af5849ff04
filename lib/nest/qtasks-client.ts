import { Injectable, type Type } from '@nestjs/common';
import { InvalidOptionError, TaskFailedError } from '../core/errors.js';
import {
  QueueTasks,
  type AddOnceOptions,
  type AddOnceResult,
  type AddOptions,
  type BulkItem,
  type WaitOptions,
} from '../core/queue-tasks.js';
import type { Jsonified, JsonifiedArgs } from '../core/json.js';
import type { TaskContext } from '../core/task-context.js';
import type { TaskRecord } from '../core/task-record.js';

type AnyMethod = (...args: any[]) => any;

/** Names of T's methods. */
export type MethodKeys<T> = { [K in keyof T]: T[K] extends AnyMethod ? K : never }[keyof T] & string;
/** A method's enqueue arguments: its parameters without the TaskContext (echo / @TaskCtx()). */
export type TaskArgs<M> = M extends (...args: infer A) => any ? WithoutContext<A> : never;
/**
 * What a run resolves with: the method's result as JSON gives it back (a Date as its ISO string,
 * `undefined` as null); a generator task's result is the list of its values.
 */
export type TaskResult<M> = M extends (...args: any[]) => infer R
  ? R extends AsyncGenerator<infer Y> | Generator<infer Y>
    ? Jsonified<Y>[]
    : Jsonified<Awaited<R>>
  : never;

type IsContext<T> = 0 extends 1 & T ? false : [T] extends [TaskContext] ? true : false;
type WithoutContext<A extends unknown[]> = A extends [infer Head, ...infer Rest]
  ? IsContext<Head> extends true
    ? WithoutContext<Rest>
    : [Head, ...WithoutContext<Rest>]
  : A;

/** One task of a typed handle's addBulk: its arguments, typed by the method, and its own priority or delay. */
export interface TypedBulkItem<A extends unknown[]> extends AddOptions {
  args: A;
}

/** A task bound to its method's types: arguments and result are checked by the compiler. */
export class TaskHandle<A extends unknown[], R> {
  constructor(
    private readonly queueTasks: QueueTasks,
    private readonly taskName: () => string,
    private readonly options: AddOptions & WaitOptions = {},
  ) {}

  /** The task's name, looked up at first use: tasks are registered at module init, after constructors ran. */
  get name(): string {
    return this.taskName();
  }

  /** The same task with enqueue (priority, delay) or wait (timeout) options. */
  with(options: AddOptions & WaitOptions): TaskHandle<A, R> {
    return new TaskHandle<A, R>(this.queueTasks, this.taskName, { ...this.options, ...options });
  }

  async add(...args: A): Promise<TaskRecord<R, JsonifiedArgs<A>>> {
    return this.queueTasks.add(this.name, args, this.options) as Promise<TaskRecord<R, JsonifiedArgs<A>>>;
  }

  /** Enqueues unless a task holds `uniqueKey` (see QTasksClient.addOnce); the handle's priority and delay apply unless given. */
  async addOnce(args: A, options: AddOnceOptions): Promise<AddOnceResult> {
    // Options that are no object go on as they are, for addOnce's own InvalidOptionError.
    const given = typeof options === 'object' && options !== null ? { ...options, ...this.enqueueOptions(options) } : options;
    return this.queueTasks.addOnce(this.name, args, given);
  }

  /** Enqueues one task per item in one round trip, all or none (see QTasksClient.addBulk). */
  async addBulk(items: TypedBulkItem<A>[]): Promise<TaskRecord<R, JsonifiedArgs<A>>[]> {
    // What is no list of objects goes on as it is, for addBulk's own InvalidOptionError.
    const bulk = Array.isArray(items) ? items.map((item) => this.bulkItem(item)) : items;
    return this.queueTasks.addBulk(bulk) as Promise<TaskRecord<R, JsonifiedArgs<A>>[]>;
  }

  private bulkItem(item: TypedBulkItem<A>): BulkItem {
    return typeof item === 'object' && item !== null ? { name: this.name, args: item.args, ...this.enqueueOptions(item) } : item;
  }

  /** A call's priority and delay, each the handle's where the call gives none (or gives undefined). */
  private enqueueOptions(given: AddOptions): AddOptions {
    return { priority: given.priority ?? this.options.priority, delay: given.delay ?? this.options.delay };
  }

  /**
   * Enqueues and resolves with the result; a task ending `error` or `cancel` rejects with
   * TaskFailedError, one still unfinished at the `timeout` with WaitTimeoutError (even with
   * `returnOnTimeout`: there is no result to resolve with).
   */
  async run(...args: A): Promise<R> {
    // Not returnOnTimeout: the run's own WaitTimeoutError, as there is no result to resolve with.
    const record = await this.queueTasks.run(this.name, args, { ...this.options, returnOnTimeout: false });
    if (record.status !== 'success') throw new TaskFailedError(record);
    return record.returning as R;
  }

  /** One of this task's records, typed; null when there is none. Another task's uuid is refused. */
  async get(uuid: string): Promise<TaskRecord<R, JsonifiedArgs<A>> | null> {
    const record = await this.queueTasks.get(uuid);
    return record && this.own(record);
  }

  /** Waits for one of this task's runs to finish (see QTasksClient.wait), typed. Another task's uuid is refused. */
  async wait(uuid: string, options: WaitOptions = {}): Promise<TaskRecord<R, JsonifiedArgs<A>>> {
    return this.own(await this.queueTasks.wait(uuid, { ...this.options, ...options }));
  }

  /** The record, typed as this task's: the types hold only for a record of this task. */
  private own(record: TaskRecord): TaskRecord<R, JsonifiedArgs<A>> {
    if (record.taskName !== this.name) {
      throw new InvalidOptionError(
        `Task ${record.uuid} is a "${record.taskName}" task, not "${this.name}": read it with QTasksClient.get or wait, untyped.`,
      );
    }
    return record as TaskRecord<R, JsonifiedArgs<A>>;
  }
}

/** What a Nest app injects to enqueue tasks and read them back. */
@Injectable()
export class QTasksClient {
  constructor(private readonly queueTasks: QueueTasks) {}

  add(name: string, args: unknown[] = [], options: AddOptions = {}): Promise<TaskRecord> {
    return this.queueTasks.add(name, args, options);
  }

  /** Enqueues unless a task holds `uniqueKey` (see QueueTasks.addOnce). */
  addOnce(name: string, args: unknown[], options: AddOnceOptions): Promise<AddOnceResult> {
    return this.queueTasks.addOnce(name, args, options);
  }

  addBulk(items: BulkItem[]): Promise<TaskRecord[]> {
    return this.queueTasks.addBulk(items);
  }

  get(uuid: string): Promise<TaskRecord | null> {
    return this.queueTasks.get(uuid);
  }

  wait(uuid: string, options: WaitOptions = {}): Promise<TaskRecord> {
    return this.queueTasks.wait(uuid, options);
  }

  run(name: string, args: unknown[] = [], options: AddOptions & WaitOptions = {}): Promise<TaskRecord> {
    return this.queueTasks.run(name, args, options);
  }

  cancel(uuid: string, reason?: string): Promise<TaskRecord> {
    return this.queueTasks.cancel(uuid, reason);
  }

  /** Pauses starting tasks: all, or those of `taskName` only, until `resume` (see QueueTasks.pause). */
  pause(taskName?: string): Promise<void> {
    return this.queueTasks.pause(taskName);
  }

  /** Ends a pause of the queue, or of `taskName`. */
  resume(taskName?: string): Promise<void> {
    return this.queueTasks.resume(taskName);
  }

  /** Runs a task that ended `error` or `cancel` again, under its uuid (see QueueTasks.requeue). */
  requeue(uuid: string): Promise<TaskRecord> {
    return this.queueTasks.requeue(uuid);
  }

  /**
   * A typed handle on the task declared by `type.method` with `@Task()`. Usable in a provider's
   * constructor: the task is looked up at the handle's first call (a method that is no task
   * rejects it then).
   */
  task<T, K extends MethodKeys<T>>(type: Type<T>, method: K): TaskHandle<TaskArgs<T[K]>, TaskResult<T[K]>> {
    let name: string | undefined;
    return new TaskHandle(this.queueTasks, () => (name ??= this.taskName(type, method)));
  }

  private taskName(type: Type<unknown>, method: string): string {
    const definition = this.queueTasks.registry.findByMethod(type, method);
    if (!definition) {
      throw new InvalidOptionError(`${type.name}.${method} is not a task: mark it with @Task() and list ${type.name} in a module's providers or controllers.`);
    }
    return definition.name;
  }
}
