import { Injectable, Module } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import { afterEach, describe, expect, inject, it, vi } from 'vitest';
import { IsString } from 'class-validator';
import { InvalidOptionError, QTasksClient, QueueTasks, Task, TaskValidationError, UnknownTaskError, type TaskContext } from '../../lib/index.js';
import { DrainTimeoutError, QTasksTesting, QTasksTestingModule, type QTasksTestingModuleOptions } from '../../lib/testing/index.js';
import { Gate } from '../helpers/gate.js';
import { plainApps } from '../helpers/plain-app.js';
import { startsPerWindow } from '../helpers/rate-windows.js';

class GreetingDto {
  @IsString()
  greeting!: string;

  @IsString()
  name!: string;
}

@Injectable()
class Mailer {
  readonly sent: string[] = [];
}

@Injectable()
class Signup {
  constructor(
    private readonly mailer: Mailer,
    private readonly client: QTasksClient,
  ) {}

  @Task()
  async register(email: string, at: Date | string) {
    await this.client.add('welcome', [email]);
    return { email, at: typeof at };
  }

  @Task()
  welcome(email: string) {
    this.mailer.sent.push(email);
    return `sent to ${email}`;
  }

  @Task()
  reject(reason: string): never {
    throw new Error(reason);
  }
}

@Injectable()
class Stuck {
  release!: () => void;

  @Task()
  hang() {
    return new Promise<void>((resolve) => (this.release = resolve));
  }
}

@Injectable()
class Throttled {
  @Task({ rateLimit: { max: 1, windowMs: 150 } })
  ping(n: number) {
    return n;
  }
}

async function boot(options: QTasksTestingModuleOptions = {}): Promise<TestingModule> {
  @Module({ imports: [QTasksTestingModule.forRoot(options)], providers: [Mailer, Signup, Stuck, Throttled] })
  class AppUnderTest {}
  const app = await Test.createTestingModule({ imports: [AppUnderTest] }).compile();
  await app.init();
  return app;
}

describe('QTasksTestingModule', () => {
  let app: TestingModule | undefined;
  afterEach(async () => {
    vi.useRealTimers();
    await app?.close();
    app = undefined;
  });

  it('runs on the memory backend: drain() waits for tasks and the tasks they enqueue', async () => {
    app = await boot();
    const client = app.get(QTasksClient);
    const testing = app.get(QTasksTesting);
    await client.addBulk([
      { name: 'register', args: ['a@x.io', new Date()] },
      { name: 'register', args: ['b@x.io', new Date()] },
    ]);
    await testing.drain();
    expect(app.get(Mailer).sent.sort()).toEqual(['a@x.io', 'b@x.io']);
    const registered = testing.records({ taskName: 'register' });
    expect(registered.map((r) => r.status)).toEqual(['success', 'success']);
    // Arguments went through JSON, as with Redis: the Date arrived as a string.
    expect(registered[0]!.returning).toEqual({ email: 'a@x.io', at: 'string' });
    expect(testing.records({ status: 'success' })).toHaveLength(4);
  });

  it('drain() waits for tasks held back by their rate limit too', async () => {
    app = await boot();
    const client = app.get(QTasksClient);
    for (const n of [1, 2, 3]) await client.add('ping', [n]);
    await app.get(QTasksTesting).drain();
    const records = app.get(QTasksTesting).records({ taskName: 'ping' });
    expect(records.map((r) => [r.status, r.returning])).toEqual([['success', 1], ['success', 2], ['success', 3]]);
    expect(startsPerWindow(records.map((r) => r.startedAt!.getTime()), 150)).toEqual([1, 1, 1]);
  });

  it('drain() under fake timers waits for a rate limit until the clock is advanced past its window', async () => {
    vi.useFakeTimers();
    app = await boot();
    const client = app.get(QTasksClient);
    for (const n of [1, 2]) await client.add('ping', [n]);
    let drained = false;
    const draining = app.get(QTasksTesting).drain().then(() => (drained = true));
    await vi.advanceTimersByTimeAsync(100);
    expect(drained).toBe(false);
    await vi.advanceTimersByTimeAsync(100);
    await draining;
    expect(app.get(QTasksTesting).records({ taskName: 'ping' }).map((r) => r.status)).toEqual(['success', 'success']);
  });

  it('enqueued() lists tasks not started, and its records are copies', async () => {
    app = await boot();
    const testing = app.get(QTasksTesting);
    const record = await app.get(QTasksClient).add('welcome', ['later@x.io'], { delay: 60_000 });
    const [listed] = testing.enqueued('welcome');
    expect(listed).toMatchObject({ uuid: record.uuid, status: 'new', args: ['later@x.io'] });
    listed!.args.push('changed');
    expect(testing.enqueued('welcome')[0]!.args).toEqual(['later@x.io']);
    expect(testing.enqueued('register')).toEqual([]);
    await testing.drain(); // delayed tasks are not waited for
  });

  it('runInline calls the handler through the executor without a queue', async () => {
    app = await boot();
    const testing = app.get(QTasksTesting);
    const done = await testing.runInline('welcome', ['inline@x.io']);
    expect(done).toMatchObject({ status: 'success', returning: 'sent to inline@x.io', taskName: 'welcome' });
    expect(app.get(Mailer).sent).toEqual(['inline@x.io']);
    const failed = await testing.runInline('reject', ['nope']);
    expect(failed.status).toBe('error');
    expect(failed.traceback).toMatch(/^Error: nope\n/);
    await expect(testing.runInline('missing')).rejects.toThrow(UnknownTaskError);
    await expect(testing.runInline('welcome', [() => 1])).rejects.toThrow(/is a function/);
    expect(testing.records()).toEqual([]);
  });

  it('runInline reports a task cancelling itself as the queue on Redis stores it', async () => {
    const apps = plainApps(inject('redisUrl'));
    try {
      const onRedis = await apps.start('inline-cancel', (a: QueueTasks) =>
        a.task({ name: 'giveUp', echo: true }, (ctx: TaskContext, reason: string) => ctx.cancel(reason)),
      );
      const stored = await onRedis.run('giveUp', ['no longer needed'], { timeout: 15_000 });
      const inline = await new QTasksTesting(onRedis).runInline('giveUp', ['no longer needed']);
      const outcome = ({ status, cancelReason, traceback }: typeof stored) => ({ status, cancelReason, traceback });
      expect(outcome(stored)).toEqual({ status: 'cancel', cancelReason: 'no longer needed', traceback: undefined });
      expect(outcome(inline)).toEqual(outcome(stored));
    } finally {
      await apps.stopAll();
    }
  });

  it('runInline gives the last progress the task reported on its record, as the queue on Redis stores it, and warns of no lost lease', async () => {
    const apps = plainApps(inject('redisUrl'));
    const warnings: string[] = [];
    const taskLogger = () => ({ log: () => undefined, warn: (message: string) => void warnings.push(message), error: console.error });
    try {
      const onRedis = await apps.start(
        'inline-progress',
        (a: QueueTasks) => {
          a.task({ name: 'steps', echo: true }, async (ctx: TaskContext) => {
            await ctx.progress({ done: 1 });
            await ctx.progress({ done: 2 });
          });
          a.task('pages', async function* () {
            yield 'page 1';
            yield 'page 2';
          });
        },
        { taskLogger },
      );
      const inline = new QTasksTesting(onRedis);
      for (const name of ['steps', 'pages']) {
        const stored = await onRedis.run(name, [], { timeout: 15_000 });
        expect(stored.progress).toBeDefined();
        expect((await inline.runInline(name)).progress).toEqual(stored.progress);
      }
      expect(warnings).toEqual([]);
    } finally {
      await apps.stopAll();
    }
  });

  it('runInline takes the arguments through the enqueue triggers as an add does: a plugin rewriting them applies, and what validation refuses rejects', async () => {
    const apps = plainApps(inject('redisUrl'));
    const defaults = {
      name: 'Defaults',
      handlers: { app_add_task_before_broker: ({ args }: { args: unknown[] }) => ({ args: [{ greeting: 'Hello', ...(args[0] as object) }] }) },
    };
    try {
      const onRedis = await apps.start(
        'inline-enqueue',
        (a: QueueTasks) => a.task({ name: 'greet', paramTypes: [GreetingDto] }, (dto: GreetingDto) => `${dto.greeting}, ${dto.name}`),
        { plugins: [defaults] },
      );
      const inline = new QTasksTesting(onRedis);
      const stored = await onRedis.run('greet', [{ name: 'Ann' }], { timeout: 15_000 });
      expect(stored).toMatchObject({ status: 'success', returning: 'Hello, Ann', args: [{ greeting: 'Hello', name: 'Ann' }] });
      expect(await inline.runInline('greet', [{ name: 'Ann' }])).toMatchObject({ status: stored.status, returning: stored.returning, args: stored.args });
      await expect(onRedis.add('greet', [{ name: 5 }])).rejects.toThrow(TaskValidationError);
      await expect(inline.runInline('greet', [{ name: 5 }])).rejects.toThrow(TaskValidationError);
    } finally {
      await apps.stopAll();
    }
  });

  it('runInline keeps the task to its maxTime as a worker does, and stops the clock when the run ends', async () => {
    const apps = plainApps(inject('redisUrl'));
    // Settled once the test is done: a task ignoring its abort, which leaves no promise behind.
    const late = new Gate();
    try {
      const onRedis = await apps.start('inline-time-limit', (a: QueueTasks) => {
        a.task({ name: 'slow', maxTime: 100 }, () => late.pass());
        a.task({ name: 'quick', maxTime: 100 }, () => 'in time');
      });
      const inline = new QTasksTesting(onRedis);
      const timedOut = await inline.runInline('slow');
      expect(timedOut.status).toBe('error');
      expect(timedOut.traceback).toMatch(/^TaskTimeoutError: Task "slow" timed out after 100 ms/);
      // The clock stops with the run: a finished task is not aborted afterwards.
      expect(await inline.runInline('quick')).toMatchObject({ status: 'success', returning: 'in time' });
    } finally {
      late.open();
      await apps.stopAll();
    }
  });

  it('drain() fails with the pending tasks when they do not finish in time', async () => {
    app = await boot();
    const testing = app.get(QTasksTesting);
    const record = await app.get(QTasksClient).add('hang');
    const failure = await testing.drain({ timeout: 300 }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(DrainTimeoutError);
    expect((failure as DrainTimeoutError).message).toMatch(new RegExp(`still pending: hang \\(${record.uuid}, (new|process)\\)$`));
    app.get(Stuck).release();
    await testing.drain();
  });

  it('drain() refuses an app without a worker, and the helpers refuse a Redis app', async () => {
    app = await boot({ worker: false });
    await expect(app.get(QTasksTesting).drain()).rejects.toThrow(/needs a worker/);
    const onRedis = new QTasksTesting(new QueueTasks({ url: 'redis://127.0.0.1:1' }));
    expect(() => onRedis.records()).toThrow(InvalidOptionError);
    await expect(onRedis.drain()).rejects.toThrow(/backend: 'memory'/);
  });

  it('works under vitest fake timers: delayed tasks run when the clock is advanced', async () => {
    vi.useFakeTimers();
    app = await boot();
    const client = app.get(QTasksClient);
    const testing = app.get(QTasksTesting);
    expect((await client.run('welcome', ['now@x.io'])).returning).toBe('sent to now@x.io');
    const later = await client.add('welcome', ['later@x.io'], { delay: 60_000 });
    await testing.drain();
    expect((await client.get(later.uuid))!.status).toBe('new');
    await vi.advanceTimersByTimeAsync(60_000);
    await testing.drain();
    expect((await client.get(later.uuid))!).toMatchObject({ status: 'success', returning: 'sent to later@x.io' });
  });
});
