import { randomUUID } from 'node:crypto';
import { requeuedRecord, type Broker, type Retention } from '../brokers/broker.js';
import { MemoryBroker } from '../brokers/memory/memory-broker.js';
import { RedisBroker } from '../brokers/redis/redis-broker.js';
import type { GlobalConfig } from '../configs/global-config.js';
import { MemoryGlobalConfig } from '../configs/memory/memory-global-config.js';
import { RedisGlobalConfig } from '../configs/redis/redis-global-config.js';
import { RedisConnection, type RedisConnectionOptions } from '../redis/connection.js';
import type { AddPluginOptions, TaskPlugin } from '../plugins/plugin.js';
import { PluginRunner } from '../plugins/plugin-runner.js';
import type { TriggerName } from '../plugins/triggers.js';
import { RetryPlugin } from '../plugins/retry/retry.plugin.js';
import { ValidationPlugin } from '../plugins/validation/validation.plugin.js';
import { Starter } from '../starters/starter.js';
import { MemoryStorage } from '../storages/memory/memory-storage.js';
import { RedisStorage } from '../storages/redis/redis-storage.js';
import type { Storage } from '../storages/storage.js';
import { AsyncWorker } from '../workers/async-worker.js';
import type { Worker } from '../workers/worker.js';
import { assertPriority, resolveConfig, unknownKeyError, type QTasksConfig } from './config.js';
import { AddTooLateError, AppStoppedError, errorMessage, InvalidOptionError, PluginError, QTasksError, shownValue, TaskNotFoundError, WaitTimeoutError } from './errors.js';
import { TaskExecutor, traceback } from './executor.js';
import type { TaskInterceptor } from './interceptor.js';
import { storedArgsJson } from './json.js';
import { consoleLogger, taggedConsoleLogger, type QTasksLogger } from './logger.js';
import { isFinal, type NewTask, type TaskRecord } from './task-record.js';
import { TaskRegistry, type TaskHandler, type TaskOptions } from './task-registry.js';
import type { ThreadTaskOptions } from './thread-task.js';
import { isDelay, MAX_DELAY_MS, MAX_TIMER_MS } from './timing.js';

/** Where tasks live when no components are given: Redis (default), or this process's memory. */
export type QTasksBackend = 'redis' | 'memory';
const BACKENDS: readonly QTasksBackend[] = ['redis', 'memory'];

export interface QueueTasksOptions extends RedisConnectionOptions {
  /** App name: every process sharing it shares tasks. Default "QueueTasks". */
  name?: string;
  /**
   * `memory` keeps tasks in this process (tests, running without Redis; nothing is shared with
   * other processes and nothing survives a restart). Default `redis`.
   */
  backend?: QTasksBackend;
  config?: Partial<QTasksConfig>;
  broker?: Broker;
  storage?: Storage;
  /** `null` runs without one (no heartbeats, no catalogue). */
  globalConfig?: GlobalConfig | null;
  /** `false` turns the worker off, for processes that only enqueue. */
  worker?: Worker | false;
  starter?: Starter;
  logger?: QTasksLogger;
  /** The logger a running task's context gets; default: the console, tagged with the uuid. */
  taskLogger?: (uuid: string, taskName: string) => QTasksLogger;
  /** Plugins added at construction (global: each handler runs after the trigger-specific ones). */
  plugins?: TaskPlugin[];
  /** Interceptors around every task, outermost first. */
  interceptors?: TaskInterceptor[];
}

/**
 * Every option, for refusing a misspelt one that would otherwise be ignored; typed as a Record
 * so that tsc keeps it in step with QueueTasksOptions.
 */
export const QUEUE_TASKS_OPTION_KEYS: Record<keyof QueueTasksOptions, true> = {
  name: true,
  backend: true,
  url: true,
  redis: true,
  cluster: true,
  client: true,
  whenRedisDown: true,
  config: true,
  broker: true,
  storage: true,
  globalConfig: true,
  worker: true,
  starter: true,
  logger: true,
  taskLogger: true,
  plugins: true,
  interceptors: true,
};

export interface AddOptions {
  /** Lower runs first; defaults to the task's priority, then config.taskDefaultPriority. */
  priority?: number;
  /** Milliseconds to wait before the task may run. */
  delay?: number;
}

export interface AddOnceOptions extends AddOptions {
  /** Idempotency key: while a task holds it, adding again with the same key enqueues nothing. */
  uniqueKey: string;
  /** How long the key is held, in milliseconds. */
  uniqueTtlMs: number;
  /**
   * Unix ms past which, by the backend's clock, the add enqueues nothing and fails with
   * AddTooLateError: checked as Redis runs it, so an add held while Redis was down, or sent again
   * after a reconnect, cannot land late (a timer's tick, once its key may have expired).
   */
  deadline?: number;
}

export interface AddOnceResult {
  /** The task that holds the key: the new one, or the one enqueued earlier with that key. */
  uuid: string;
  /** False when the key was already held and nothing was enqueued. */
  added: boolean;
}

export interface BulkItem extends AddOptions {
  name: string;
  args?: unknown[];
}

export interface WaitOptions {
  /** Milliseconds; without it the wait lasts until the task finishes. */
  timeout?: number;
  /** On timeout, resolve with the current record instead of throwing WaitTimeoutError. */
  returnOnTimeout?: boolean;
}

/**
 * The central object: the task registry plus the components, wired. Without custom components it
 * builds the Redis ones on one shared connection (or the memory ones, with `backend: 'memory'`):
 * GlobalConfig -> Storage -> Broker, and an AsyncWorker.
 */
export class QueueTasks {
  readonly name: string;
  readonly config: QTasksConfig;
  readonly registry = new TaskRegistry();
  readonly broker: Broker;
  readonly storage: Storage;
  readonly globalConfig: GlobalConfig | null;
  readonly worker: Worker | null;
  readonly starter: Starter;
  readonly logger: QTasksLogger;
  readonly executor: TaskExecutor;
  readonly plugins: PluginRunner;
  private readonly validation = new ValidationPlugin(this.registry);
  private ownConnection?: RedisConnection;
  /** The stop under way, if any: a start waits for it (see start). */
  private stopping?: Promise<void>;
  /** Set once stop() has closed the app, cleared by start(): see refuseIfStopped. */
  private stopped = false;

  constructor(options: QueueTasksOptions = {}) {
    if (typeof options !== 'object' || options === null) {
      throw new InvalidOptionError(`QueueTasks options must be an object, got ${shownValue(options)}.`);
    }
    checkKeys(options, QUEUE_TASKS_OPTION_KEYS, 'QueueTasks');
    checkComponents(options);
    if (options.name !== undefined && (typeof options.name !== 'string' || options.name === '')) {
      throw new InvalidOptionError(`name must be a non-empty string, got ${shownValue(options.name)}.`);
    }
    this.name = options.name ?? 'QueueTasks';
    if (options.backend !== undefined && !BACKENDS.includes(options.backend)) {
      throw new InvalidOptionError(`backend must be one of ${BACKENDS.map((b) => `"${b}"`).join(', ')}, got "${String(options.backend)}".`);
    }
    this.config = resolveConfig(options.config);
    this.plugins = new PluginRunner(this.config.pluginTimeoutMs);
    this.logger = options.logger ?? consoleLogger;
    this.worker = options.worker === false ? null : (options.worker ?? new AsyncWorker());
    this.broker = options.broker ?? this.worker?.broker ?? this.buildBroker(options);
    this.storage = this.broker.storage;
    this.globalConfig = this.storage.globalConfig;
    this.starter = options.starter ?? new Starter();
    if (this.globalConfig) this.globalConfig.plugins = this.plugins;
    this.executor = new TaskExecutor(this.registry, {
      broker: this.broker,
      plugins: this.plugins,
      client: this,
      taskLogger: options.taskLogger ?? taggedConsoleLogger,
    });
    this.executor.useInterceptors(...(options.interceptors ?? []));
    this.plugins.addBuiltInLast(this.validation);
    this.plugins.addBuiltIn(new RetryPlugin());
    for (const plugin of options.plugins ?? []) this.plugins.add(plugin);
  }

  /**
   * Adds a plugin at run time (the original's `app.add_plugin(plugin, trigger_names, component)`).
   * With `triggers` its handlers for them run before the global ones; without, it is global.
   */
  addPlugin(plugin: TaskPlugin, options: AddPluginOptions = {}): this {
    this.plugins.add(plugin, options);
    return this;
  }

  /** Adds interceptors around every task, after those already added. */
  useInterceptors(...interceptors: TaskInterceptor[]): this {
    this.executor.useInterceptors(...interceptors);
    return this;
  }

  /** The default components of the chosen backend, or a broker for the given storage. */
  private buildBroker(options: QueueTasksOptions): Broker {
    if (options.storage instanceof RedisStorage) return new RedisBroker({ storage: options.storage });
    if (options.storage instanceof MemoryStorage) return new MemoryBroker({ storage: options.storage });
    if (options.storage) throw new InvalidOptionError('A custom Storage needs a Broker built for it: pass `broker` as well.');
    if (options.backend === 'memory') {
      const given = (['url', 'redis', 'cluster', 'client'] as const).filter((key) => options[key] !== undefined);
      if (given.length > 0) {
        throw new InvalidOptionError(`backend "memory" uses no Redis, but ${given.join(', ')} was given: drop it or use backend "redis".`);
      }
      const globalConfig = options.globalConfig === undefined ? new MemoryGlobalConfig({ name: this.name }) : options.globalConfig;
      return new MemoryBroker({ storage: new MemoryStorage({ globalConfig }) });
    }
    const connection = new RedisConnection(options);
    this.ownConnection = connection;
    const globalConfig =
      options.globalConfig === undefined ? new RedisGlobalConfig({ name: this.name, connection }) : options.globalConfig;
    return new RedisBroker({ storage: new RedisStorage({ name: this.name, connection, globalConfig }) });
  }

  /**
   * Registers a plain function as a task (the Nest layer registers decorated methods), or, with
   * the `thread` option and no function, a module's export.
   */
  task(nameOrOptions: string | (TaskOptions & { name: string }), handler: TaskHandler): this;
  task(options: TaskOptions & { name: string; thread: ThreadTaskOptions }): this;
  task(nameOrOptions: string | (TaskOptions & { name: string }), handler?: TaskHandler): this {
    const options = typeof nameOrOptions === 'string' ? { name: nameOrOptions } : nameOrOptions;
    if (options.priority !== undefined) assertPriority(options.priority, `priority of task "${options.name}"`);
    if (handler !== undefined && typeof handler !== 'function') {
      throw new InvalidOptionError(`Task "${options.name}" needs a function as its handler, got ${shownValue(handler)}.`);
    }
    if (handler && options.thread) {
      throw new InvalidOptionError(`Task "${options.name}" has a handler and a thread module: a thread task's work is its module's export.`);
    }
    const source = options.thread ? `thread module ${String(options.thread.module)}` : `function ${handler?.name || options.name}`;
    this.registry.register({ name: options.name, handler, options, source, contextIndex: options.echo ? 0 : undefined });
    return this;
  }

  /**
   * Starts the components, then the work (worker, timers) unless `work` is false: the app can
   * then enqueue and read, and `startWork` starts the work later.
   */
  async start(options: { work?: boolean } = {}): Promise<void> {
    // A stop under way would close what this start opens: it ends first.
    await this.stopping;
    this.stopped = false;
    this.worker?.attach({
      broker: this.broker,
      executor: this.executor,
      config: this.config,
      globalConfig: this.globalConfig,
      taskNames: this.registry.names(),
      rateLimits: this.registry.rateLimits(),
      runningLimits: this.registry.runningLimits(),
      logger: this.logger,
      plugins: this.plugins,
    });
    try {
      await this.starter.start(this, options);
    } catch (error) {
      await this.ownConnection?.close();
      throw error;
    }
  }

  /** Starts the worker and the timers of an app started with `{ work: false }`. */
  async startWork(): Promise<void> {
    await this.starter.startWork(this);
  }

  /** Stops timers and the worker (running tasks get the grace time); enqueueing still works. */
  async stopWork(): Promise<void> {
    await this.starter.stopWork(this);
  }

  /**
   * Stops the work and closes the connections; a start() called meanwhile begins once this ends.
   * On an app already stopped it does nothing (a second `app.close()` in Nest): no trigger fires.
   */
  stop(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    this.stopping ??= this.stopOnce().finally(() => (this.stopping = undefined));
    return this.stopping;
  }

  private async stopOnce(): Promise<void> {
    await this.plugins.trigger('app_stop', { appName: this.name }).catch((error: unknown) => this.logger.error(traceback(error)));
    await this.starter.stop(this);
    await this.ownConnection?.close();
    // Not before: tasks finishing within the shutdown grace may still enqueue and read.
    this.stopped = true;
  }

  /**
   * Refuses a call once stop() has closed the app, on every backend: the Redis connection refuses
   * it too, but memory components would take it and never run it (or never end a wait).
   */
  private refuseIfStopped(): void {
    if (this.stopped) throw new AppStoppedError(this.name);
  }

  /** Enqueues one task; resolves with its record (status `new`) once Redis has it. */
  add(name: string, args: unknown[] = [], options: AddOptions = {}): Promise<TaskRecord> {
    return this.enqueueItems([{ name, args, ...options }], ({ stored }) => stored[0]!);
  }

  /**
   * Enqueues a task unless another task holds `uniqueKey` (checked and taken atomically in Redis,
   * so racing processes enqueue one task between them). Timers use it to enqueue once per tick.
   */
  async addOnce(name: string, args: unknown[], options: AddOnceOptions): Promise<AddOnceResult> {
    this.refuseIfStopped();
    assertOptionsObject(options, `addOnce of task "${name}"`);
    const { uniqueKey, uniqueTtlMs, deadline } = options;
    if (typeof uniqueKey !== 'string' || uniqueKey === '') {
      throw new InvalidOptionError(`uniqueKey of task "${name}" must be a non-empty string.`);
    }
    // A TTL Redis's SET cannot take (past 64 bits, or 1e21 and up, which JavaScript writes as
    // 1e+21) would stop the enqueue script part-way with an untyped error, failing the adds that
    // shared its call though some were stored. Safe integers are exact and far below that.
    if (!Number.isSafeInteger(uniqueTtlMs) || uniqueTtlMs <= 0) {
      throw new InvalidOptionError(
        `uniqueTtlMs of task "${name}" must be a positive whole number of milliseconds, at most ${Number.MAX_SAFE_INTEGER}, got ${uniqueTtlMs}.`,
      );
    }
    if (deadline !== undefined && !Number.isFinite(deadline)) {
      throw new InvalidOptionError(`deadline of task "${name}" must be a time in Unix milliseconds, got ${shownValue(deadline)}.`);
    }
    // Through the same enqueue triggers as add (validation hooks there), then keyed.
    const [prepared] = await this.prepareAll([{ name, args, priority: options.priority, delay: options.delay }]);
    const task: NewTask = { ...prepared!, uniqueKey, uniqueTtlMs };
    return this.enqueue([task], ({ uuids }) => ({ uuid: uuids[0]!, added: uuids[0] === task.uuid }), deadline);
  }

  /** Enqueues many tasks in one round trip, all or none. */
  addBulk(items: BulkItem[]): Promise<TaskRecord[]> {
    return this.enqueueItems(items, ({ stored }) => stored);
  }

  async get(uuid: string): Promise<TaskRecord | null> {
    this.refuseIfStopped();
    const stored = await this.plugins.trigger('storage_get', { uuid, record: await this.storage.get(uuid) });
    return (await this.plugins.trigger('app_get', { uuid, record: stored.record })).record;
  }

  /** Resolves when the task finishes (pushed by Redis, not polled). */
  async wait(uuid: string, options: WaitOptions = {}): Promise<TaskRecord> {
    this.refuseIfStopped();
    assertOptionsObject(options, `wait of task ${uuid}`);
    assertWaitTimeout(options.timeout);
    // Checked only while this app's work is not running: no await added to the usual call.
    if (this.ownWorkIdle()) await this.warnIfNoWorkerRuns(`wait of task ${uuid}`, uuid);
    return checkWaited(uuid, await this.storage.waitFinished(uuid, options.timeout), options);
  }

  /** Enqueues, then waits for the final record (watching from before the enqueue). */
  async run(name: string, args: unknown[] = [], options: AddOptions & WaitOptions = {}): Promise<TaskRecord> {
    this.refuseIfStopped();
    assertOptionsObject(options, `run of task "${name}"`);
    assertWaitTimeout(options.timeout);
    // Checked only while this app's work is not running: no await added to the usual call.
    if (this.ownWorkIdle()) await this.warnIfNoWorkerRuns(`run of task "${name}"`);
    const [task] = await this.prepareAll([{ name, args, ...options }]);
    const watch = await this.storage.watch(task!.uuid, options.timeout);
    try {
      await this.enqueue([task!], () => undefined);
    } catch (error) {
      watch.cancel();
      throw error;
    }
    return checkWaited(task!.uuid, await watch.finished, options);
  }

  /**
   * Warns when a run or wait (of the task `uuid`, unless it has finished) would last until a worker
   * starts, none running: this app's own is not (yet, or any more), and GlobalConfig lists no other's
   * heartbeat. A Nest app starts its worker at application bootstrap, after every onModuleInit
   * hook, so one awaiting a run there holds the bootstrap, and the wait, for ever. Called only
   * while ownWorkIdle(); a failed check is no warning (the call reports it).
   */
  private async warnIfNoWorkerRuns(call: string, uuid?: string): Promise<void> {
    try {
      if ((await this.globalConfig!.workers()).length > 0) return;
      if (uuid !== undefined) {
        const record = await this.storage.get(uuid);
        // A wait for a task finished, or unknown, answers at once.
        if (!record || isFinal(record.status)) return;
      }
    } catch {
      return;
    }
    this.logger.warn(
      `${call} waits for a worker to run the task, but none runs: this app's own has not started (or was stopped) and no other sends heartbeats. ` +
        'A Nest app starts its worker at application bootstrap: a run or wait awaited in an onModuleInit hook ' +
        '(or in onApplicationBootstrap with QTasksRootHooks) waits for ever; add there, and wait later.',
    );
  }

  /** Whether this app has a worker and GlobalConfig, and its work is not running (see warnIfNoWorkerRuns). */
  private ownWorkIdle(): boolean {
    return this.worker !== null && this.globalConfig !== null && !this.starter.workStarted;
  }

  /**
   * Cancels a task: one not started never runs; a running one has its signal aborted on whichever
   * worker holds it and ends `cancel` with the reason.
   */
  async cancel(uuid: string, reason = 'cancelled'): Promise<TaskRecord> {
    this.refuseIfStopped();
    // Redis would store an object as "[object Object]" and null as "".
    if (typeof reason !== 'string') throw new InvalidOptionError(`The reason to cancel task ${uuid} must be a string, got ${shownValue(reason)}.`);
    const record = await this.broker.cancel(uuid, reason, this.retention);
    if (record === null) throw new TaskNotFoundError(uuid);
    return record;
  }

  /**
   * Runs a task that ended `error` or `cancel` again, under its uuid and with its full retries: the
   * way back for failed tasks once their cause is fixed. Its last traceback joins `errors`.
   * Resolves with its record (status `new`); throws TaskNotFoundError, or TaskStateError for a task
   * in another status.
   */
  async requeue(uuid: string): Promise<TaskRecord> {
    this.refuseIfStopped();
    return requeuedRecord(uuid, await this.broker.requeue(uuid));
  }

  /**
   * Pauses starting tasks until `resume`: all of them, or those of the task `taskName` (an
   * UnknownTaskError for a name not registered). Running tasks go on; paused ones stay `new`, in
   * order, and start first once resumed. The pause is kept in the backend, so every worker of the
   * app holds to it, across restarts.
   */
  pause(taskName?: string): Promise<void> {
    return this.setPaused(true, taskName);
  }

  /** Ends a pause made by `pause()` (the whole queue) or `pause(taskName)` (that task). */
  resume(taskName?: string): Promise<void> {
    return this.setPaused(false, taskName);
  }

  private async setPaused(paused: boolean, taskName: string | undefined): Promise<void> {
    this.refuseIfStopped();
    if (taskName !== undefined) this.registry.require(taskName);
    await this.broker.setPaused(paused, taskName);
  }

  /**
   * The task an add of `name` with `args` would enqueue, through the same enqueue triggers and
   * checks (plugins rewriting the arguments, DTO validation, size), none of it stored: what
   * QTasksTesting.runInline runs, so that it runs what an add would.
   */
  async prepared(name: string, args: unknown[]): Promise<NewTask> {
    const [task] = await this.prepareAll([{ name, args }]);
    return task!;
  }

  /**
   * True when an add's arguments reach its size check and DTO validation as the caller gave them:
   * no plugin but the built-in validation handles `app_add_task_before_broker`, where a handler may
   * rewrite them. The timer checks a schedule's arguments up front only then.
   */
  get argsReachChecksAsGiven(): boolean {
    return this.plugins.handledOnlyBy('app_add_task_before_broker', this.validation);
  }

  private get retention(): Retention {
    return this.config;
  }

  /**
   * Prepares the items and enqueues them; resolves with `answer` of what the broker did. A lone add
   * is one round trip plus the promise turns between its layers, each a fraction of a microsecond
   * on the CPU the round trip left cold: nothing here waits for a promise it does not need.
   * Rejects, never throws: whatever goes wrong before the call leaves.
   */
  private enqueueItems<T>(items: BulkItem[], answer: (enqueued: Enqueued) => T): Promise<T> {
    try {
      this.refuseIfStopped();
      return Promise.resolve(andThen(this.prepareAll(items), (tasks) => this.enqueue(tasks, answer)));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * New tasks from the caller's items, through the enqueue-side triggers (validation hooks here).
   * Answers at once, without a promise, while every handler does.
   */
  private prepareAll(items: BulkItem[]): NewTask[] | Promise<NewTask[]> {
    if (!Array.isArray(items)) throw new InvalidOptionError(`addBulk takes an array of { name, args? } items, got ${shownValue(items)}.`);
    const tasks: NewTask[] = [];
    for (let index = 0; index < items.length; index++) {
      const task = this.prepareListed(items, index);
      if (task instanceof Promise) return this.prepareRest(items, index, task, tasks);
      tasks.push(task);
    }
    return tasks;
  }

  /** prepareAll from the item at `index` on, once a trigger answered that item with a promise. */
  private async prepareRest(items: BulkItem[], index: number, pending: Promise<NewTask>, tasks: NewTask[]): Promise<NewTask[]> {
    tasks.push(await pending);
    for (let next = index + 1; next < items.length; next++) tasks.push(await this.prepareListed(items, next));
    return tasks;
  }

  /**
   * The task of `items[index]`. In a list of several, a refusal names the item: one task "double"
   * of a thousand with a BigInt argument is found by its place, not by its task name.
   */
  private prepareListed(items: BulkItem[], index: number): NewTask | Promise<NewTask> {
    if (items.length === 1) return this.prepareItem(items[0]!);
    try {
      const task = this.prepareItem(items[index]!);
      return task instanceof Promise ? task.catch((error: unknown) => Promise.reject(namingBulkItem(error, index))) : task;
    } catch (error) {
      throw namingBulkItem(error, index);
    }
  }

  /** One item's task; bulk adds run this per task. */
  private prepareItem(item: BulkItem): NewTask | Promise<NewTask> {
    if (typeof item !== 'object' || item === null) {
      throw new InvalidOptionError(`Each item of addBulk must be an object { name, args? }, got ${shownValue(item)}.`);
    }
    const event = { name: item.name, args: item.args ?? [], priority: item.priority, delay: item.delay };
    return andThen(this.plugins.fire('app_add_task_before_broker', event), (answered) => this.prepareTask(answered));
  }

  /** A task from its item as the first trigger left it, through the broker-side trigger. */
  private prepareTask(item: BulkItem): NewTask | Promise<NewTask> {
    const task = this.prepare(item);
    if (!this.plugins.has('broker_add_before')) return task;
    return andThen(this.plugins.fire('broker_add_before', { task }), (answered) => answered.task);
  }

  /**
   * Hands prepared tasks to the broker, then runs the after-enqueue triggers; resolves with
   * `answer` of the broker's uuid for each task (for one dropped by its unique key, the holder's)
   * and the records of the tasks it stored: the record triggers fire for those alone.
   */
  private enqueue<T>(tasks: NewTask[], answer: (enqueued: Enqueued) => T, deadline?: number): Promise<T> {
    const { plugins } = this;
    const sent = deadline === undefined ? this.broker.enqueue(tasks) : this.enqueueBefore(tasks[0]!, deadline);
    let records: TaskRecord[];
    try {
      // Built while the broker's call is on its way: off the round trip's critical path.
      records = tasks.map(newRecord);
    } catch (error) {
      // A task a broker_add_before handler broke: the caller hears of that, not of the call's outcome.
      sent.catch(() => undefined);
      throw error;
    }
    return sent.then((uuids) => {
      const enqueued = { uuids, stored: records.filter((record, index) => uuids[index] === record.uuid) };
      const hasAfterTriggers = plugins.has('broker_add_after') || plugins.has('storage_add') || plugins.has('app_add_task_after_broker');
      return hasAfterTriggers ? this.runAfterEnqueue(tasks, enqueued).then(() => answer(enqueued)) : answer(enqueued);
    });
  }

  /** One task, unless the backend's clock is past `deadline` (AddTooLateError then). */
  private async enqueueBefore(task: NewTask, deadline: number): Promise<string[]> {
    const uuid = await this.broker.enqueueBefore(task, deadline);
    if (uuid === null) throw new AddTooLateError(task.taskName, deadline);
    return [uuid];
  }

  /**
   * The after-enqueue triggers. The tasks are stored and will run whatever their handlers do, so a
   * failing handler is logged, not thrown: a rejected add would tell the caller nothing was
   * enqueued, and its retry would run the work twice.
   */
  private async runAfterEnqueue(tasks: NewTask[], { uuids, stored }: Enqueued): Promise<void> {
    const { plugins } = this;
    if (plugins.has('broker_add_after')) await plugins.inform('broker_add_after', { tasks, uuids }, this.afterEnqueueFailure, uuids);
    if (!plugins.has('storage_add') && !plugins.has('app_add_task_after_broker')) return;
    for (const record of stored) {
      await plugins.inform('storage_add', { record }, this.afterEnqueueFailure, record.uuid);
      await plugins.inform('app_add_task_after_broker', { record }, this.afterEnqueueFailure, record.uuid);
    }
  }

  /**
   * Logs a handler's failure on an after-enqueue trigger: a failed notification, not a failed
   * enqueue. One function for every call (no closure per record): the message is built only here.
   */
  private readonly afterEnqueueFailure = (plugin: string, trigger: TriggerName, error: unknown, uuids: string | readonly string[]): void => {
    this.logger.error(
      `Plugin "${plugin}" failed on trigger "${trigger}" for task(s) ${typeof uuids === 'string' ? uuids : uuids.join(', ')}, ` +
        `which are enqueued all the same: ${errorMessage(error)}`,
      traceback(error),
    );
  };

  private prepare(item: BulkItem): NewTask {
    const definition = this.registry.require(item.name);
    const priority = item.priority ?? definition.options.priority ?? this.config.taskDefaultPriority;
    assertPriority(priority, `priority of task "${item.name}"`);
    const delayMs = item.delay ?? 0;
    if (!isDelay(delayMs)) {
      throw new InvalidOptionError(
        `delay of task "${item.name}" must be from 0 to ${MAX_DELAY_MS} milliseconds (100 years), got ${shownValue(delayMs)}.`,
      );
    }
    const given = item.args ?? [];
    if (!Array.isArray(given)) throw new InvalidOptionError(`Arguments of task "${item.name}" must be an array.`);
    const argsJson = storedArgsJson(item.name, given, this.config.maxPayloadBytes);
    return { uuid: randomUUID(), taskName: item.name, priority, argsJson, createdAt: Date.now(), delayMs: Math.round(delayMs) };
  }
}

/** Refuses a key `known` lacks, naming the known one it is close to (`webView`: did you mean webview?). */
export function checkKeys(options: object, known: Record<string, true>, owner: string): void {
  for (const key of Object.keys(options)) {
    if (!Object.hasOwn(known, key)) throw unknownKeyError(`${key} is not an option of ${owner}`, key, Object.keys(known), 'the options');
  }
}

/**
 * The components given in the options are objects (from plain JavaScript, `globalConfig: true`
 * would end in a TypeError naming none of them); `null` and `false` where they turn one off.
 */
function checkComponents(options: QueueTasksOptions): void {
  const components = { broker: 'a Broker', storage: 'a Storage', globalConfig: 'a GlobalConfig or null', worker: 'a Worker or false', starter: 'a Starter', logger: 'a logger' };
  for (const [key, expected] of Object.entries(components) as [keyof typeof components, string][]) {
    const given: unknown = options[key];
    if (given === undefined || (key === 'globalConfig' && given === null) || (key === 'worker' && given === false)) continue;
    if (typeof given !== 'object' || given === null) throw new InvalidOptionError(`${key} must be ${expected}, got ${shownValue(given)}.`);
  }
  // A logger missing a method would fail where the engine first logs, with a TypeError naming nothing.
  const missing = (['log', 'warn', 'error'] as const).filter((method) => options.logger && typeof options.logger[method] !== 'function');
  if (missing.length > 0) {
    const named = new Intl.ListFormat('en', { type: 'disjunction' }).format(missing);
    throw new InvalidOptionError(`logger must have log, warn and error functions; it has no ${named}.`);
  }
  for (const key of ['plugins', 'interceptors'] as const) {
    if (options[key] !== undefined && !Array.isArray(options[key])) {
      throw new InvalidOptionError(`${key} must be a list, got ${shownValue(options[key])}.`);
    }
  }
}

/**
 * The refusal of one item of an addBulk, its message naming the item. The error keeps its class
 * and code (callers match on them); only a library error is ours to reword, and a PluginError
 * stays as it is: it names the plugin that failed, whatever the item.
 */
function namingBulkItem(error: unknown, index: number): unknown {
  if (error instanceof QTasksError && !(error instanceof PluginError)) {
    const named = `Item ${index} of addBulk: ${error.message}`;
    error.stack = error.stack?.replace(error.message, named);
    error.message = named;
  }
  return error;
}

/** `next(value)`, at once for a value and after it for a promise: the add path waits only where it must. */
function andThen<T, U>(value: T | Promise<T>, next: (value: T) => U | Promise<U>): U | Promise<U> {
  return value instanceof Promise ? value.then(next) : next(value);
}

/** What an enqueue did: the broker's uuid per task, and the records of the tasks it stored. */
interface Enqueued {
  uuids: string[];
  stored: TaskRecord[];
}

/**
 * Options that are no object (`null`, from plain JavaScript) would end in a TypeError naming none
 * of the call; `undefined` is a call without them, already defaulted where they may be left out.
 */
function assertOptionsObject(options: unknown, call: string): void {
  if (typeof options !== 'object' || options === null) throw new InvalidOptionError(`The options of ${call} must be an object, got ${shownValue(options)}.`);
}

/** A wait's timeout: a Node timer and a Redis TTL take whole milliseconds, up to MAX_TIMER_MS. */
function assertWaitTimeout(timeout: number | undefined): void {
  if (timeout === undefined) return;
  if (!Number.isInteger(timeout) || timeout < 0 || timeout > MAX_TIMER_MS) {
    throw new InvalidOptionError(`timeout of wait/run must be a whole number of milliseconds from 0 to ${MAX_TIMER_MS}, got ${shownValue(timeout)}.`);
  }
}

function checkWaited(uuid: string, record: TaskRecord | null, options: WaitOptions): TaskRecord {
  if (record === null) throw new TaskNotFoundError(uuid);
  if (!isFinal(record.status) && !options.returnOnTimeout) {
    throw new WaitTimeoutError(uuid, options.timeout ?? 0, record);
  }
  return record;
}

function newRecord(task: NewTask): TaskRecord {
  const createdAt = new Date(task.createdAt);
  const record: TaskRecord = {
    uuid: task.uuid,
    taskName: task.taskName,
    status: 'new',
    priority: task.priority,
    args: JSON.parse(task.argsJson) as unknown[],
    createdAt,
    updatedAt: createdAt,
    attempt: 1,
    stalls: 0,
  };
  if (task.delayMs > 0) record.runAt = new Date(task.createdAt + task.delayMs);
  return record;
}
