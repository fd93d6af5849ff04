import { Injectable } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Redis } from 'ioredis';
import { AppStoppedError, MemoryBroker, MemoryGlobalConfig, MemoryStorage, QTasksClient, QueueTasks, RedisUnavailableError, Task, UnknownTaskError, NotSerializableError, WaitTimeoutError, WorkerStoppedError, type TaskContext, type WorkerStatus } from '../../lib/index.js';
import { BACKENDS } from '../helpers/backends.js';
import { Gate } from '../helpers/gate.js';
import { plainApps } from '../helpers/plain-app.js';
import { startRedisServer } from '../helpers/redis-server.js';
import { startNestApp } from '../helpers/nest-app.js';
import { uniqueAppName } from '../helpers/names.js';

@Injectable()
class Greeter {
  readonly prefix = 'User';
}

@Injectable()
class UsersService {
  constructor(private readonly greeter: Greeter) {}

  @Task({ name: 'test', priority: 0 })
  async record(id: number) {
    return `${this.greeter.prefix} ${id} recorded`;
  }

  @Task()
  explode(message: string): never {
    throw new TypeError(message);
  }
}

describe.each(BACKENDS)('core path on $name', (backend) => {
  let app: Awaited<ReturnType<typeof startNestApp>>;
  let client: QTasksClient;

  beforeAll(async () => {
    app = await startNestApp({ name: uniqueAppName('core'), ...backend.connection() }, [Greeter, UsersService]);
    client = app.get(QTasksClient);
  });
  afterAll(async () => app?.close());

  it('enqueues, runs the method on its instance and reads the result back', async () => {
    const task = await client.add('test', [5], { priority: 1 });
    expect(task.status).toBe('new');
    expect(task.priority).toBe(1);
    const done = await client.wait(task.uuid, { timeout: 15_000 });
    expect(done.status).toBe('success');
    expect(done.returning).toBe('User 5 recorded');
    expect(done.startedAt).toBeInstanceOf(Date);
    expect(done.finishedAt!.getTime()).toBeGreaterThanOrEqual(done.startedAt!.getTime());
    const same = await client.get(task.uuid);
    expect(same).toEqual(done);
  });

  it('run adds and waits', async () => {
    const record = await client.run('test', [6]);
    expect(record.returning).toBe('User 6 recorded');
  });

  it('a throwing task ends error with its message and stack', async () => {
    const record = await client.run('explode', ['boom'], { timeout: 15_000 });
    expect(record.status).toBe('error');
    expect(record.traceback).toMatch(/^TypeError: boom\n\s+at /);
    expect(record.returning).toBeUndefined();
  });

  it('unknown task names are refused at add', async () => {
    await expect(client.add('nope', [])).rejects.toThrow(UnknownTaskError);
    await expect(client.add('nope', [])).rejects.toThrow(/Unknown task "nope". Registered tasks: "test", "explode"/);
  });

  it('non-JSON arguments are refused', async () => {
    await expect(client.add('test', [10n])).rejects.toThrow(NotSerializableError);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    await expect(client.add('test', [cyclic])).rejects.toThrow(/\$\[0\]\.self is a circular reference/);
    await expect(client.add('test', [() => 1])).rejects.toThrow(/\$\[0\] is a function/);
  });
});

describe('a worker that stops before its task finished', () => {
  const apps = plainApps(inject('redisUrl'));
  afterAll(async () => apps.stopAll());

  it('aborts the task’s signal with WorkerStoppedError once the grace is over, and hands the task back', async () => {
    let seen: unknown;
    const started = new Gate();
    const app = await apps.start(
      'stop-aborts',
      (registered) =>
        registered.task({ name: 'listen', echo: true }, async (ctx: TaskContext) => {
          void started.pass();
          // Ends only when its signal aborts: the worker stopping is the only way out.
          await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve, { once: true }));
          seen = ctx.signal.reason;
        }),
      { config: { shutdownGraceMs: 100 } },
    );
    const task = await app.add('listen');
    await started.reached;
    await app.stopWork();
    expect(seen).toBeInstanceOf(WorkerStoppedError);
    expect((seen as WorkerStoppedError).code).toBe('WORKER_STOPPED');
    expect((await app.get(task.uuid))!.status).toBe('new');
  });

  it('drops the late outcome of a task it handed back at the end of the grace: a later startWork neither sends it nor warns of a discarded result', async () => {
    const warnings: string[] = [];
    const started = new Gate();
    const app = await apps.start(
      'stop-late-outcome',
      (registered) =>
        registered.task('slow', async () => {
          void started.pass();
          // Deaf to its signal: it ends after the grace, its task handed back by then.
          await new Promise((resolve) => setTimeout(resolve, 400));
          return 'done';
        }),
      { config: { shutdownGraceMs: 100 }, logger: { log: () => undefined, warn: (line: string) => void warnings.push(line), error: console.error } },
    );
    const task = await app.add('slow');
    await started.reached;
    await app.stopWork();
    expect((await app.get(task.uuid))!.status).toBe('new');
    await new Promise((resolve) => setTimeout(resolve, 500)); // the first run ends meanwhile
    await app.startWork();
    expect(await app.wait(task.uuid, { timeout: 5_000 })).toMatchObject({ status: 'success', returning: 'done' });
    expect(warnings.filter((line) => line.includes('result was discarded'))).toEqual([]);
  });
});

describe('a stop() or stopWork() called while stopWork() waits for a running task', () => {
  const apps = plainApps(inject('redisUrl'));
  afterAll(async () => apps.stopAll());

  it('ends only once the task has finished, its result stored before the connections close', async () => {
    const gate = new Gate();
    const app = await apps.start('stop-during-stop-work', (registered) =>
      registered.task('slow', async () => {
        await gate.pass();
        return 'done';
      }),
    );
    const task = await app.add('slow');
    await gate.reached;
    const ended: string[] = [];
    const stops = [
      app.stopWork().then(() => ended.push('first stopWork')),
      app.stopWork().then(() => ended.push('second stopWork')),
      app.stop().then(() => ended.push('stop')),
    ];
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(ended).toEqual([]);
    gate.open();
    await Promise.all(stops);
    const reader = new QueueTasks({ name: app.name, url: inject('redisUrl'), worker: false });
    try {
      expect(await reader.get(task.uuid)).toMatchObject({ status: 'success', returning: 'done' });
    } finally {
      await reader.stop();
    }
  });
});

describe('a start() called while another is under way', () => {
  const quiet = { log: () => undefined, warn: console.warn, error: console.error };

  it('rejects as that one does when Redis is unreachable, and a later start tries again', async () => {
    // Port 1: nothing listens there.
    const app = new QueueTasks({ name: uniqueAppName('start-twice-down'), url: 'redis://127.0.0.1:1', whenRedisDown: 'fail', logger: quiet });
    app.task('double', (n: number) => n * 2);
    const outcomes = await Promise.allSettled([app.start(), app.start()]);
    expect(outcomes.map((outcome) => outcome.status)).toEqual(['rejected', 'rejected']);
    for (const outcome of outcomes) expect((outcome as PromiseRejectedResult).reason).toBeInstanceOf(RedisUnavailableError);
    await expect(app.start()).rejects.toBeInstanceOf(RedisUnavailableError);
  });

  it('resolves only once the app is started', async () => {
    const app = new QueueTasks({ name: uniqueAppName('start-twice'), url: inject('redisUrl'), logger: quiet });
    app.task('double', (n: number) => n * 2);
    const events: string[] = [];
    // Holds the first start in its start triggers, past the moment the second call is made.
    const slowStart = async () => {
      await new Promise((resolve) => setTimeout(resolve, 200));
      events.push('started');
    };
    app.addPlugin({ name: 'SlowStart', handlers: { starter_start: slowStart } }, { triggers: ['starter_start'] });
    try {
      await Promise.all([app.start(), app.start().then(() => events.push('second start resolved'))]);
      expect(events).toEqual(['started', 'second start resolved']);
    } finally {
      await app.stop();
    }
  });
});

describe('a run or wait on an app whose worker has not started', () => {
  const apps = plainApps(inject('redisUrl'));
  afterAll(async () => apps.stopAll());

  it('warns only while no other worker sends heartbeats and the task waited for has not finished', async () => {
    const worker = await apps.start('no-worker-runs', (app) => app.task('double', (n: number) => n * 2));
    const warnings: string[] = [];
    const caller = new QueueTasks({ name: worker.name, url: inject('redisUrl'), logger: { log: () => undefined, warn: (line: string) => void warnings.push(line), error: console.error } });
    caller.task('double', (n: number) => n * 2);
    try {
      const done = await caller.run('double', [21], { timeout: 15_000 });
      expect(done.returning).toBe(42);
      await worker.stop();
      await caller.wait(done.uuid, { timeout: 1_000 });
      expect(warnings).toEqual([]);
      const pending = await caller.add('double', [1]);
      await expect(caller.wait(pending.uuid, { timeout: 200 })).rejects.toThrow(WaitTimeoutError);
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(new RegExp(`^wait of task ${pending.uuid} waits for a worker to run the task, but none runs: this app's own has not started \\(or was stopped\\)`));
    } finally {
      await caller.stop();
    }
  });
});

describe('calls on a stopped app', () => {
  it('are refused with AppStoppedError, sending nothing and opening no connection; a new start makes them work again', async () => {
    // A Redis of its own, so that its client count is this test's alone.
    const server = await startRedisServer();
    const redis = new Redis(server.url);
    const app = new QueueTasks({ name: uniqueAppName('stopped'), url: server.url, logger: { log: () => undefined, warn: console.warn, error: console.error } });
    app.task('double', (n: number) => n * 2);
    try {
      await app.start();
      const { uuid } = await app.run('double', [1], { timeout: 10_000 });
      await app.stop();
      const calls = {
        add: () => app.add('double', [2]),
        addBulk: () => app.addBulk([{ name: 'double', args: [3] }]),
        get: () => app.get(uuid),
        wait: () => app.wait(uuid, { timeout: 1_000 }),
        run: () => app.run('double', [4], { timeout: 1_000 }),
        cancel: () => app.cancel(uuid),
        pause: () => app.pause(),
        'globalConfig.set': () => app.globalConfig!.set('key', 1),
        'globalConfig.get': () => app.globalConfig!.get('key'),
      };
      for (const [name, call] of Object.entries(calls)) {
        const error = await call().then(() => undefined, (e: unknown) => e);
        expect(error, name).toBeInstanceOf(AppStoppedError);
        expect((error as AppStoppedError).code, name).toBe('APP_STOPPED');
        expect((error as Error).message, name).toMatch(/^App "stopped-\w+" is stopped .*: nothing was sent, so nothing was stored or changed/);
      }
      // Only this test's own client: no wait opened a subscription.
      expect(String(await redis.client('LIST')).trim().split('\n')).toHaveLength(1);
      await app.start();
      expect((await app.run('double', [5], { timeout: 10_000 })).returning).toBe(10);
    } finally {
      await app.stop();
      redis.disconnect();
      await server.destroy();
    }
  });
});

describe('calls on a stopped app on the memory backend', () => {
  it('are refused with AppStoppedError as on Redis, instead of being stored never to run; a new start makes them work again', async () => {
    const app = new QueueTasks({ backend: 'memory', logger: { log: () => undefined, warn: console.warn, error: console.error } });
    app.task('double', (n: number) => n * 2);
    await app.start();
    const { uuid } = await app.run('double', [1], { timeout: 5_000 });
    await app.stop();
    const calls = {
      add: () => app.add('double', [2]),
      addOnce: () => app.addOnce('double', [2], { uniqueKey: 'once', uniqueTtlMs: 1_000 }),
      get: () => app.get(uuid),
      wait: () => app.wait(uuid),
      run: () => app.run('double', [4]),
      cancel: () => app.cancel(uuid),
      requeue: () => app.requeue(uuid),
      resume: () => app.resume(),
    };
    for (const [name, call] of Object.entries(calls)) {
      expect(await call().then(() => undefined, (e: unknown) => e), name).toBeInstanceOf(AppStoppedError);
    }
    await app.start();
    try {
      expect((await app.run('double', [5], { timeout: 5_000 })).returning).toBe(10);
    } finally {
      await app.stop();
    }
  });
});

describe('a stop() called while start() is under way', () => {
  const stopPoints = {
    'right after start() was called': () => Promise.resolve(),
    'while a broker_listen_start handler runs': (app: QueueTasks) =>
      new Promise<void>((entered) => {
        const slowListen = async () => {
          entered();
          await new Promise((resolve) => setTimeout(resolve, 200));
        };
        app.addPlugin({ name: 'SlowListen', handlers: { broker_listen_start: slowListen } }, { triggers: ['broker_listen_start'] });
      }),
  };
  for (const [when, reached] of Object.entries(stopPoints)) {
    it(`${when}: the start rejects with AppStoppedError, and nothing is left running or connected`, async () => {
      // A Redis of its own, so that its client count is this test's alone.
      const server = await startRedisServer();
      const redis = new Redis(server.url);
      const errors: string[] = [];
      const app = new QueueTasks({
        name: uniqueAppName('stop-in-start'),
        url: server.url,
        logger: { log: () => undefined, warn: console.warn, error: (message: string) => errors.push(message) },
      });
      app.task('double', (n: number) => n * 2);
      const stopReached = reached(app);
      try {
        const started = app.start().then(() => 'started', (error: unknown) => error);
        await stopReached;
        await app.stop();
        const outcome = await started;
        expect(outcome).toBeInstanceOf(AppStoppedError);
        expect((outcome as Error).message).toMatch(/is stopped by a stop\(\) called while its start\(\) was under way/);
        // A worker started after the stop would log failed claims; its connections would stay open.
        await new Promise((resolve) => setTimeout(resolve, 500));
        expect(errors).toEqual([]);
        expect(String(await redis.client('LIST')).trim().split('\n')).toHaveLength(1);
      } finally {
        await app.stop();
        redis.disconnect();
        await server.destroy();
      }
    });
  }

  it('during the worker\'s recovery sweep: no heartbeat is written after the stop', async () => {
    let beats = 0;
    class CountingConfig extends MemoryGlobalConfig {
      override async setStatus(status: WorkerStatus, ttlMs: number): Promise<void> {
        beats++;
        return super.setStatus(status, ttlMs);
      }
    }
    const sweepEntered = new Gate();
    class SlowRecoveryBroker extends MemoryBroker {
      override async recover(...args: Parameters<MemoryBroker['recover']>) {
        void sweepEntered.pass();
        await new Promise((resolve) => setTimeout(resolve, 300)); // a sweep on a busy Redis
        return super.recover(...args);
      }
    }
    const globalConfig = new CountingConfig();
    const broker = new SlowRecoveryBroker({ storage: new MemoryStorage({ globalConfig }) });
    const errors: string[] = [];
    const logger = { log: () => undefined, warn: () => undefined, error: (message: string) => errors.push(message) };
    const app = new QueueTasks({ broker, logger, config: { globalConfigStatusTtlMs: 200 } });
    app.task('double', (n: number) => n * 2);
    const started = app.start().then(() => 'started', (error: unknown) => error);
    await sweepEntered.reached;
    await app.stop();
    expect(await started).toBeInstanceOf(AppStoppedError);
    const afterStop = beats;
    await new Promise((resolve) => setTimeout(resolve, 600)); // three heartbeat periods
    expect(beats).toBe(afterStop);
    // Opened again (a stopped GlobalConfig refuses calls) to read what the stop left.
    await globalConfig.start();
    expect(await globalConfig.workers()).toEqual([]);
    expect(errors).toEqual([]);
  });

  it('start() called while stop() is under way begins once the stop has ended, and the app is up', async () => {
    const app = new QueueTasks({ name: uniqueAppName('start-in-stop'), url: inject('redisUrl') });
    app.task('double', (n: number) => n * 2);
    await app.start();
    const stopping = app.stop();
    try {
      await app.start();
      await stopping;
      expect((await app.run('double', [21], { timeout: 5_000 })).returning).toBe(42);
    } finally {
      await app.stop();
    }
  });

  it('start() called once that stop() resolved is a new start, which succeeds', async () => {
    const app = new QueueTasks({ backend: 'memory', logger: { log: () => undefined, warn: console.warn, error: console.error } });
    app.task('double', (n: number) => n * 2);
    const slowStart = new Gate();
    // Still running when the stop is done with the components: the start ends only after it.
    const starterStart = async () => {
      void slowStart.pass();
      await new Promise((resolve) => setTimeout(resolve, 300));
    };
    app.addPlugin({ name: 'SlowStart', handlers: { starter_start: starterStart } });
    const first = app.start().then(() => 'started', (error: unknown) => error);
    await slowStart.reached;
    await app.stop();
    const second = app.start(); // at once: not the first start, still ending
    try {
      expect(await first).toBeInstanceOf(AppStoppedError);
      await second;
      expect((await app.run('double', [21], { timeout: 5_000 })).returning).toBe(42);
    } finally {
      await app.stop();
    }
  });
});
