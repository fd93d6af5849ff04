// Compiled by `npm test` (tsc --noEmit) and never run: each @ts-expect-error line must be a type
// error, or the compile fails; each Assert<...> must hold. It pins the typing of the public API
// around typed handles: plugins and triggers, decorators' options, module options, the engine,
// the testing helpers, and that no `any` reaches user code.
import { applyDecorators, Injectable } from '@nestjs/common';
import {
  OnTrigger,
  QTasksClient,
  QTasksModule,
  QTasksPlugin,
  QueueTasks,
  type QTasksModuleAsyncOptions,
  type QTasksModuleOptions,
  type QTasksModuleOptionsFactory,
  Task,
  TaskCtx,
  type TaskArgs,
  type TaskContext,
  type TaskHandle,
  type TaskPlugin,
  type TaskRecord,
  type TaskResult,
  type TriggerAnswer,
  type TriggerEvent,
  type TriggerHandlers,
  type Broker,
  type Lease,
  type RateLimit,
  type RateLimits,
  type ReleaseOptions,
  type RunningLimits,
  type Retention,
} from '../../lib/index.js';
import {
  PluginError,
  PluginTimeoutError,
  QTasksError,
  Storage,
  TaskAbort,
  TaskValidationError,
  UnknownTaskError,
  type QTasksErrorCode,
  type ExecutionControls,
  type RequeueOutcome,
  type TaskHandler,
  type TaskWatch,
  type WorkerContext,
} from '../../lib/engine.js';
import { QTasksTesting, QTasksTestingModule } from '../../lib/testing/index.js';

type Equal<X, Y> = (<T>() => T extends X ? 1 : 2) extends <T>() => T extends Y ? 1 : 2 ? true : false;
type IsAny<T> = 0 extends 1 & T ? true : false;
type Assert<T extends true> = T;

@Injectable()
class ReportService {
  @Task({ echo: true })
  async build(ctx: TaskContext, month: string): Promise<{ rows: number }> {
    await ctx.progress(month);
    return { rows: 1 };
  }

  @Task()
  async mark(id: number, @TaskCtx() ctx: TaskContext): Promise<void> {
    ctx.logger.log(String(id));
  }

  @Task()
  async *lines(count: number): AsyncGenerator<string> {
    for (let i = 0; i < count; i++) yield `line ${i}`;
  }

  @Task()
  total(a: number, b: number): number {
    return a + b;
  }
}

class Invoice {
  constructor(readonly total: number) {}
  describe(): string {
    return `${this.total}`;
  }
}

@Injectable()
class BillingService {
  @Task()
  async issue(): Promise<{ at: Date; invoice: Invoice; note?: string; paidAt: Date | undefined; pair: [Date, number]; gone: undefined }> {
    return { at: new Date(), invoice: new Invoice(1), paidAt: undefined, pair: [new Date(), 1], gone: undefined };
  }

  @Task()
  *stamps(): Generator<Date> {
    yield new Date();
  }

  @Task()
  passThrough(value: unknown): unknown {
    return value;
  }
}

// A result is typed as JSON gives it back: a Date as its string, methods gone, a property that may be undefined optional.
export type ResultTypes = [
  Assert<Equal<TaskResult<BillingService['issue']>, { at: string; invoice: { readonly total: number }; note?: string; paidAt?: string; pair: [string, number] }>>,
  Assert<Equal<TaskResult<BillingService['stamps']>, string[]>>,
  Assert<Equal<TaskResult<BillingService['passThrough']>, unknown>>,
  Assert<Equal<TaskResult<ReportService['mark']>, null>>,
];

export async function jsonShapedResult(client: QTasksClient): Promise<void> {
  const issued = await client.task(BillingService, 'issue').run();
  // @ts-expect-error the Date came back as its ISO string
  issued.at.getTime();
  const at: string = issued.at;
  // @ts-expect-error JSON left paidAt out when it was undefined
  issued.paidAt.length;
  void at;
}

@Injectable()
class PeriodService {
  @Task()
  async close(at: Date, invoice: Invoice, note?: string, ...tags: Date[]): Promise<void> {
    void [at, invoice, note, tags];
  }
}

// A record's arguments are typed as JSON gives them back too: a Date argument is its string there.
export type RecordArgTypes = [
  Assert<
    Equal<
      Awaited<ReturnType<TaskHandle<TaskArgs<PeriodService['close']>, null>['add']>>['args'],
      [at: string, invoice: { readonly total: number }, note?: string, ...tags: string[]]
    >
  >,
];

export async function jsonShapedArgs(client: QTasksClient, testing: QTasksTesting): Promise<void> {
  const close = client.task(PeriodService, 'close');
  const added = await close.add(new Date(), new Invoice(1));
  // @ts-expect-error the Date came back as its ISO string
  added.args[0].getTime();
  // @ts-expect-error the invoice came back as its fields, without its methods
  added.args[1].describe();
  const waited = await close.wait(added.uuid);
  const at: string = waited.args[0];
  const read = await close.get(added.uuid);
  // An optional argument left out is left out of the list: undefined, never null.
  const note: string | undefined = read!.args[2];
  const inline = await testing.runInline(close, [new Date(), new Invoice(2)]);
  // @ts-expect-error runInline's record holds the JSON arguments too
  inline.args[0].toISOString();
  void [at, note];
}

// The context parameter is no enqueue argument, wherever it sits; a generator's result is its values.
export type HandleTypes = [
  Assert<Equal<TaskArgs<ReportService['build']>, [month: string]>>,
  Assert<Equal<TaskArgs<ReportService['mark']>, [id: number]>>,
  Assert<Equal<TaskResult<ReportService['build']>, { rows: number }>>,
  Assert<Equal<TaskResult<ReportService['lines']>, string[]>>,
  Assert<Equal<TaskResult<ReportService['total']>, number>>,
];

export async function typedReadBack(client: QTasksClient, testing: QTasksTesting): Promise<void> {
  const build = client.task(ReportService, 'build');
  // @ts-expect-error the context is supplied by the worker, not by the caller
  await build.add({} as TaskContext, '2026-01');

  // The record's types flow from add to wait and get on the same handle.
  const added = await build.add('2026-01');
  const waited: TaskRecord<{ rows: number }, [month: string]> = await build.wait(added.uuid, { timeout: 1000 });
  const read: TaskRecord<{ rows: number }, [month: string]> | null = await build.get(added.uuid);
  // @ts-expect-error get may find nothing
  const notNull: TaskRecord<{ rows: number }, [month: string]> = await build.get(added.uuid);
  const rows: number | undefined = waited.returning?.rows;

  // with() keeps the types, and checks its options.
  const quick: { rows: number } = await build.with({ timeout: 500, priority: 1 }).run('2026-02');
  // @ts-expect-error a delay is milliseconds
  build.with({ delay: 'soon' });

  // runInline on a handle checks the arguments and types the record.
  const inline: TaskRecord<{ rows: number }, [month: string]> = await testing.runInline(build, ['2026-03']);
  // @ts-expect-error the month is a string
  await testing.runInline(build, [3]);
  const untyped: TaskRecord = await testing.runInline('build', [1, 2, 3]);

  // No `any` reaches user code from the untyped API either.
  const plain = await client.run('total', [1, 2]);
  type NoAny = [
    Assert<Equal<IsAny<typeof plain.returning>, false>>,
    Assert<Equal<IsAny<typeof plain.args>, false>>,
    Assert<Equal<IsAny<Awaited<ReturnType<typeof build.run>>>, false>>,
    Assert<Equal<IsAny<typeof inline.returning>, false>>,
  ];

  void [read, notNull, rows, quick, untyped, null as unknown as NoAny];
}

// Triggers: each name maps to its event, and an answer may hold only what the trigger replaces.
export type TriggerTypes = [
  Assert<Equal<TriggerEvent<'app_get'>['record'], TaskRecord | null>>,
  Assert<Equal<TriggerEvent<'worker_task_error_retry'>['retry'], boolean | undefined>>,
  Assert<Equal<TriggerAnswer<'app_get'>['record'], TaskRecord | null | undefined>>,
  Assert<Equal<TriggerAnswer<'app_stop'>['appName'], undefined>>,
];

export const handlers: TriggerHandlers = {
  app_get: ({ uuid, record }) => (record === null ? { record: null } : void uuid),
  task_executor_args_replace: (event) => ({ args: [...event.args, 'extra'] }),
  worker_task_error_retry: ({ record }) => ({ retry: record.attempt < 3, delayMs: 100 }),
  app_stop: async () => undefined,
};

export const wrongHandlers: TriggerHandlers[] = [
  // @ts-expect-error a misspelt trigger
  { app_gett: () => undefined },
  // @ts-expect-error uuid is read-only for app_get: only the record may be replaced
  { app_get: () => ({ uuid: 'other' }) },
  // @ts-expect-error app_stop only informs: it has nothing to replace
  { app_stop: () => ({ appName: 'other' }) },
  // @ts-expect-error app_stop only informs, and has no such field either
  { app_stop: () => ({ anything: 1 }) },
  // @ts-expect-error the event of app_get has no args
  { app_get: ({ args }) => void args },
];

export function addPlugins(app: QueueTasks, plugin: TaskPlugin): void {
  app.addPlugin(plugin, { triggers: ['app_get'], component: 'app' });
  // @ts-expect-error a misspelt trigger
  app.addPlugin(plugin, { triggers: ['app_gett'] });
  // @ts-expect-error a misspelt component
  app.addPlugin(plugin, { component: 'brokr' });
}

@QTasksPlugin({ component: 'worker' })
export class AuditPlugin {
  @OnTrigger('worker_execute_after')
  after({ record, outcome }: TriggerEvent<'worker_execute_after'>): void {
    void [record.uuid, outcome.status];
  }

  @OnTrigger('task_executor_args_replace')
  async replace(event: TriggerEvent<'task_executor_args_replace'>) {
    return { args: [...event.args] };
  }

  @OnTrigger('worker_execute_after', 'worker_add')
  both({ record }: TriggerEvent<'worker_execute_after' | 'worker_add'>): void {
    void record;
  }

  @OnTrigger('app_stop')
  untyped(): void {}
}

// A class plugin's handlers get the same checks when declared with `satisfies` (a class property
// is not checked field by field against the interface it implements).
export class ClassPlugin implements TaskPlugin {
  readonly handlers = {
    app_get: ({ record }: TriggerEvent<'app_get'>) => ({ record }),
    // @ts-expect-error a misspelt trigger next to a right one
    app_gett: () => undefined,
  } satisfies TriggerHandlers;
}

// OnTrigger composes with Nest's applyDecorators, as a method decorator (which is why it cannot
// check the method's own types: a decorator typed by its method is no MethodDecorator).
export const composed = applyDecorators(OnTrigger('worker_execute_after'));

export class WrongPlugins {
  // @ts-expect-error a misspelt trigger
  @OnTrigger('worker_execute_aftr')
  misspelt(): void {}

  // Not checked: OnTrigger is a plain MethodDecorator (so that it composes with applyDecorators,
  // above), hence the method's event and answer types are the author's to get right.
  @OnTrigger('app_get')
  otherEvent(event: TriggerEvent<'worker_execute_after'>): void {
    void event;
  }
}

// @ts-expect-error a misspelt component
@QTasksPlugin({ component: 'brokr' })
export class WrongComponent {}

export class WrongTaskOptions {
  // @ts-expect-error retry is a count
  @Task({ retry: 'twice' })
  a(): void {}

  // @ts-expect-error no such backoff type
  @Task({ backoff: { type: 'linear', delay: 5 } })
  b(): void {}

  // @ts-expect-error cron is an expression
  @Task({ cron: 5 })
  c(): void {}

  // @ts-expect-error a rate limit needs its window
  @Task({ rateLimit: { max: 5 } })
  d(): void {}

  // @ts-expect-error a rate limit's window is windowMs
  @Task({ rateLimit: { max: 5, window: 1000 } })
  e(): void {}

  // @ts-expect-error maxRunning is a number of tasks
  @Task({ maxRunning: { max: 2 } })
  f(): void {}

  @Task({ maxRunning: 2, rateLimit: { max: 5, windowMs: 1_000 } })
  g(): void {}
}

export type PauseTypes = [
  Assert<Equal<ReturnType<QTasksClient['pause']>, Promise<void>>>,
  Assert<Equal<ReturnType<QueueTasks['resume']>, Promise<void>>>,
  Assert<Equal<Parameters<QTasksClient['pause']>, [taskName?: string]>>,
];

export function pausing(client: QTasksClient, app: QueueTasks, broker: Broker, lease: Lease, retention: Retention): void {
  const limit: RateLimit = { max: 5, windowMs: 1_000 };
  const limits: RateLimits = new Map([['mail', limit]]);
  const runningLimits: RunningLimits = new Map([['export', 2]]);
  void [client.pause('mail'), app.resume(), broker.claim({ workerId: 'w', max: 1, leaseMs: 1_000, retention, rateLimits: limits, runningLimits })];
  void broker.wakeWorker();
  const started: ReleaseOptions = { started: true };
  void broker.release([lease], retention, started);
  // @ts-expect-error a task name is a string
  void client.pause(5);
  // @ts-expect-error claim takes one request, not positional arguments
  void broker.claim('w', 1, 1_000, retention);
}

export function engine(app: QueueTasks): void {
  app.task('sum', (a: number, b: number) => a + b);
  app.task({ name: 'hash', thread: { module: new URL('file:///hash.js') } });
  // @ts-expect-error a task needs a handler or a thread module
  app.task({ name: 'nothing' });
  // @ts-expect-error no such backend
  new QueueTasks({ backend: 'mem' });
  // @ts-expect-error a misspelt setting
  new QueueTasks({ config: { maxTaskProcess: 1 } });
}

class RedisOptions {
  url = 'redis://127.0.0.1:6379';
  describe(): string {
    return this.url;
  }
}

export const modules = [
  QTasksModule.forRoot({ url: 'redis://127.0.0.1:6379', timers: false, config: { leaseMs: 5000 } }),
  QTasksModule.forRootAsync({ inject: [QTasksClient, 'TOKEN', { token: 'OPTIONAL', optional: true }], useFactory: () => ({}) }),
  // @ts-expect-error timers is a boolean
  QTasksModule.forRootAsync({ useFactory: () => ({ timers: 'yes' }) }),
  // @ts-expect-error an injection token, not a number
  QTasksModule.forRootAsync({ inject: [5], useFactory: () => ({}) }),
  // A factory's options are checked as forRoot's object literal is: a misspelt key next to known ones is an error.
  // @ts-expect-error a misspelt option
  QTasksModule.forRootAsync({ useFactory: () => ({ url: 'redis://127.0.0.1:6379', timer: false }) }),
  // @ts-expect-error a misspelt option, from an async factory
  QTasksModule.forRootAsync({ useFactory: async () => ({ backend: 'memory' as const, nmae: 'billing' }) }),
  // @ts-expect-error a misspelt setting
  QTasksModule.forRootAsync({ useFactory: async () => ({ config: { leaseMs: 5000, maxTaskProcess: 4 } }) }),
  // @ts-expect-error a misspelt option in one branch
  QTasksModule.forRootAsync({ useFactory: () => (process.env.CI ? { backend: 'memory' as const } : { url: 'redis://127.0.0.1:6379', timer: false }) }),
  QTasksModule.forRootAsync({ useFactory: () => (process.env.CI ? { backend: 'memory' as const } : { url: 'redis://127.0.0.1:6379', config: { leaseMs: 5000 } }) }),
  QTasksModule.forRootAsync({ inject: ['CONFIG'], useFactory: async (config: { get(key: string): any }) => ({ url: config.get('url'), config: config.get('qtasks') }) }),
  QTasksModule.forRootAsync({ useFactory: (): QTasksModuleOptions => ({ timers: false }) }),
  QTasksModule.forRootAsync({ useFactory: () => ({ config: undefined, webview: { port: 8180 } }) }),
  // An options class's methods are no keys of its instances, here as at run time.
  QTasksModule.forRootAsync({ useFactory: () => new RedisOptions() }),
  QTasksTestingModule.forRoot({ config: { maxTasksProcess: 1 } }),
  // @ts-expect-error the testing module runs in memory: no Redis URL
  QTasksTestingModule.forRoot({ url: 'redis://127.0.0.1:6379' }),
  // @ts-expect-error nor a Redis Cluster
  QTasksTestingModule.forRoot({ cluster: { nodes: [{ host: '127.0.0.1', port: 7000 }] } }),
];

// A wrapper of forRootAsync generic in its factory compiles and keeps the key check for its
// callers; one generic in the options gives forRootAsync the plain factory type (README, QTasksModule).
export function wrappedModule<F extends QTasksModuleOptionsFactory>(useFactory: QTasksModuleAsyncOptions<F>['useFactory']) {
  return QTasksModule.forRootAsync<F>({ inject: ['CONFIG'], useFactory });
}

export function wrappedAsyncOptions<F extends QTasksModuleOptionsFactory>(options: QTasksModuleAsyncOptions<F>) {
  return QTasksModule.forRootAsync<F>({ ...options, imports: [...(options.imports ?? [])] });
}

export function wrappedGenericOptions<O extends QTasksModuleOptions>(options: () => O) {
  return QTasksModule.forRootAsync<QTasksModuleOptionsFactory>({ useFactory: options });
}

export const wrappedModules = [
  wrappedModule((config: { url: string }) => ({ url: config.url, timers: false })),
  wrappedModule(async () => ({ config: { leaseMs: 5000 } })),
  wrappedAsyncOptions({ useFactory: () => ({ backend: 'memory' as const }) }),
  wrappedGenericOptions(() => ({ name: 'billing' })),
  // @ts-expect-error a misspelt option, reported at the wrapper's caller
  wrappedModule((config: { url: string }) => ({ url: config.url, timer: false })),
  // @ts-expect-error a misspelt setting, from an async factory
  wrappedModule(async () => ({ config: { maxTaskProcess: 4 } })),
  // @ts-expect-error a misspelt option through the async options
  wrappedAsyncOptions({ useFactory: () => ({ nmae: 'billing' }) }),
];

// A custom component (README, Components) names the types of what it implements from the entry
// points: a worker builds each run's abort switch, a backend answers requeue and watch.
export type ComponentTypes = [
  Assert<Equal<Awaited<ReturnType<Broker['requeue']>>, RequeueOutcome>>,
  Assert<Equal<Awaited<ReturnType<Storage['watch']>>, TaskWatch>>,
];

export function registerHandlers(app: QueueTasks, handlers: Map<string, TaskHandler>): void {
  for (const [name, handler] of handlers) app.task(name, handler);
}

export async function customWorkerRun(context: WorkerContext, record: TaskRecord, token: string): Promise<void> {
  const controls: ExecutionControls = { token, abort: new TaskAbort(context.config.shutdownGraceMs) };
  const result = await context.executor.execute(record, controls);
  void result.status;
}

// A caught error's code is one of the table's (README, Errors): a misspelt case does not compile,
// and each class has its own literal code.
export function httpStatusOf(error: unknown): number {
  if (!(error instanceof QTasksError)) return 500;
  switch (error.code) {
    case 'TASK_NOT_FOUND':
      return 404;
    case 'REDIS_UNAVAILABLE':
      return 503;
    // @ts-expect-error no such code (it is TASK_NOT_FOUND)
    case 'NOT_FOUND':
      return 404;
    default:
      return 400;
  }
}

export type ErrorCodes = [
  Assert<Equal<QTasksError['code'], QTasksErrorCode>>,
  Assert<Equal<UnknownTaskError['code'], 'UNKNOWN_TASK'>>,
  Assert<Equal<PluginTimeoutError['code'], 'PLUGIN_TIMEOUT'>>,
  Assert<Equal<PluginError['code'], 'PLUGIN_FAILED' | 'PLUGIN_TIMEOUT'>>,
];

// An app's own refusal subclasses one of the library's errors; a code of its own does not compile.
export class QuotaExceededError extends TaskValidationError {
  constructor(taskName: string) {
    super(taskName, ['the daily quota is used up']);
  }
}

export class UnknownCodeError extends QTasksError {
  constructor() {
    // @ts-expect-error the codes are the library's
    super('QUOTA_EXCEEDED', 'quota');
  }
}

export function narrowedCode(error: unknown): void {
  // @ts-expect-error an UnknownTaskError's code can only be UNKNOWN_TASK
  if (error instanceof UnknownTaskError && error.code === 'TASK_NOT_FOUND') return;
}
