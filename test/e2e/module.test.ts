import {
  Global,
  Injectable,
  Module,
  type BeforeApplicationShutdown,
  type DynamicModule,
  type ModuleMetadata,
  type OnApplicationShutdown,
  type OnModuleDestroy,
  type OnModuleInit,
  type Type,
} from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, inject, it } from 'vitest';
import {
  AsyncWorker,
  Broker,
  DuplicateTaskError,
  GlobalConfig,
  InvalidOptionError,
  QTasksClient,
  QTasksModule,
  QueueTasks,
  RedisBroker,
  RedisUnavailableError,
  RedisGlobalConfig,
  RedisStorage,
  Starter,
  Storage,
  Task,
  TaskCtx,
  TaskFailedError,
  Worker,
  WaitTimeoutError,
  TaskContext,
  type QTasksModuleOptions,
} from '../../lib/index.js';
import { QTasksTestingModule } from '../../lib/testing/index.js';
import { Gate } from '../helpers/gate.js';
import { uniqueAppName } from '../helpers/names.js';
import { startNestApp } from '../helpers/nest-app.js';

let gate = new Gate();

@Injectable()
class MathService {
  @Task({ name: 'sum', description: 'adds numbers', tags: ['math'] })
  async sum(a: number, b: number): Promise<number> {
    return a + b;
  }

  @Task()
  async hold(): Promise<string> {
    await gate.pass();
    return 'released';
  }

  @Task()
  fail(): number {
    throw new RangeError('out of range');
  }
}

@Injectable()
class OtherService {
  @Task('sum')
  add(a: number, b: number) {
    return a + b;
  }
}

/** Holds a resource its task needs, released at the app's last shutdown phase as Nest advises. */
@Injectable()
class ResourceService implements BeforeApplicationShutdown, OnApplicationShutdown {
  open = true;
  enqueuedAtShutdown?: Promise<string>;

  constructor(private readonly client: QTasksClient) {}

  @Task()
  async useResource(): Promise<string> {
    await gate.pass();
    return this.open ? 'resource open' : 'resource closed';
  }

  beforeApplicationShutdown(): void {
    this.enqueuedAtShutdown = this.client.add('useResource').then((record) => record.uuid);
  }

  onApplicationShutdown(): void {
    this.open = false;
  }
}

/** What the bootstrap of an app of `root` fails with (it is closed should it boot). */
function bootstrapFailure(root: Type<unknown>): Promise<unknown> {
  return Test.createTestingModule({ imports: [root] })
    .compile()
    .then(async (app) => (await app.init()).close())
    .catch((error: unknown) => error);
}

describe('QTasksModule', () => {
  const url = inject('redisUrl');
  const redis = new Redis(url);
  afterAll(async () => redis.quit());

  it('exposes every component under its abstract class, and the manual assembly works', async () => {
    const name = uniqueAppName('manual');
    const globalConfig = new RedisGlobalConfig({ name, url });
    const storage = new RedisStorage({ name, url, globalConfig });
    const broker = new RedisBroker({ name, url, storage });
    const worker = new AsyncWorker({ broker });
    const app = await startNestApp(
      { name, broker, worker, config: { maxTasksProcess: 3, runningOlderTasks: true, deleteFinishedTasks: false } },
      [MathService],
    );
    try {
      expect(app.get(Broker)).toBe(broker);
      expect(app.get(Storage)).toBe(storage);
      expect(app.get(GlobalConfig)).toBe(globalConfig);
      expect(app.get(Worker)).toBe(worker);
      expect(app.get(Starter)).toBeInstanceOf(Starter);
      expect(broker.storage.globalConfig).toBe(globalConfig);
      const done = await app.get(QTasksClient).run('sum', [2, 3], { timeout: 15_000 });
      expect(done.returning).toBe(5);
      expect(app.get(QueueTasks).config.maxTasksProcess).toBe(3);
      const [heartbeat] = await globalConfig.workers();
      expect(heartbeat).toMatchObject({ id: worker.id, pid: process.pid, maxTasksProcess: 3 });
      expect(await globalConfig.catalog()).toContainEqual(
        expect.objectContaining({ name: 'sum', description: 'adds numbers', tags: ['math'], source: 'MathService.sum' }),
      );
    } finally {
      await app.close();
    }
    // Everything closed: its own connections too, and the heartbeat is gone.
    const reader = new RedisGlobalConfig({ name, url });
    await reader.start();
    expect(await reader.workers()).toEqual([]);
    await reader.stop();
  });

  it('forRootAsync builds the options from injected providers', async () => {
    const name = uniqueAppName('async');
    @Injectable()
    class Settings {
      readonly redisUrl = url;
    }
    @Module({ providers: [Settings], exports: [Settings] })
    class SettingsModule {}
    @Module({
      imports: [
        QTasksModule.forRootAsync({
          imports: [SettingsModule],
          inject: [Settings],
          useFactory: (settings: Settings) => ({ name, url: settings.redisUrl }),
        }),
      ],
      providers: [MathService],
    })
    class AsyncAppModule {}
    const app = await Test.createTestingModule({ imports: [AsyncAppModule] }).compile();
    await app.init();
    try {
      expect((await app.get(QTasksClient).run('sum', [1, 1], { timeout: 15_000 })).returning).toBe(2);
    } finally {
      await app.close();
    }
  });

  it('fails bootstrap when two methods use one task name, naming both', async () => {
    const attempt = startNestApp({ name: uniqueAppName('dup'), url }, [MathService, OtherService]);
    await expect(attempt).rejects.toThrow(DuplicateTaskError);
    await expect(startNestApp({ name: uniqueAppName('dup'), url }, [MathService, OtherService])).rejects.toThrow(
      'Task name "sum" is used twice: by MathService.sum in TestAppModule and by OtherService.add in TestAppModule.',
    );
  });

  it('fails bootstrap when one class is listed in two modules, naming both modules', async () => {
    @Module({ providers: [MathService] })
    class BillingModule {}
    @Module({ providers: [MathService] })
    class ReportsModule {}
    @Module({ imports: [QTasksModule.forRoot({ backend: 'memory' }), BillingModule, ReportsModule] })
    class AppModule {}
    const failure = await bootstrapFailure(AppModule);
    expect(failure).toBeInstanceOf(DuplicateTaskError);
    expect((failure as Error).message).toBe('Task name "sum" is used twice: by MathService.sum in BillingModule and by MathService.sum in ReportsModule.');
  });

  it('fails bootstrap when one class is listed under two tokens in one module, naming the tokens', async () => {
    @Module({ imports: [QTasksModule.forRoot({ backend: 'memory' })], providers: [MathService, { provide: 'math', useClass: MathService }] })
    class AppModule {}
    const failure = await bootstrapFailure(AppModule);
    expect(failure).toBeInstanceOf(DuplicateTaskError);
    expect((failure as Error).message).toBe(
      'Task name "sum" is used twice: by MathService.sum in AppModule (provider MathService) and by MathService.sum in AppModule (provider "math").',
    );
  });

  it('fails bootstrap when a dynamic module is imported twice, telling the imports apart', async () => {
    @Module({})
    class ReportsModule {
      static register(): DynamicModule {
        return { module: ReportsModule, providers: [MathService] };
      }
    }
    @Module({ imports: [ReportsModule.register()] })
    class BillingModule {}
    @Module({ imports: [QTasksModule.forRoot({ backend: 'memory' }), BillingModule, ReportsModule.register()] })
    class AppModule {}
    const failure = await bootstrapFailure(AppModule);
    expect(failure).toBeInstanceOf(DuplicateTaskError);
    expect((failure as Error).message).toBe(
      'Task name "sum" is used twice: by MathService.sum in ReportsModule (import 1 of 2) and by MathService.sum in ReportsModule (import 2 of 2).',
    );
  });

  it('with worker: false the app only enqueues; a worker app runs its tasks later', async () => {
    const name = uniqueAppName('producer');
    const producer = await startNestApp({ name, url, worker: false }, [MathService]);
    try {
      expect(producer.get(Worker)).toBeNull();
      const client = producer.get(QTasksClient);
      const record = await client.add('sum', [20, 22]);
      const pending = await client.wait(record.uuid, { timeout: 300, returnOnTimeout: true });
      expect(pending.status).toBe('new');
      const worker = await startNestApp({ name, url }, [MathService]);
      try {
        expect((await client.wait(record.uuid, { timeout: 15_000 })).returning).toBe(42);
      } finally {
        await worker.close();
      }
    } finally {
      await producer.close();
    }
  });

  it('wait with a timeout throws WaitTimeoutError carrying the current record, and leaves no timer behind', async () => {
    const app = await startNestApp({ name: uniqueAppName('timeout'), url }, [MathService]);
    try {
      gate = new Gate();
      const client = app.get(QTasksClient);
      const record = await client.add('hold');
      await gate.reached;
      const timersBefore = countTimers();
      const error = await client.wait(record.uuid, { timeout: 100 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(WaitTimeoutError);
      expect((error as WaitTimeoutError).record?.status).toBe('process');
      const current = await client.wait(record.uuid, { timeout: 50, returnOnTimeout: true });
      expect(current.status).toBe('process');
      expect(countTimers()).toBeLessThanOrEqual(timersBefore);
      // A wait that ends before its timeout clears its timer: none of a minute is left running.
      const finishing = client.wait(record.uuid, { timeout: 60_000 });
      gate.open();
      expect((await finishing).returning).toBe('released');
      expect(countTimers()).toBeLessThanOrEqual(timersBefore);
      // Nor does a wait for a task already finished (answered from the record read) leave one.
      expect((await client.wait(record.uuid, { timeout: 60_000 })).returning).toBe('released');
      expect(countTimers()).toBeLessThanOrEqual(timersBefore);
    } finally {
      await app.close();
    }
  });

  it('closing the app lets a running task finish before the worker stops and the app releases its resources; enqueueing works until the last phase', async () => {
    const name = uniqueAppName('shutdown-phases');
    const app = await startNestApp({ name, url, config: { shutdownGraceMs: 5000 } }, [ResourceService]);
    gate = new Gate();
    const running = await app.get(QTasksClient).add('useResource');
    await gate.reached;
    const closing = app.close();
    setTimeout(() => gate.open(), 200);
    await closing;
    const reader = new RedisStorage({ name, url });
    await reader.start();
    try {
      const stored = await reader.get(running.uuid);
      expect(stored?.status).toBe('success');
      expect(stored?.returning).toBe('resource open');
      const lateUuid = await app.get(ResourceService).enqueuedAtShutdown!;
      expect((await reader.get(lateUuid))?.status).toBe('new');
    } finally {
      await reader.stop();
    }
  });

  it('a second app.close() fires no trigger and logs nothing: the app is already stopped', async () => {
    const logged: string[] = [];
    const logger = { log: (line: string) => void logged.push(line), warn: (line: string) => void logged.push(line), error: (line: string) => void logged.push(line) };
    const app = await startNestApp({ name: uniqueAppName('close-twice'), url, logger }, [MathService]);
    const fired: string[] = [];
    const record = (trigger: string) => () => void fired.push(trigger);
    app.get(QueueTasks).addPlugin({
      name: 'StopRecorder',
      handlers: { app_stop: record('app_stop'), worker_stop: record('worker_stop'), starter_stop: record('starter_stop') },
    });
    await app.close();
    expect(fired).toEqual(['app_stop', 'worker_stop', 'starter_stop']);
    fired.length = logged.length = 0;
    await app.close();
    expect(fired).toEqual([]);
    expect(logged).toEqual([]);
  });

  it('warns that a run awaited in onModuleInit waits for the worker the bootstrap starts after it; a run once booted does not', async () => {
    const warnings: string[] = [];
    const logger = { log: () => undefined, warn: (line: string) => void warnings.push(line), error: console.error };
    @Injectable()
    class RunsAtInit implements OnModuleInit {
      constructor(private readonly client: QTasksClient) {}
      async onModuleInit(): Promise<void> {
        // With a timeout, so that the bootstrap goes on: without one it would wait for ever.
        await expect(this.client.run('sum', [1, 2], { timeout: 200 })).rejects.toThrow(WaitTimeoutError);
      }
    }
    const app = await startNestApp({ backend: 'memory', logger }, [MathService, RunsAtInit]);
    try {
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(/^run of task "sum" waits for a worker to run the task, but none runs: .* onModuleInit hook/);
      warnings.length = 0;
      expect((await app.get(QTasksClient).run('sum', [2, 3], { timeout: 15_000 })).returning).toBe(5);
      expect(warnings).toEqual([]);
    } finally {
      await app.close();
    }
  });

  it('hands a task that outlives the grace time back to the queue, and another worker runs it', async () => {
    const name = uniqueAppName('handback');
    const first = await startNestApp({ name, url, config: { shutdownGraceMs: 100 } }, [MathService]);
    const abandoned = (gate = new Gate());
    const record = await first.get(QTasksClient).add('hold');
    await abandoned.reached;
    await first.close();
    gate = new Gate();
    const second = await startNestApp({ name, url }, [MathService]);
    try {
      await gate.reached;
      gate.open();
      abandoned.open();
      const done = await second.get(QTasksClient).wait(record.uuid, { timeout: 15_000 });
      expect(done.status).toBe('success');
      expect(done.stalls).toBe(0);
    } finally {
      await second.close();
    }
  });

  it('typed handles take the method parameters and resolve with its result', async () => {
    const app = await startNestApp({ name: uniqueAppName('typed'), url }, [MathService]);
    try {
      const client = app.get(QTasksClient);
      const sum = client.task(MathService, 'sum');
      const result: number = await sum.run(4, 5);
      expect(result).toBe(9);
      const record = await sum.with({ priority: 2 }).add(1, 2);
      expect(record.priority).toBe(2);
      await expect(client.task(MathService, 'fail').run()).rejects.toThrow(TaskFailedError);
      await expect(client.task(OtherService, 'add').run(1, 2)).rejects.toThrow(/OtherService.add is not a task/);
    } finally {
      await app.close();
    }
  });

  it('deleteFinishedTasks drops the record, yet wait still gets the final one', async () => {
    const name = uniqueAppName('delete');
    const app = await startNestApp({ name, url, config: { deleteFinishedTasks: true } }, [MathService]);
    try {
      const client = app.get(QTasksClient);
      const done = await client.run('sum', [7, 8], { timeout: 15_000 });
      expect(done.returning).toBe(15);
      expect(await client.get(done.uuid)).toBeNull();
    } finally {
      await app.close();
    }
  });

  it('resultTtlMs makes finished records expire', async () => {
    const name = uniqueAppName('ttl');
    const app = await startNestApp({ name, url, config: { resultTtlMs: 60_000 } }, [MathService]);
    try {
      const done = await app.get(QTasksClient).run('sum', [1, 2], { timeout: 15_000 });
      const ttl = await redis.pttl(`qtasks:{${name}}:t:${done.uuid}`);
      expect(ttl).toBeGreaterThan(50_000);
      expect(ttl).toBeLessThanOrEqual(60_000);
    } finally {
      await app.close();
    }
  });
});

function countTimers(): number {
  return process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;
}

describe('bootstrap against an unreachable Redis', () => {
  it('fails at once with RedisUnavailableError naming the cause, instead of hanging', async () => {
    const attempt = startNestApp({ name: uniqueAppName('down'), url: 'redis://127.0.0.1:1' }, [MathService]);
    await expect(attempt).rejects.toThrow(RedisUnavailableError);
    await expect(startNestApp({ name: uniqueAppName('down'), url: 'redis://127.0.0.1:1' }, [MathService])).rejects.toThrow(
      /Redis at 127.0.0.1:1\/0 is not reachable: connect ECONNREFUSED/,
    );
  });
});

describe('bad module options', () => {
  const url = inject('redisUrl');

  async function bootFailure(module: () => DynamicModule): Promise<unknown> {
    try {
      @Module({ imports: [module()], providers: [MathService] })
      class MisconfiguredModule {}
      const app = await Test.createTestingModule({ imports: [MisconfiguredModule] }).compile();
      await app.close();
      return 'booted';
    } catch (error) {
      return error;
    }
  }

  it.each([
    ['no options object', () => QTasksModule.forRoot(null as never), 'The options of QTasksModule.forRoot must be an object of options, got null.'],
    [
      'a factory returning nothing',
      () => QTasksModule.forRootAsync({ useFactory: async () => undefined as never }),
      'What the useFactory of QTasksModule.forRootAsync returns must be an object of options, got undefined.',
    ],
    [
      'no factory',
      () => QTasksModule.forRootAsync({ useClass: class {} } as never),
      'QTasksModule.forRootAsync needs useFactory: a function returning the options (useClass and useExisting are not supported).',
    ],
    ['interceptors not a list', () => QTasksModule.forRoot({ url, interceptors: {} as never }), 'interceptors must be a list of interceptor classes or instances, got {}.'],
    ['a bad url', () => QTasksModule.forRoot({ url: 'not a url' }), 'url must be a redis:// or rediss:// URL, or a Unix socket path; got "not a url".'],
    [
      'a misspelt setting',
      () => QTasksModule.forRoot({ name: uniqueAppName('misspelt'), url, config: { maxTaskProcess: 4 } } as QTasksModuleOptions),
      'config.maxTaskProcess is not a setting (did you mean maxTasksProcess?).',
    ],
    ['timers not a switch', () => QTasksModule.forRoot({ url, timers: 'no' as never }), 'timers must be true or false, got "no".'],
    ['a misspelt option', () => QTasksModule.forRoot({ url, webView: { port: 8411 } } as never), 'webView is not an option of QTasksModule (did you mean webview?).'],
    ['a misspelt switch', () => QTasksModule.forRoot({ url, timer: false } as never), 'timer is not an option of QTasksModule (did you mean timers?).'],
    [
      'a misspelt option from forRootAsync',
      () => QTasksModule.forRootAsync({ useFactory: () => ({ backend: 'memory', nmae: 'billing' }) as never }),
      'nmae is not an option of QTasksModule (did you mean name?).',
    ],
    ['a name that is no string', () => QTasksModule.forRoot({ backend: 'memory', name: 123 as never }), 'name must be a non-empty string, got 123.'],
    ['a logger without methods', () => QTasksModule.forRoot({ backend: 'memory', logger: {} as never }), 'logger must have log, warn and error functions; it has no log, warn, or error.'],
  ])('%s fails the bootstrap with InvalidOptionError naming the problem', async (_case, module, message) => {
    const failure = await bootFailure(module);
    expect(failure).toBeInstanceOf(InvalidOptionError);
    expect((failure as Error).message).toBe(message);
  });

  it('takes a Unix socket path as url, as the engine does', async () => {
    expect(await bootFailure(() => QTasksModule.forRoot({ url: '/var/run/redis/redis-server.sock' }))).toBe('booted');
  });

  it('accepts every option the README documents for forRoot', async () => {
    const documented = ['name', 'url', 'redis', 'client', 'backend', 'cluster', 'whenRedisDown', 'config', 'broker', 'storage', 'globalConfig', 'worker', 'starter', 'plugins', 'interceptors', 'timers', 'webview', 'logger', 'taskLogger'];
    // Unset, each is checked by name only: a key the module does not know fails even so.
    const options = { ...Object.fromEntries(documented.map((key) => [key, undefined])), backend: 'memory' } as QTasksModuleOptions;
    expect(await bootFailure(() => QTasksModule.forRoot(options))).toBe('booted');
  });
});

describe("a task's TaskContext parameter", () => {
  async function bootWith(provider: Function): Promise<unknown> {
    const app = await Test.createTestingModule({ imports: [QTasksTestingModule.forRoot()], providers: [provider as never] }).compile();
    try {
      await app.init();
      return await app.get(QTasksClient).run('report', ['2026-01']);
    } catch (error) {
      return error;
    } finally {
      await app.close();
    }
  }

  // Typed handles leave a TaskContext parameter out of the arguments (`add('2026-01')`): one that
  // nothing marks would get the month, and the month parameter nothing. TaskContext is imported as
  // a value above, as the README does: the emitted parameter types then name it.
  it.each([
    ['first', 'parameter 1', ', or set @Task({ echo: true })'],
    ['second', 'parameter 2', ''],
  ])('fails the bootstrap when it comes %s and nothing marks it', async (place, parameter, echo) => {
    @Injectable()
    class FirstUnmarked {
      @Task('report')
      async build(ctx: TaskContext, month: string): Promise<string> {
        return `${ctx.taskName} ${month}`;
      }
    }
    @Injectable()
    class SecondUnmarked {
      @Task('report')
      async build(month: string, ctx: TaskContext): Promise<string> {
        return `${ctx.taskName} ${month}`;
      }
    }
    const failure = await bootWith(place === 'first' ? FirstUnmarked : SecondUnmarked);
    expect(failure).toBeInstanceOf(InvalidOptionError);
    expect((failure as Error).message).toBe(
      `${place === 'first' ? 'FirstUnmarked' : 'SecondUnmarked'}.build takes a TaskContext as ${parameter}, which nothing marks: ` +
        `the worker would pass an enqueue argument there. Mark it with @TaskCtx()${echo}.`,
    );
  });

  it.each([
    ['echo', 'with echo'],
    ['@TaskCtx()', 'by @TaskCtx()'],
  ])('fails the bootstrap when %s puts it on a parameter typed otherwise', async (mark, how) => {
    @Injectable()
    class EchoOnMonth {
      @Task({ name: 'report', echo: true })
      async build(month: string): Promise<string> {
        return month;
      }
    }
    @Injectable()
    class MarkOnMonth {
      @Task('report')
      async build(@TaskCtx() month: string, ctx: object): Promise<string> {
        return `${month} ${String(ctx)}`;
      }
    }
    const failure = await bootWith(mark === 'echo' ? EchoOnMonth : MarkOnMonth);
    expect(failure).toBeInstanceOf(InvalidOptionError);
    expect((failure as Error).message).toBe(
      `${mark === 'echo' ? 'EchoOnMonth' : 'MarkOnMonth'}.build gets its TaskContext as parameter 1 (${how}), but that parameter is typed String: ` +
        'the context would replace an enqueue argument. Type it TaskContext, or move the mark to the context\'s parameter.',
    );
  });

  it('gets the context when @TaskCtx() or echo marks it', async () => {
    @Injectable()
    class Marked {
      @Task('report')
      async build(month: string, @TaskCtx() ctx: TaskContext): Promise<string> {
        return `${ctx.taskName} ${month}`;
      }
    }
    @Injectable()
    class Echoed {
      @Task({ name: 'report', echo: true })
      async build(ctx: TaskContext, month: string): Promise<string> {
        return `${ctx.taskName} ${month}`;
      }
    }
    for (const provider of [Marked, Echoed]) expect(await bootWith(provider)).toMatchObject({ status: 'success', returning: 'report 2026-01' });
  });

  it('gets the context on a parameter whose type the compiler could not name (tsc emits Function for `import type { TaskContext }`)', async () => {
    @Injectable()
    class TypeImported {
      @Task('report')
      async build(month: string, @TaskCtx() ctx: TaskContext): Promise<string> {
        return `${ctx.taskName} ${month}`;
      }
    }
    // What tsc emits for the sample's `import { type TaskContext }` (SWC, running these tests, names the class).
    Reflect.defineMetadata('design:paramtypes', [String, Function], TypeImported.prototype, 'build');
    expect(await bootWith(TypeImported)).toMatchObject({ status: 'success', returning: 'report 2026-01' });
  });
});

describe('QTasksModule imported more than once', () => {
  async function boot(imports: ModuleMetadata['imports']): Promise<unknown> {
    @Module({ imports })
    class AppModule {}
    const app = await Test.createTestingModule({ imports: [AppModule] }).compile();
    await app.close();
    return 'booted';
  }

  it.each([
    ['with the same options', 'audit'],
    ['under another name', 'reports'],
  ])('by a feature module and the root module (%s) fails the bootstrap instead of running two queues', async (_case, featureName) => {
    @Module({ imports: [QTasksModule.forRoot({ backend: 'memory', name: featureName })], providers: [MathService] })
    class FeatureModule {}
    const failure = await boot([QTasksModule.forRoot({ backend: 'memory', name: 'audit' }), FeatureModule]).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(InvalidOptionError);
    expect((failure as Error).message).toBe(
      'QTasksModule.forRoot or forRootAsync is imported 2 times in this app (QTasksTestingModule.forRoot counts as one), each import running a queue of its own: ' +
        'import it once, in the root module (it is global, so every module can inject its providers).',
    );
  });

  it('through QTasksTestingModule and forRootAsync alike', async () => {
    const failure = await boot([QTasksTestingModule.forRoot(), QTasksModule.forRootAsync({ useFactory: () => ({ backend: 'memory' }) })]).catch(
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(InvalidOptionError);
    expect((failure as Error).message).toMatch(/^QTasksModule.forRoot or forRootAsync is imported 2 times in this app/);
  });

  it('one forRoot value listed by two modules is one module, and boots', async () => {
    const qtasks = QTasksModule.forRoot({ backend: 'memory' });
    @Module({ imports: [qtasks], providers: [MathService] })
    class FeatureModule {}
    expect(await boot([qtasks, FeatureModule])).toBe('booted');
  });
});

/** A global module's provider that enqueues in its init hook and runs a task in its destroy hook: the records, or the errors. */
@Injectable()
class QueueUser implements OnModuleInit, OnModuleDestroy {
  atInit?: unknown;
  atDestroy?: unknown;

  constructor(private readonly client: QTasksClient) {}

  async onModuleInit(): Promise<void> {
    this.atInit = await this.client.add('sum', [1, 2]).catch((error: unknown) => error);
  }

  async onModuleDestroy(): Promise<void> {
    this.atDestroy = await this.client.run('sum', [3, 4], { timeout: 5_000 }).catch((error: unknown) => error);
  }
}

@Global()
@Module({ providers: [QueueUser], exports: [QueueUser] })
class QueueUserModule {}

describe('QTasksModule beside another global module', () => {
  it('runs its hooks first at bootstrap and last at shutdown even when imported after it', async () => {
    @Module({
      imports: [QueueUserModule, QTasksModule.forRoot({ name: uniqueAppName('global-order'), url: inject('redisUrl') })],
      providers: [MathService],
    })
    class AppModule {}
    const app = await Test.createTestingModule({ imports: [AppModule] }).compile();
    await app.init();
    const user = app.get(QueueUser);
    expect(user.atInit).toMatchObject({ status: 'new' });
    expect(await app.get(QTasksClient).wait((user.atInit as { uuid: string }).uuid, { timeout: 5_000 })).toMatchObject({ returning: 3 });
    await app.close();
    expect(user.atDestroy).toMatchObject({ status: 'success', returning: 7 });
  });
});
