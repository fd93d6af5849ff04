import { Injectable, Module, type OnModuleInit } from '@nestjs/common';
import { Cron, Interval, ScheduleModule, SchedulerRegistry } from '@nestjs/schedule';
import { Test } from '@nestjs/testing';
import { IsInt, Min, Validate, ValidatorConstraint, type ValidatorConstraintInterface } from 'class-validator';
import { Redis } from 'ioredis';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import {
  DuplicateScheduleError,
  InvalidScheduleError,
  MalformedKeyError,
  QTasksClient,
  QTasksModule,
  QTasksTimer,
  QueueTasks,
  RedisBroker,
  RedisGlobalConfig,
  Task,
  Worker,
  type ScheduleOptions,
  type TaskPlugin,
  type TickEvent,
} from '../../lib/index.js';
import { RedisKeys } from '../../lib/redis/keys.js';
import { CuttableLink } from '../helpers/cuttable-link.js';
import { eventually } from '../helpers/eventually.js';
import { uniqueAppName } from '../helpers/names.js';
import { startNestApp } from '../helpers/nest-app.js';
import { startRedisServer } from '../helpers/redis-server.js';
import { nextTickEvent, tickKeys } from '../helpers/ticks.js';

@Injectable()
class ReportService {
  @Task({ name: 'report', cron: '* * * * * *', timezone: 'Europe/Paris', args: ['daily', 3], priority: 4 })
  report(kind: string, count: number) {
    return `${kind}:${count}`;
  }
}

@Injectable()
class BeatService {
  @Task()
  beat(value: number) {
    return value * 2;
  }
}

class CountDto {
  @IsInt()
  @Min(1)
  n!: number;
}

/** A check that takes its time (an async constraint, a database lookup say). */
@ValidatorConstraint({ async: true })
class CheckedSlowly implements ValidatorConstraintInterface {
  async validate(): Promise<boolean> {
    await sleep(300);
    return true;
  }
}

class SlowCountDto {
  @Validate(CheckedSlowly)
  n!: number;
}

/** A slow check that says when it begins: a test then knows a timer's start is checking. */
let checkBegun: (() => void) | undefined;
@ValidatorConstraint({ async: true })
class CheckedSlowlyAndSaid implements ValidatorConstraintInterface {
  async validate(): Promise<boolean> {
    checkBegun?.();
    await sleep(300);
    return true;
  }
}

class SaidCountDto {
  @Validate(CheckedSlowlyAndSaid)
  n!: number;
}

/** @nestjs/schedule's registry (which refuses a job name twice), noting every job added. */
class NotingRegistry extends SchedulerRegistry {
  readonly added: string[] = [];
  override addCronJob(name: string, job: Parameters<SchedulerRegistry['addCronJob']>[1]): void {
    this.added.push(name);
    super.addCronJob(name, job);
  }
}

/** The lines of `lines` about schedule `name`. */
const linesOf = (name: string, lines: string[]) => lines.filter((line) => line.includes(`schedule "${name}" `));

/** Catches the tick events of a whole app's life, start-up included (catch-up happens there). */
const recorded: TickEvent[] = [];
@Injectable()
class TickRecorder {
  constructor(timer: QTasksTimer) {
    timer.onTick((event) => recorded.push(event));
  }
}

describe('timer in one process', () => {
  const url = inject('redisUrl');
  const redis = new Redis(url);
  afterAll(async () => redis.quit());

  const readGlobalConfig = async (name: string) => {
    const config = new RedisGlobalConfig({ name, url });
    await config.start();
    try {
      return await config.schedules();
    } finally {
      await config.stop();
    }
  };

  it('a declared schedule enqueues its task with its args and priority; GlobalConfig shows it with no app running', async () => {
    const name = uniqueAppName('timer-declared');
    const app = await startNestApp({ name, url }, [ReportService]);
    const timer = app.get(QTasksTimer);
    let event: TickEvent;
    try {
      expect(timer.running).toBe(true);
      event = await nextTickEvent(timer);
      expect(event).toMatchObject({ schedule: 'report', taskName: 'report', added: true, catchUp: false });
      expect(event.tick.getTime() % 1000).toBe(0);
      const done = await app.get(QTasksClient).wait(event.uuid, { timeout: 10_000 });
      expect(done).toMatchObject({ status: 'success', returning: 'daily:3', args: ['daily', 3], priority: 4 });
    } finally {
      await app.close();
    }

    const [state, ...others] = await readGlobalConfig(name);
    expect(others).toEqual([]);
    expect(state).toMatchObject({
      name: 'report',
      taskName: 'report',
      cron: '* * * * * *',
      timezone: 'Europe/Paris',
      args: ['daily', 3],
      priority: 4,
      catchUp: false,
    });
    expect(state!.lastRun!.getTime()).toBeGreaterThanOrEqual(event.tick.getTime());
    expect(state!.nextRun!.getTime()).toBeGreaterThan(state!.lastRun!.getTime());
    const keys = await tickKeys(redis, name, 'report');
    expect(state!.lastTaskUuid).toBe(keys.get(state!.lastRun!.getTime()));
  });

  it('a timer starting drops from GlobalConfig a schedule no instance fires any more, and keeps one another instance fires', async () => {
    const name = uniqueAppName('timer-abandoned');
    const config = new RedisGlobalConfig({ name, url });
    await config.start();
    const definition = (schedule: string) => ({ name: schedule, taskName: 'beat', args: [], every: 2000, catchUp: false });
    // Its code was removed: its next run went by two minutes ago and nobody moved it on.
    await config.publishSchedule(definition('removed'), new Date(Date.now() - 120_000));
    // Added at run time by another instance, which moves its next run on at every tick.
    await config.publishSchedule(definition('elsewhere'), new Date(Date.now() + 2_000));
    const app = new QueueTasks({ name, url, worker: false, globalConfig: config });
    app.task({ name: 'beat', every: 1000 }, () => 'beat');
    const timer = new QTasksTimer(app);
    try {
      await app.start();
      expect(timer.running).toBe(true);
      expect((await readGlobalConfig(name)).map((schedule) => schedule.name).sort()).toEqual(['beat', 'elsewhere']);
    } finally {
      await app.stop();
      await config.stop();
    }
  });

  it('timer.add / list / remove at run time, with a fixed interval and its own schedule name', async () => {
    const name = uniqueAppName('timer-api');
    const app = await startNestApp({ name, url }, [BeatService]);
    const timer = app.get(QTasksTimer);
    // The app imports no ScheduleModule: the timer lists its jobs in a registry of its own.
    const registry = timer.registry!;
    try {
      const added = await timer.add('beat', { every: 1000, name: 'beat-fast', args: [21] });
      expect(added).toEqual({ name: 'beat-fast', taskName: 'beat', every: 1000, args: [21], catchUp: false });
      await expect(timer.add('beat', { every: 2000, name: 'beat-fast' })).rejects.toThrow(DuplicateScheduleError);
      expect(registry.doesExist('cron', `qtasks:${name}:beat-fast`)).toBe(true);

      const event = await nextTickEvent(timer, (e) => e.schedule === 'beat-fast');
      expect(event.tick.getTime() % 1000).toBe(0);
      const done = await app.get(QTasksClient).wait(event.uuid, { timeout: 10_000 });
      expect(done.returning).toBe(42);

      const [listed] = await timer.list();
      expect(listed).toMatchObject({ name: 'beat-fast', taskName: 'beat', every: 1000 });
      expect(listed!.lastRun!.getTime()).toBeGreaterThanOrEqual(event.tick.getTime());
      expect(listed!.nextRun!.getTime()).toBeGreaterThan(Date.now() - 1000);

      expect(await timer.remove('beat-fast')).toBe(true);
      expect(await timer.remove('beat-fast')).toBe(false);
      expect(registry.doesExist('cron', `qtasks:${name}:beat-fast`)).toBe(false);
      expect(await timer.list()).toEqual([]);
      expect(await readGlobalConfig(name)).toEqual([]);
      const keysAtRemove = (await tickKeys(redis, name, 'beat-fast')).size;
      await sleep(2200);
      expect((await tickKeys(redis, name, 'beat-fast')).size).toBe(keysAtRemove);
    } finally {
      await app.close();
    }
  });

  it('an invalid cron expression fails bootstrap with a typed error naming the task and where it is declared', async () => {
    @Injectable()
    class BrokenService {
      @Task({ name: 'broken', cron: '61 * * * * *' })
      run() {}
    }
    const failed = startNestApp({ name: uniqueAppName('timer-broken'), url }, [BrokenService]);
    await expect(failed).rejects.toThrow(InvalidScheduleError);
    await expect(failed).rejects.toThrow(
      'Schedule "broken" (BrokenService.run) is invalid: cron expression "61 * * * * *": Field value (61) is out of range',
    );
  });

  it('a schedule added before start for an unknown task fails bootstrap, naming both', async () => {
    @Injectable()
    class GhostScheduler implements OnModuleInit {
      constructor(private readonly timer: QTasksTimer) {}
      async onModuleInit() {
        await this.timer.add('ghost', { every: 1000 });
      }
    }
    const failed = startNestApp({ name: uniqueAppName('timer-ghost'), url }, [BeatService, GhostScheduler]);
    await expect(failed).rejects.toThrow(
      /^Schedule "ghost" \(timer\.add\("ghost"\)\) is invalid: Unknown task "ghost"\. Registered tasks: "beat"\.$/,
    );
  });

  it('catchUp needs a GlobalConfig to remember the last run', async () => {
    @Injectable()
    class CatchUpService {
      @Task({ every: 1000, catchUp: true })
      nightly() {}
    }
    const failed = startNestApp({ name: uniqueAppName('timer-nogc'), url, globalConfig: null }, [CatchUpService]);
    await expect(failed).rejects.toThrow(/Schedule "nightly" \(CatchUpService\.nightly\) is invalid: `catchUp` needs a GlobalConfig/);
  });

  it('a schedule whose arguments every tick would refuse (too large, failing DTO validation) is refused by timer.add', async () => {
    const name = uniqueAppName('timer-bad-args');
    const app = new QueueTasks({ name, url, config: { maxPayloadBytes: 100 } });
    app.task('echo', (text: string) => text);
    app.task({ name: 'count', paramTypes: [CountDto] }, (dto: CountDto) => dto.n);
    app.task({ name: 'slowCount', paramTypes: [SlowCountDto] }, (dto: SlowCountDto) => dto.n);
    const timer = new QTasksTimer(app);
    const refusals = {
      big: [
        'echo',
        ['x'.repeat(500)],
        'Schedule "big" (timer.add("echo")) is invalid: its arguments would fail every tick: Arguments of task "echo" take 504 bytes, over the limit of 100.',
      ],
      zero: [
        'count',
        [{ n: 0 }],
        'Schedule "zero" (timer.add("count")) is invalid: its arguments would fail every tick: Arguments of task "count" are invalid: argument 1 (CountDto).n: n must not be less than 1.',
      ],
    } as const;
    const refused = async () => {
      for (const [schedule, [task, args, message]] of Object.entries(refusals)) {
        const error = await timer.add(task, { name: schedule, every: 1000, args: [...args] }).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(InvalidScheduleError);
        expect((error as Error).message).toBe(message);
      }
    };
    await refused();
    // Added before start, with the call not waited for: the start waits for its check, and arms it.
    const adding = timer.add('slowCount', { name: 'one', every: 1000, args: [{ n: 1 }] });
    await app.start();
    try {
      expect((await timer.list()).map((schedule) => schedule.name)).toEqual(['one']);
      await adding;
      await refused();
      const event = await nextTickEvent(timer);
      expect(event.schedule).toBe('one');
      expect((await app.wait(event.uuid, { timeout: 10_000 })).returning).toBe(1);
    } finally {
      await app.stop();
    }
    expect((await tickKeys(redis, name, 'big')).size + (await tickKeys(redis, name, 'zero')).size).toBe(0);
  });

  it('a schedule whose arguments a plugin rewrites at enqueue is left to its ticks, which pass', async () => {
    const name = uniqueAppName('timer-rewritten-args');
    const app = new QueueTasks({ name, url, config: { maxPayloadBytes: 100 } });
    app.task('echo', (text: string) => text);
    // Keeps large texts elsewhere and enqueues a reference: the size check sees the reference.
    const stored = new Map<string, string>();
    const blobs: TaskPlugin = {
      name: 'BlobStore',
      handlers: {
        app_add_task_before_broker: ({ args }) => {
          const text = String(args[0]);
          if (text.length <= 50) return;
          stored.set(`blob:${stored.size}`, text);
          return { args: [`blob:${stored.size - 1}`] };
        },
      },
    };
    app.addPlugin(blobs, { triggers: ['app_add_task_before_broker'] });
    const timer = new QTasksTimer(app);
    await timer.add('echo', { name: 'large', every: 1000, args: ['x'.repeat(500)] });
    await app.start();
    try {
      const event = await nextTickEvent(timer);
      expect((await app.wait(event.uuid, { timeout: 10_000 })).returning).toBe('blob:0');
      expect(stored.get('blob:0')).toBe('x'.repeat(500));
    } finally {
      await app.stop();
    }
  });

  it('a timer.add made while the start checks the schedules arms its schedule once', async () => {
    const name = uniqueAppName('timer-add-during-start');
    const app = new QueueTasks({ name, url, worker: false });
    app.task({ name: 'slowCount', every: 1000, args: [{ n: 1 }], paramTypes: [SaidCountDto] }, (dto: SaidCountDto) => dto.n);
    app.task('beat', () => 'beat');
    const registry = new NotingRegistry();
    const timer = new QTasksTimer(app, { registry });
    const ticks: TickEvent[] = [];
    timer.onTick((event) => ticks.push(event));
    const checking = new Promise<void>((resolve) => (checkBegun = resolve));
    const starting = app.start();
    try {
      await checking; // the start checks slowCount's schedule: an add now waits for that start
      const adding = timer.add('beat', { name: 'during', every: 1000 });
      await starting;
      await adding;
      expect(registry.added.sort()).toEqual([`qtasks:${name}:during`, `qtasks:${name}:slowCount`]);
      await nextTickEvent(timer, (event) => event.schedule === 'during');

      // Removed, it fires no more: no job of it was left running.
      expect(await timer.remove('during')).toBe(true);
      const removedAt = Date.now();
      await sleep(2_200);
      expect(ticks.filter((event) => event.schedule === 'during' && event.tick.getTime() > removedAt)).toEqual([]);
      expect([...(await tickKeys(redis, name, 'during')).keys()].filter((tick) => tick > removedAt)).toEqual([]);
    } finally {
      checkBegun = undefined;
      await starting.catch(() => undefined);
      await app.stop();
    }
  });

  it('a declared schedule whose arguments fail DTO validation fails bootstrap, naming it', async () => {
    @Injectable()
    class CountingService {
      @Task({ every: 1000, args: [{ n: 0 }] })
      countDown(dto: CountDto) {
        return dto.n;
      }
    }
    const failed = startNestApp({ name: uniqueAppName('timer-dto'), url }, [CountingService]);
    await expect(failed).rejects.toThrow(InvalidScheduleError);
    await expect(failed).rejects.toThrow(
      'Schedule "countDown" (CountingService.countDown) is invalid: its arguments would fail every tick: ' +
        'Arguments of task "countDown" are invalid: argument 1 (CountDto).n: n must not be less than 1.',
    );
  });

  it('a timer-only process (worker: false) enqueues on schedule; the tasks wait for a worker', async () => {
    const app = await startNestApp({ name: uniqueAppName('timer-only'), url, worker: false }, [ReportService]);
    try {
      expect(app.get(Worker, { strict: false })).toBeNull();
      const event = await nextTickEvent(app.get(QTasksTimer));
      expect((await app.get(QTasksClient).get(event.uuid))?.status).toBe('new');
    } finally {
      await app.close();
    }
  });

  it('works without Nest: a schedule in the core task options, a timer built on the app', async () => {
    const app = new QueueTasks({ name: uniqueAppName('timer-core'), url });
    app.task({ name: 'sum', every: 1000, args: [1, 2] }, (a: number, b: number) => a + b);
    const timer = new QTasksTimer(app);
    await app.start();
    try {
      const event = await nextTickEvent(timer);
      expect((await app.wait(event.uuid, { timeout: 10_000 })).returning).toBe(3);
    } finally {
      await app.stop();
    }
    expect(timer.running).toBe(false);
  });

  it("lives beside the app's own ScheduleModule: one SchedulerRegistry holds the app's @Cron jobs and the timer's", async () => {
    let appCronRuns = 0;
    @Injectable()
    class Housekeeping {
      @Cron('* * * * * *', { name: 'housekeeping' })
      sweep() {
        appCronRuns++;
      }
    }
    const name = uniqueAppName('timer-beside');
    @Module({ imports: [ScheduleModule.forRoot(), QTasksModule.forRoot({ name, url })], providers: [ReportService, Housekeeping] })
    class BesideModule {}
    const app = await Test.createTestingModule({ imports: [BesideModule] }).compile();
    await app.init();
    try {
      const registry = app.get(SchedulerRegistry);
      expect([...registry.getCronJobs().keys()].sort()).toEqual(['housekeeping', `qtasks:${name}:report`]);
      await nextTickEvent(app.get(QTasksTimer));
      await nextTickEvent(app.get(QTasksTimer));
      expect(appCronRuns).toBeGreaterThan(0);
    } finally {
      await app.close();
    }
  });

  it("leaves the app's own @Cron and @Interval jobs to its ScheduleModule: each runs once per tick, and deleteCronJob stops it", async () => {
    const cronCalls: number[] = [];
    let intervalCalls = 0;
    @Injectable()
    class Billing {
      @Cron('* * * * * *', { name: 'billing' })
      bill() {
        cronCalls.push(Date.now());
      }

      @Interval('sweep', 500)
      sweep() {
        intervalCalls++;
      }
    }
    const name = uniqueAppName('timer-app-jobs');
    @Module({ imports: [ScheduleModule.forRoot(), QTasksModule.forRoot({ name, url })], providers: [ReportService, Billing] })
    class BillingModule {}
    const app = await Test.createTestingModule({ imports: [BillingModule] }).compile();
    const bootstrapped = Date.now();
    await app.init();
    try {
      await sleep(3_200);
      const elapsed = Date.now() - bootstrapped;
      const cronRuns = cronCalls.length;
      // One call per second at most (a second ScheduleModule would run each tick twice).
      expect(cronRuns).toBeGreaterThan(0);
      expect(new Set(cronCalls.map((at) => Math.floor(at / 1000))).size).toBe(cronRuns);
      // The interval's first call comes 500 ms after the bootstrap began, at the earliest.
      expect(intervalCalls).toBeGreaterThan(0);
      expect(intervalCalls).toBeLessThanOrEqual(Math.floor(elapsed / 500));

      app.get(SchedulerRegistry).deleteCronJob('billing');
      const runsAtDelete = cronCalls.length;
      await sleep(1_500);
      expect(cronCalls.length).toBe(runsAtDelete);
    } finally {
      await app.close();
    }
  });

  it('timers: false keeps the schedules known but fires none', async () => {
    const name = uniqueAppName('timer-off');
    const app = await startNestApp({ name, url, timers: false }, [ReportService]);
    try {
      const timer = app.get(QTasksTimer);
      expect(timer.running).toBe(false);
      expect(timer.registry!.doesExist('cron', `qtasks:${name}:report`)).toBe(false);
      expect((await timer.list()).map((s) => s.name)).toEqual(['report']);
      await sleep(2200);
      expect((await tickKeys(redis, name, 'report')).size).toBe(0);
    } finally {
      await app.close();
    }
  });
});

describe('ticks missed while no instance ran', () => {
  const url = inject('redisUrl');
  const redis = new Redis(url);
  const config = { url, globalConfig: undefined };
  let lastRunAtStop = 0;
  afterAll(async () => redis.quit());

  /** Runs a first instance until it enqueued a tick, stops it, lets 2+ ticks pass, starts a second one. */
  const restartAfterDowntime = async (service: Function, name: string) => {
    const first = await startNestApp({ ...config, name }, [service as never]);
    await nextTickEvent(first.get(QTasksTimer));
    await first.close();
    const globalConfig = new RedisGlobalConfig({ name, url });
    await globalConfig.start();
    lastRunAtStop = (await globalConfig.schedule('tick'))!.lastRun!.getTime();
    await globalConfig.stop();
    await sleep(2500);
    recorded.length = 0;
    const restartedAt = Date.now();
    const second = await startNestApp({ ...config, name }, [service as never, TickRecorder]);
    const startedAt = Date.now();
    await second.close();
    return { restartedAt, startedAt, keys: await tickKeys(redis, name, 'tick') };
  };

  beforeAll(() => {
    recorded.length = 0;
  });

  it('catchUp: true enqueues one task standing for all missed ticks, keyed by the latest', async () => {
    @Injectable()
    class CatchingUp {
      @Task({ every: 1000, catchUp: true })
      tick() {}
    }
    const { restartedAt, startedAt, keys } = await restartAfterDowntime(CatchingUp, uniqueAppName('catch-up'));
    const catchUps = recorded.filter((event) => event.catchUp);
    expect(catchUps).toHaveLength(1);
    const [catchUp] = catchUps;
    expect(catchUp!.added).toBe(true);
    const tick = catchUp!.tick.getTime();
    expect(tick).toBeGreaterThan(lastRunAtStop + 1000);
    expect(tick).toBeGreaterThanOrEqual(restartedAt - 1000);
    expect(tick).toBeLessThanOrEqual(startedAt);
    const missedWithTasks = [...keys.keys()].filter((t) => t > lastRunAtStop && t <= tick);
    expect(missedWithTasks).toEqual([tick]);
    expect(keys.get(tick)).toBe(catchUp!.uuid);
  });

  it('an unreadable last run (written by hand) is taken as none: the app starts, warns naming the schedule, and the next tick replaces it', async () => {
    const name = uniqueAppName('catch-up-unreadable');
    await redis.hset(new RedisKeys(name).scheduleRun('tick'), 'l', 'garbage');
    const [warnings, errors]: string[][] = [[], []];
    const app = new QueueTasks({ name, url, logger: { log: () => undefined, warn: (m) => warnings.push(m), error: (m) => errors.push(m) } });
    // A cron schedule: the cron library threw on the Invalid Date, failing the start with an untyped CronError.
    app.task({ name: 'tick', cron: '* * * * * *', catchUp: true }, () => undefined);
    const timer = new QTasksTimer(app);
    await app.start();
    try {
      expect(warnings).toEqual([
        'timer: schedule "tick" has an unreadable last run in GlobalConfig: taken as none, so no missed tick is caught up',
      ]);
      const event = await nextTickEvent(timer);
      expect(event.catchUp).toBe(false);
      expect((await timer.list())[0]!.lastRun).toEqual(event.tick);
      expect(errors).toEqual([]);
    } finally {
      await app.stop();
    }
  });

  it('a start that fails part-way leaves none of the schedules it armed firing', async () => {
    const name = uniqueAppName('timer-start-fails');
    // The second schedule's run state holds no hash (written by hand): publishing it fails after the first is armed.
    const secondRun = new RedisKeys(name).scheduleRun('second');
    await redis.set(secondRun, 'not a hash');
    const errors: string[] = [];
    const app = new QueueTasks({ name, url, worker: false, logger: { log: () => undefined, warn: () => undefined, error: (m) => errors.push(m) } });
    app.task('beat', () => 'beat');
    const timer = new QTasksTimer(app);
    await timer.add('beat', { name: 'first', every: 1000 });
    await timer.add('beat', { name: 'second', every: 1000 });
    await expect(app.start()).rejects.toThrow(new MalformedKeyError(secondRun, 'string', 'hash'));
    expect(timer.running).toBe(false);
    await sleep(2_200); // two ticks of the first schedule, had it been left armed
    expect(errors).toEqual([]);
  });

  it('a failed tidy-up of abandoned schedules is a warning, not a failed start', async () => {
    const name = uniqueAppName('timer-tidy-fails');
    const schedules = new RedisKeys(name).schedules;
    await redis.set(schedules, 'not a hash'); // written by hand
    const warnings: string[] = [];
    const app = new QueueTasks({ name, url, worker: false, logger: { log: () => undefined, warn: (m) => warnings.push(m), error: console.error } });
    const timer = new QTasksTimer(app);
    await app.start();
    try {
      expect(timer.running).toBe(true);
      expect(warnings).toEqual([`timer: could not remove abandoned schedules from GlobalConfig: ${new MalformedKeyError(schedules, 'string', 'hash').message}`]);
    } finally {
      await app.stop();
    }
  });

  it("an app with other schedules, starting while this schedule's app is down, drops it from GlobalConfig but keeps its last run: its app catches up when it starts", async () => {
    const name = uniqueAppName('catch-up-dropped');
    const startApp = async (schedules: ScheduleOptions[]) => {
      const app = new QueueTasks({ name, url, worker: false, logger: { log: () => undefined, warn: console.warn, error: console.error } });
      app.task('report', () => 'report');
      const timer = new QTasksTimer(app);
      const events: TickEvent[] = [];
      timer.onTick((event) => events.push(event));
      for (const schedule of schedules) await timer.add('report', schedule);
      await app.start();
      return { app, timer, events };
    };
    const owner = await startApp([{ name: 'nightly', every: 1000, catchUp: true }]);
    await nextTickEvent(owner.timer);
    await owner.app.stop();
    const globalConfig = new RedisGlobalConfig({ name, url });
    await globalConfig.start();
    try {
      const { lastRun } = (await globalConfig.schedule('nightly'))!;
      // Its app stays down: its next run is two minutes past when the other app starts.
      await redis.hset(new RedisKeys(name).scheduleRun('nightly'), 'n', Date.now() - 120_000);
      const other = await startApp([{ name: 'hourly', cron: '0 * * * *' }]);
      await other.app.stop();
      expect((await globalConfig.schedules()).map((schedule) => schedule.name)).toEqual(['hourly']);
      await sleep(Math.max(0, lastRun!.getTime() + 1_500 - Date.now())); // a tick of it goes by with no instance

      const restarted = await startApp([{ name: 'nightly', every: 1000, catchUp: true }]);
      await restarted.app.stop();
      const catchUps = restarted.events.filter((event) => event.catchUp);
      expect(catchUps).toHaveLength(1);
      expect(catchUps[0]!.added).toBe(true);
      expect(catchUps[0]!.tick.getTime()).toBeGreaterThan(lastRun!.getTime());
    } finally {
      await globalConfig.stop();
    }
  });

  it('catchUp: false (the default) skips them', async () => {
    @Injectable()
    class Skipping {
      @Task({ every: 1000 })
      tick() {}
    }
    const { restartedAt, keys } = await restartAfterDowntime(Skipping, uniqueAppName('skip'));
    expect(recorded.filter((event) => event.catchUp)).toEqual([]);
    expect([...keys.keys()].filter((t) => t > lastRunAtStop && t <= restartedAt)).toEqual([]);
  });
});

describe('timer while Redis is briefly down', () => {
  it("with whenRedisDown 'fail', a tick that finds Redis gone is tried again and enqueued once it is back, with no listener warning from Node, and the outage logged in two lines", async () => {
    const server = await startRedisServer({ appendOnly: true });
    const redis = new Redis(server.url).on('error', () => undefined); // down on purpose for a while
    const name = uniqueAppName('timer-outage');
    const [logs, errors]: string[][] = [[], []];
    const app = new QueueTasks({
      name,
      url: server.url,
      whenRedisDown: 'fail',
      worker: false,
      logger: { log: (line) => logs.push(line), warn: console.warn, error: (line) => errors.push(line) },
    });
    app.task({ name: 'beat', every: 1000 }, () => 'beat');
    const timer = new QTasksTimer(app);
    // More ticks retrying at once than Node's 10 listeners of one signal, which is no leak.
    for (let i = 2; i <= 6; i++) await timer.add('beat', { name: `beat${i}`, every: 1000 });
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => void warnings.push(warning);
    process.on('warning', onWarning);
    const enqueued: number[] = [];
    timer.onTick((event) => event.schedule === 'beat' && enqueued.push(event.tick.getTime()));
    try {
      await app.start();
      const first = (await nextTickEvent(timer, (event) => event.schedule === 'beat')).tick.getTime();
      await server.stop();
      // Two ticks or so fire while it is down.
      await sleep(2_200);
      await server.restart();
      await redis.ping();
      const last = (await nextTickEvent(timer, (event) => event.schedule === 'beat' && event.tick.getTime() > Date.now() - 500)).tick.getTime();
      // Every second from the first tick to the last, none missing: each tick of the outage is tried
      // again on its own (in any order) until it lands.
      const everySecond = Array.from({ length: (last - first) / 1000 + 1 }, (_, i) => first + i * 1000);
      await eventually('the ticks of the outage enqueued', async () => everySecond.every((tick) => enqueued.includes(tick)));
      const ticks = [...(await tickKeys(redis, name, 'beat')).keys()].filter((tick) => tick >= first && tick <= last).sort((a, b) => a - b);
      expect(ticks).toEqual(everySecond);
      // Of the two or three ticks that failed, only the first is logged; the schedule enqueuing again says the outage ended.
      expect(linesOf('beat', errors)).toEqual([expect.stringMatching(/could not enqueue its tick of .*, trying again every second: .*is not reachable/)]);
      expect(linesOf('beat', logs)).toEqual([expect.stringMatching(/schedule "beat" reaches Redis again, unreachable for \d+ s, since .*: no tick given up$/)]);
      expect(warnings.map(({ name }) => name)).not.toContain('MaxListenersExceededWarning');
    } finally {
      process.off('warning', onWarning);
      await app.stop();
      await redis.quit();
      await server.destroy();
    }
  });
});

describe("timer of a schedule removed elsewhere while this instance was cut off (whenRedisDown 'fail')", () => {
  it('says it reached Redis again, as its next tick finds the removal, before it stops the schedule', async () => {
    const url = inject('redisUrl');
    const name = uniqueAppName('timer-removed-in-outage');
    const link = await CuttableLink.open({ host: '127.0.0.1', port: Number(new URL(url).port) });
    const [logs, errors]: string[][] = [[], []];
    const app = new QueueTasks({
      name,
      url: link.url,
      whenRedisDown: 'fail',
      worker: false,
      logger: { log: (line) => logs.push(line), warn: console.warn, error: (line) => errors.push(line) },
    });
    app.task({ name: 'beat', every: 1000 }, () => 'beat');
    const timer = new QTasksTimer(app);
    const elsewhere = new RedisGlobalConfig({ name, url });
    try {
      await app.start();
      await nextTickEvent(timer);
      link.cut();
      await eventually('the first failure logged', async () => linesOf('beat', errors).length > 0);
      await elsewhere.start();
      await elsewhere.removeSchedule('beat');
      await link.mend();
      await eventually('the schedule stopped', async () => logs.some((line) => line.includes('was removed by another instance')));
      expect(linesOf('beat', logs)).toEqual([
        expect.stringMatching(/schedule "beat" reaches Redis again, unreachable for \d+ s, since .*: no tick given up$/),
        'timer: schedule "beat" was removed by another instance; stopped here too',
      ]);
    } finally {
      await app.stop();
      await elsewhere.stop();
      link.cut();
    }
  });
});

describe("timer through a Redis outage longer than a tick's tries (whenRedisDown 'fail')", () => {
  it('logs the first failure, a reminder every 5 minutes, and the ticks given up in one line once it enqueues again', async () => {
    const server = await startRedisServer({ appendOnly: true });
    const redis = new Redis(server.url).on('error', () => undefined); // down on purpose for a while
    const errors: string[] = [];
    const app = new QueueTasks({
      name: uniqueAppName('timer-long-outage'),
      url: server.url,
      whenRedisDown: 'fail',
      worker: false,
      logger: { log: () => undefined, warn: console.warn, error: (line) => errors.push(line) },
    });
    app.task({ name: 'beat', every: 1000 }, () => 'beat');
    const timer = new QTasksTimer(app);
    const failedOnce = /schedule "beat" could not enqueue its tick of .*, trying again every second: .*is not reachable/;
    try {
      await app.start();
      await nextTickEvent(timer);
      await server.stop();
      await eventually('the first failure logged', async () => errors.length > 0);
      await sleep(2_200); // two more ticks fail, and every tick is tried again twice, unlogged
      expect(errors).toEqual([expect.stringMatching(failedOnce)]);
      // Five minutes on in a moment: only Date moves, the timers stay real.
      vi.useFakeTimers({ toFake: ['Date'], shouldAdvanceTime: true });
      vi.setSystemTime(Date.now() + 5 * 60_000);
      await eventually('a reminder', async () => errors.length > 1);
      await server.restart();
      await redis.ping();
      const backAt = Date.now();
      await nextTickEvent(timer, (event) => event.tick.getTime() > backAt);
      // The ticks of before the jump were past their tries' end: given up, and told as one.
      expect(errors).toEqual([
        expect.stringMatching(failedOnce),
        // Told by whichever try comes first: a new tick's, or one of a tick given up just after.
        expect.stringMatching(/schedule "beat" still cannot reach Redis, for 30\d s, since .*: (\d+ tick\(s\) given up so far|no tick given up yet)$/),
        expect.stringMatching(
          /schedule "beat" gave up \d+ ticks, from .* to .*: Redis could not be reached before the end of their tries, too late to enqueue them only once \(unreachable for 30\d s, since .*; reached again\)$/,
        ),
      ]);
    } finally {
      await app.stop();
      vi.useRealTimers();
      await redis.quit();
      await server.destroy();
    }
  });
});

describe("timer whose first failure of an outage comes at a tick's last try (whenRedisDown 'fail')", () => {
  it('logs that failure in full, then the tick given up once it reaches Redis again', async () => {
    const url = inject('redisUrl');
    const link = await CuttableLink.open({ host: '127.0.0.1', port: Number(new URL(url).port) });
    const errors: string[] = [];
    const app = new QueueTasks({
      name: uniqueAppName('timer-late-first-failure'),
      url: link.url,
      whenRedisDown: 'fail',
      worker: false,
      logger: { log: () => undefined, warn: console.warn, error: (line) => errors.push(line) },
    });
    app.task({ name: 'beat', every: 1000 }, () => 'beat');
    const timer = new QTasksTimer(app);
    try {
      await app.start();
      await nextTickEvent(timer);
      // The next tick reads its schedule 29.5 s after its time, as a tick that starts late does: a
      // second before its tries end. Only Date moves; the timers stay real.
      const config = app.globalConfig!;
      const readSchedule = config.scheduleAtTick.bind(config);
      let late = true;
      config.scheduleAtTick = (name) => {
        if (late) {
          late = false;
          vi.useFakeTimers({ toFake: ['Date'], shouldAdvanceTime: true });
          vi.setSystemTime(Date.now() + 29_500);
        }
        return readSchedule(name);
      };
      link.cut();
      await eventually('the first failure logged', async () => errors.length > 0);
      expect(errors).toEqual([expect.stringMatching(/schedule "beat" could not enqueue its tick of .*, too late to try again: .*is not reachable/)]);
      await link.mend();
      await eventually('the outage reported', async () => errors.length > 1);
      expect(errors[1]).toMatch(/schedule "beat" gave up its tick of .*: Redis could not be reached before the end of their tries, .*; reached again\)$/);
    } finally {
      await app.stop();
      vi.useRealTimers();
      link.cut();
    }
  });
});

describe("timer of an instance cut off from Redis for longer than a tick's tries (whenRedisDown 'wait')", () => {
  const url = inject('redisUrl');

  /** Commands the app's client holds for Redis to come back (ioredis's offline queue). */
  const heldCommands = (app: QueueTasks) => ((app.broker as RedisBroker).storage.client as unknown as { offlineQueue: { length: number } }).offlineQueue.length;

  it('runs no tick twice (not the ones it held, nor the one whose add was on its way at the cut and is sent again on reconnect), holds none past its tries, and reports them in one line', async () => {
    const name = uniqueAppName('timer-held-ticks');
    const link = await CuttableLink.open({ host: '127.0.0.1', port: Number(new URL(url).port) });
    const redis = new Redis(url);
    const added = new Map<number, string[]>();
    const startInstance = async (label: string, instanceUrl: string, errors: string[] = []) => {
      const app = new QueueTasks({ name, url: instanceUrl, worker: false, logger: { log: () => undefined, warn: () => undefined, error: (line) => errors.push(line) } });
      app.task({ name: 'beat', every: 1000 }, () => 'beat');
      const timer = new QTasksTimer(app);
      timer.onTick(({ tick, added: enqueuedHere }) => enqueuedHere && added.set(tick.getTime(), [...(added.get(tick.getTime()) ?? []), label]));
      await app.start();
      return { app, timer };
    };
    const cutOffErrors: string[] = [];
    const cutOff = await startInstance('cut off', link.url, cutOffErrors);
    const other = await startInstance('other', url);
    try {
      await nextTickEvent(cutOff.timer);
      // Cut as the cut-off instance's add of a tick is on its way: the other instance enqueues that tick.
      await link.cutWhenSent('EVALSHA', `timer:beat:`);
      // A 1-second schedule's tick is tried for 30 s, its key lives a minute. Past the tries of the
      // ticks of the cut's first seconds, their keys are deleted as their expiry would, a minute on.
      await sleep(33_000);
      // Over thirty ticks fired while cut off: each waited in the timer, and was dropped at the end
      // of its tries, rather than held in the client's queue until Redis is back.
      expect(heldCommands(cutOff.app)).toBeLessThanOrEqual(1);
      for (const tick of (await tickKeys(redis, name, 'beat')).keys()) {
        if (tick < Date.now() - 30_000) await redis.del(`${new RedisKeys(name).prefix}u:timer:beat:${tick}`);
      }
      await link.mend();
      const mendedAt = Date.now();
      await nextTickEvent(cutOff.timer, (event) => event.tick.getTime() > mendedAt, 20_000);
      await sleep(1_000); // the held ticks answered before that one, and are done
      expect([...added].filter(([, labels]) => labels.length > 1)).toEqual([]);
      const givenUp = cutOffErrors.filter((line) => line.includes('gave up'));
      expect(givenUp).toEqual([expect.stringMatching(/schedule "beat" gave up \d+ ticks, from .* to .*: Redis could not be reached before the end of their tries, too late to enqueue them only once/)]);
    } finally {
      await cutOff.app.stop();
      await other.app.stop();
      await redis.quit();
      link.cut();
    }
  }, 90_000);
});
