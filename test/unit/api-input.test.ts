import { Injectable, Module } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import {
  AsyncWorker,
  DuplicateTaskError,
  InvalidOptionError,
  MemoryStorage,
  NotAttachedError,
  NotSerializableError,
  OnTrigger,
  PluginRunner,
  QTasksClient,
  QTasksError,
  QueueTasks,
  Task,
  TaskContext,
  TaskCtx,
  ThreadWorker,
  UnknownTaskError,
  UseTaskInterceptors,
  WebView,
  type QTasksLogger,
  type TaskPlugin,
} from '../../lib/index.js';
import { resolveConfig } from '../../lib/core/config.js';
import { assertRedisInstalled, QTasksTesting, QTasksTestingModule, startRedisServer } from '../../lib/testing/index.js';
import { raceTimeout } from '../../lib/core/timing.js';
import { eventually } from '../helpers/eventually.js';
import { Gate } from '../helpers/gate.js';

const quiet: QTasksLogger = { log: () => undefined, warn: console.warn, error: console.error };

describe('settings from the environment', () => {
  it('a bad value is named by the variable that set it', () => {
    expect(() => resolveConfig({}, { QTASKS_MAX_TASKS_PROCESS: '0' })).toThrow(
      'Environment variable QTASKS_MAX_TASKS_PROCESS: config.maxTasksProcess must be a positive integer, got 0.',
    );
    // Set in code too: the code's value is the one refused.
    expect(() => resolveConfig({ maxTasksProcess: 0 }, { QTASKS_MAX_TASKS_PROCESS: '3' })).toThrow(
      /^config.maxTasksProcess must be a positive integer, got 0.$/,
    );
  });

  it('an empty variable is refused, not read as 0', () => {
    expect(() => resolveConfig({}, { QTASKS_MAX_STALLS: '' })).toThrow('Environment variable QTASKS_MAX_STALLS: config.maxStalls must be a number, got "".');
    expect(() => resolveConfig({}, { QTASKS_RESULT_TTL_MS: ' ' })).toThrow(InvalidOptionError);
  });
});

describe('worker options', () => {
  it.each([0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '4'])('refuses maxTasksProcess %s, which would claim nothing', (value) => {
    expect(() => new AsyncWorker({ maxTasksProcess: value as number })).toThrow(InvalidOptionError);
    expect(() => new AsyncWorker({ maxTasksProcess: value as number })).toThrow(`maxTasksProcess of AsyncWorker must be a positive integer`);
    expect(() => new ThreadWorker({ maxTasksProcess: value as number })).toThrow('maxTasksProcess of ThreadWorker must be a positive integer');
  });

  it('names a non-finite value as it is, not as JSON writes it (null)', () => {
    expect(() => new AsyncWorker({ maxTasksProcess: Number.NaN })).toThrow('maxTasksProcess of AsyncWorker must be a positive integer, got NaN.');
    expect(() => new AsyncWorker({ maxTasksProcess: -Infinity })).toThrow('got -Infinity.');
  });

  it('ThreadWorker refuses execArgv that is not a list of strings when built, not at start', () => {
    expect(() => new ThreadWorker({ execArgv: '--inspect' as never })).toThrow(
      'execArgv of ThreadWorker must be a list of Node options (strings), got "--inspect".',
    );
  });

  it.each([
    [null, 'must be an object, got null'],
    [{ maxOldGenerationMb: 64 }, 'has no option "maxOldGenerationMb" (it takes maxOldGenerationSizeMb, maxYoungGenerationSizeMb, codeRangeSizeMb, stackSizeMb)'],
    [{ maxOldGenerationSizeMb: '64' }, '.maxOldGenerationSizeMb must be a positive number of MB, got "64"'],
    [{ stackSizeMb: 0 }, '.stackSizeMb must be a positive number of MB, got 0'],
  ])('ThreadWorker refuses resourceLimits %j that Node would ignore, when built', (resourceLimits, detail) => {
    expect(() => new ThreadWorker({ resourceLimits: resourceLimits as never })).toThrow(`resourceLimits of ThreadWorker ${detail}.`);
  });

  it('a worker started on its own, with no app, says so with NotAttachedError', async () => {
    const error: unknown = await new AsyncWorker().start().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(NotAttachedError);
    expect(error).toMatchObject({ code: 'NOT_ATTACHED', message: expect.stringContaining('AsyncWorker was used before it was attached to an app') });
  });
});

describe('plugin registration', () => {
  const plugin: TaskPlugin = { name: 'audit', handlers: { app_get: () => undefined } };

  it.each([
    ['a null plugin', null, undefined, 'A plugin must be an object with handlers by trigger name, got null.'],
    ['a plugin without handlers', { name: 'bare' }, undefined, 'Plugin "bare" needs `handlers`'],
    ['null options', plugin, null, 'The options of plugin "audit" must be an object, got null.'],
    ['triggers that are no list', plugin, { triggers: 'app_get' }, 'triggers of plugin "audit" must be a list of trigger names, got "app_get".'],
    ['a misspelt component', plugin, { component: 'ap' }, 'component of plugin "audit" must be one of app, broker'],
  ])('refuses %s with InvalidOptionError', (_case, given, options, message) => {
    const runner = new PluginRunner();
    expect(() => runner.add(given as TaskPlugin, options as never)).toThrow(InvalidOptionError);
    expect(() => runner.add(given as TaskPlugin, options as never)).toThrow(message);
  });
});

describe('decorators', () => {
  class Holder {
    static build(): void {}
    get value(): number {
      return 1;
    }
    run(): void {}
  }
  const methodOf = (target: object, key: string) => Object.getOwnPropertyDescriptor(target, key)!;

  it.each([
    ['@Task()', Task()],
    ['@OnTrigger()', OnTrigger('app_get')],
    ['@UseTaskInterceptors()', UseTaskInterceptors()],
  ])('%s refuses a static method and an accessor, which the explorers would skip silently', (name, decorator) => {
    expect(() => decorator(Holder, 'build', methodOf(Holder, 'build'))).toThrow(`${name} applies to instance methods, but Holder.build is static.`);
    expect(() => decorator(Holder.prototype, 'value', methodOf(Holder.prototype, 'value'))).toThrow(
      `${name} applies to methods, but Holder.value is an accessor.`,
    );
    expect(() => decorator(Holder.prototype, 'run', methodOf(Holder.prototype, 'run'))).not.toThrow();
  });

  it.each([
    ['@Task()', Task()],
    ['@OnTrigger()', OnTrigger('app_get')],
    ['@UseTaskInterceptors()', UseTaskInterceptors()],
  ])('%s on a property (an arrow function) is refused naming it, not a TypeError', (name, decorator) => {
    const define = () => {
      class Mailer {
        // tsc refuses this; SWC and esbuild builds run it, with no descriptor.
        // @ts-expect-error a method decorator on a property
        @decorator send = async () => 'sent';
      }
      return Mailer;
    };
    expect(define).toThrow(InvalidOptionError);
    expect(define).toThrow(`${name} applies to methods, but Mailer.send is a property: make it a method (send() { ... }).`);
  });

  it('@OnTrigger() naming no trigger is refused naming the method, which would never run', () => {
    const decorate = () => OnTrigger()(Holder.prototype, 'run', methodOf(Holder.prototype, 'run'));
    expect(decorate).toThrow(InvalidOptionError);
    expect(decorate).toThrow("@OnTrigger() on Holder.run names no trigger: give the ones it handles (@OnTrigger('worker_execute_after')).");
  });

  it('@TaskCtx() on a constructor parameter is refused: only a task method gets a context', () => {
    class Service {}
    expect(() => TaskCtx()(Service, undefined, 0)).toThrow('@TaskCtx() marks a parameter of a task method, not of the constructor of Service.');
  });

  it('@Task(null) is refused instead of leaving the method no task', () => {
    expect(() => Task(null as never)).toThrow(InvalidOptionError);
    expect(() => Task(null as never)).toThrow('@Task() takes a task name or an object of options, got null.');
  });
});

describe('testing helpers', () => {
  it.each([Number.NaN, -5, 0, Number.POSITIVE_INFINITY, 2 ** 31])('drain() refuses timeout %s (it would time out at once)', async (timeout) => {
    const app = new QueueTasks({ backend: 'memory', logger: quiet });
    const gate = new Gate();
    app.task('hold', () => gate.pass());
    await app.start();
    try {
      await app.add('hold');
      await gate.reached;
      const error: unknown = await new QTasksTesting(app).drain({ timeout }).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(InvalidOptionError);
      expect((error as Error).message).toContain('timeout of drain() must be a number of milliseconds from 1 to 2147483647');
    } finally {
      gate.open();
      await app.stop();
    }
  });

  it('startRedisServer and assertRedisInstalled fail with RedisServerError naming the missing binary', () => {
    let error: unknown;
    try {
      assertRedisInstalled('qtasks-no-such-redis-server');
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(QTasksError);
    expect(error).toMatchObject({ name: 'RedisServerError', code: 'REDIS_SERVER' });
    expect((error as Error).message).toContain('qtasks-no-such-redis-server was not found on PATH');
  });

  it('a private redis-server killed by a signal is still stopped and removed at once', async () => {
    const server = await startRedisServer();
    const probe = new Redis(server.url);
    const pid = Number(/process_id:(\d+)/.exec(await probe.info('server'))![1]);
    probe.disconnect();
    process.kill(pid, 'SIGKILL');
    await eventually('redis-server to be gone', async () => {
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    });
    await new Promise((resolve) => setTimeout(resolve, 100)); // its exit event is handled first
    expect(await raceTimeout(server.destroy().then(() => 'stopped'), 5_000, () => 'hung')).toBe('stopped');
  });

  describe('runInline', () => {
    @Injectable()
    class Pricing {
      @Task()
      total(price: number, quantity: number): number {
        return price * quantity;
      }
    }

    let moduleRef: TestingModule | undefined;
    afterEach(async () => {
      await moduleRef?.close();
      moduleRef = undefined;
    });

    const boot = async () => {
      @Module({ imports: [QTasksTestingModule.forRoot({ logger: quiet })], providers: [Pricing] })
      class PricingModule {}
      moduleRef = await Test.createTestingModule({ imports: [PricingModule] }).compile();
      await moduleRef.init();
      return { client: moduleRef.get(QTasksClient), testing: moduleRef.get(QTasksTesting) };
    };

    it('runs a typed handle', async () => {
      const { client, testing } = await boot();
      const record = await testing.runInline(client.task(Pricing, 'total'), [3, 4]);
      expect(record).toMatchObject({ taskName: 'total', status: 'success', returning: 12 });
    });

    it('leaves out trailing undefined arguments as add does (an optional parameter not given)', async () => {
      const { testing } = await boot();
      expect(await testing.runInline('total', [3, 4, undefined])).toMatchObject({ status: 'success', args: [3, 4], returning: 12 });
      await expect(testing.runInline('total', [3, undefined, 4])).rejects.toThrow(/\$\[1\] is undefined/);
    });

    it('refuses arguments that are not a list', async () => {
      const { testing } = await boot();
      await expect(testing.runInline('total', { price: 3 } as never)).rejects.toThrow(
        'Arguments of task "total" must be an array, got {"price":3}.',
      );
    });
  });
});

describe('dashboard options', () => {
  it('WebView refuses a refreshMs past what a browser timer waits, which would poll every millisecond', () => {
    expect(() => new WebView({ name: 'app', url: 'redis://127.0.0.1:1', refreshMs: 2 ** 31 })).toThrow(InvalidOptionError);
    expect(() => new WebView({ name: 'app', url: 'redis://127.0.0.1:1', refreshMs: 2 ** 31 })).toThrow(
      'WebView refreshMs must be at most 2147483647 ms, about 24.8 days (a longer timer fires at once), got 2147483648.',
    );
  });
});

describe('the engine', () => {
  it('refuses options that are not an object, and a handler that is not a function', () => {
    expect(() => new QueueTasks(null as never)).toThrow('QueueTasks options must be an object, got null.');
    expect(() => new QueueTasks({ backend: 'memory' }).task('x', 'oops' as never)).toThrow(
      'Task "x" needs a function as its handler, got "oops".',
    );
  });

  it('refuses a task name registered twice by look-alike plain functions, saying so rather than "by X and by X"', () => {
    const app = new QueueTasks({ backend: 'memory' });
    app.task('ok', () => 'first');
    const again = () => app.task('ok', () => 'second');
    expect(again).toThrow(DuplicateTaskError);
    expect(again).toThrow('Task name "ok" is registered twice, both times by function ok.');
  });

  it.each([
    ['a misspelt option', { nmae: 'billing' }, 'nmae is not an option of QueueTasks (did you mean name?).'],
    ['an option of the Nest module only', { timers: false }, 'timers is not an option of QueueTasks; the options are name, backend, url,'],
    ['a name that is no string', { name: 123 }, 'name must be a non-empty string, got 123.'],
    ['an empty name', { name: '' }, 'name must be a non-empty string, got "".'],
    ['a logger without methods', { logger: { log: () => undefined } }, 'logger must have log, warn and error functions; it has no warn or error.'],
  ])('refuses %s with a typed error naming it, instead of ignoring it or failing later', (_case, options, message) => {
    const build = () => new QueueTasks({ backend: 'memory', ...(options as object) });
    expect(build).toThrow(InvalidOptionError);
    expect(build).toThrow(message);
  });

  it('refuses a url that is no Redis address at once, instead of failing start() with a socket error', () => {
    const message = 'url must be a redis:// or rediss:// URL, or a Unix socket path; got "http://127.0.0.1:6379".';
    for (const build of [
      () => new QueueTasks({ url: 'http://127.0.0.1:6379' }),
      () => new WebView({ name: 'app', url: 'http://127.0.0.1:6379' }),
    ]) {
      expect(build).toThrow(InvalidOptionError);
      expect(build).toThrow(message);
    }
    expect(() => new QueueTasks({ url: '/tmp/redis.sock' })).not.toThrow();
  });

  it('refuses a connectTimeout longer than a timer can wait', () => {
    const build = () => new QueueTasks({ url: 'redis://127.0.0.1:6379', redis: { connectTimeout: 2 ** 31 } });
    expect(build).toThrow(InvalidOptionError);
    expect(build).toThrow('connectTimeout must be at most 2147483647 ms, about 24.8 days (a longer timer fires at once), got 2147483648.');
  });

  it.each([
    ['globalConfig', true, 'globalConfig must be a GlobalConfig or null, got true.'],
    ['worker', 'threads', 'worker must be a Worker or false, got "threads".'],
    ['broker', null, 'broker must be a Broker, got null.'],
    ['logger', 'console', 'logger must be a logger, got "console".'],
    ['plugins', {}, 'plugins must be a list, got {}.'],
  ])('refuses a component option of the wrong kind (%s) with a typed error naming it', (key, value, message) => {
    const build = () => new QueueTasks({ backend: 'memory', [key]: value });
    expect(build).toThrow(InvalidOptionError);
    expect(build).toThrow(message);
  });

  it.each([
    ['no max', { windowMs: 1000 }, 'rateLimit of task at function send needs max, a whole number of starts above 0; got {"windowMs":1000}.'],
    ['a max of 0', { max: 0, windowMs: 1000 }, 'needs max, a whole number of starts above 0'],
    ['a fractional max', { max: 1.5, windowMs: 1000 }, 'needs max, a whole number of starts above 0'],
    ['null', null, 'needs max, a whole number of starts above 0; got null.'],
    ['no window', { max: 5 }, 'rateLimit of task at function send needs windowMs, a whole number of milliseconds from 1 to 2147483647; got undefined.'],
    ['a window of 0.5 ms', { max: 5, windowMs: 0.5 }, 'needs windowMs, a whole number of milliseconds from 1 to 2147483647; got 0.5.'],
    ['a window past the timer range', { max: 5, windowMs: 2 ** 31 }, 'got 2147483648.'],
  ])('refuses a rateLimit with %s, naming the task', (_case, rateLimit, message) => {
    const app = new QueueTasks({ backend: 'memory' });
    expect(() => app.task({ name: 'send', rateLimit: rateLimit as never }, () => undefined)).toThrow(InvalidOptionError);
    expect(() => app.task({ name: 'send', rateLimit: rateLimit as never }, () => undefined)).toThrow(message);
  });

  it.each([
    ['0', 0, 'maxRunning of task at function send must be a whole number of tasks above 0; got 0.'],
    ['a fraction', 2.5, 'got 2.5.'],
    ['a string', '3', 'got "3".'],
  ])('refuses a maxRunning of %s, naming the task', (_case, maxRunning, message) => {
    const app = new QueueTasks({ backend: 'memory' });
    expect(() => app.task({ name: 'send', maxRunning: maxRunning as never }, () => undefined)).toThrow(InvalidOptionError);
    expect(() => app.task({ name: 'send', maxRunning: maxRunning as never }, () => undefined)).toThrow(message);
  });

  it('refuses a wait timeout that is no whole number of ms, before anything is enqueued', async () => {
    const storage = new MemoryStorage();
    const app = new QueueTasks({ storage, worker: false, logger: quiet }).task('job', () => 1);
    await app.start();
    try {
      const { uuid } = await app.add('job');
      for (const timeout of [1.5, Number.NaN, -1, 2 ** 31]) {
        const refused = await app.wait(uuid, { timeout }).catch((error: unknown) => error);
        expect(refused).toBeInstanceOf(InvalidOptionError);
        expect((refused as Error).message).toContain('timeout of wait/run must be a whole number of milliseconds from 0 to 2147483647');
        await expect(app.run('job', [], { timeout })).rejects.toThrow(InvalidOptionError);
      }
      expect(storage.all()).toHaveLength(1);
    } finally {
      await app.stop();
    }
  });

  it('refuses call options that are no object, and a cancel reason that is no string, naming the call, before anything is stored', async () => {
    const storage = new MemoryStorage();
    const app = new QueueTasks({ storage, worker: false, logger: quiet }).task('job', () => 1);
    await app.start();
    try {
      const { uuid } = await app.add('job', [], { delay: 60_000 });
      const refusals: [Promise<unknown>, string][] = [
        [app.addOnce('job', [], undefined as never), 'The options of addOnce of task "job" must be an object, got undefined.'],
        [app.run('job', [], null as never), 'The options of run of task "job" must be an object, got null.'],
        [app.wait(uuid, null as never), `The options of wait of task ${uuid} must be an object, got null.`],
        // Redis would have stored these as "[object Object]" and "".
        [app.cancel(uuid, { why: 'duplicate' } as never), `The reason to cancel task ${uuid} must be a string, got {"why":"duplicate"}.`],
        [app.cancel(uuid, null as never), `The reason to cancel task ${uuid} must be a string, got null.`],
      ];
      for (const [call, message] of refusals) {
        const refused = await call.catch((error: unknown) => error);
        expect(refused).toBeInstanceOf(InvalidOptionError);
        expect((refused as Error).message).toBe(message);
      }
      expect(storage.all().map(({ status }) => status)).toEqual(['new']);
    } finally {
      await app.stop();
    }
  });

  it('addBulk refuses a list that is not one, or an item that is no object, naming it', async () => {
    const app = new QueueTasks({ backend: 'memory', worker: false, logger: quiet }).task('job', () => 1);
    await expect(app.addBulk(null as never)).rejects.toThrow('addBulk takes an array of { name, args? } items, got null.');
    await expect(app.addBulk([{ name: 'job' }, null as never])).rejects.toThrow('Each item of addBulk must be an object { name, args? }, got null.');
  });

  it('a task cancelling itself with a reason that is no string ends error saying so, instead of cancel with "[object Object]"', async () => {
    const app = new QueueTasks({ backend: 'memory', worker: false, logger: quiet }).task({ name: 'giveUp', echo: true }, (ctx: TaskContext, why: unknown) =>
      ctx.cancel(why as string),
    );
    const testing = new QTasksTesting(app);
    expect(await testing.runInline('giveUp', ['duplicate'])).toMatchObject({ status: 'cancel', cancelReason: 'duplicate' });
    const refused = await testing.runInline('giveUp', [{ code: 7 }]);
    expect(refused).toMatchObject({ status: 'error' });
    expect(refused.cancelReason).toBeUndefined();
    expect(refused.traceback).toMatch(/^InvalidOptionError: Task giveUp \(inline-giveUp\) cancelled itself with a reason that is no string: \{"code":7\}\./);
  });

  it("addBulk's refusal of one item names the item, keeping the error's class, and stores none of the list", async () => {
    const storage = new MemoryStorage();
    const app = new QueueTasks({ storage, worker: false, logger: quiet }).task('job', (n: number) => n);
    const jobs = (count: number) => Array.from({ length: count }, (_, n) => ({ name: 'job', args: [n] }));
    const refusals: [unknown[], Function, string][] = [
      [[...jobs(3), { name: 'job', args: [1n] }], NotSerializableError, 'Item 3 of addBulk: Arguments of task "job" cannot be stored as JSON: $[0] is a BigInt.'],
      [[...jobs(1), { name: 'jbo' }, ...jobs(2)], UnknownTaskError, 'Item 1 of addBulk: Unknown task "jbo". Registered tasks: "job".'],
      [[...jobs(2), { name: 'job', priority: 0.5 }], InvalidOptionError, 'Item 2 of addBulk: priority of task "job" must be an integer'],
    ];
    for (const [items, type, message] of refusals) {
      const refused = await app.addBulk(items as never).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(type);
      expect((refused as Error).message).toContain(message);
    }
    // A lone add says nothing of a list.
    await expect(app.add('job', [1n])).rejects.toThrow(/^Arguments of task "job"/);
    expect(storage.all()).toEqual([]);
  });
});
