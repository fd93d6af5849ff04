import { Redis } from 'ioredis';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { MemoryGlobalConfig, QTasksTimer, QueueTasks, RedisUnavailableError, type GlobalConfig, type TickEvent } from '../../lib/index.js';
import { RedisKeys } from '../../lib/redis/keys.js';
import { eventually } from '../helpers/eventually.js';
import { uniqueAppName } from '../helpers/names.js';
import { qtasks } from '../helpers/qtasks-cli.js';
import { startRedisServer } from '../helpers/redis-server.js';
import { nextTickEvent, tickKeys } from '../helpers/ticks.js';

const quiet = { log: () => undefined, warn: () => undefined, error: () => undefined };

/** One instance of the app, running schedule "x" (every second by default); what it logs, and its ticks. */
async function startInstance(name: string, every = 1000, globalConfig?: GlobalConfig) {
  const logged: string[] = [];
  const app = new QueueTasks({ name, url: inject('redisUrl'), worker: false, globalConfig, logger: { ...quiet, log: (line) => logged.push(line) } });
  app.task('report', () => 'report');
  const timer = new QTasksTimer(app);
  const ticks: TickEvent[] = [];
  timer.onTick((event) => ticks.push(event));
  await timer.add('report', { name: 'x', every });
  await app.start();
  return { app, timer, logged, ticks };
}
type Instance = Awaited<ReturnType<typeof startInstance>>;

describe('timer.add while Redis is briefly down', () => {
  it("with whenRedisDown 'fail' it fails as RedisUnavailableError and keeps nothing: the same schedule can be added once Redis is back, and fires", async () => {
    const server = await startRedisServer();
    const redis = new Redis(server.url).on('error', () => undefined); // down on purpose for a while
    const name = uniqueAppName('timer-add-down');
    const app = new QueueTasks({ name, url: server.url, whenRedisDown: 'fail', worker: false, logger: quiet });
    app.task('report', () => 'report');
    const timer = new QTasksTimer(app);
    try {
      await app.start();
      await server.stop();
      await expect(timer.add('report', { name: 'nightly', every: 1000 })).rejects.toThrow(RedisUnavailableError);
      expect(await timer.list()).toEqual([]);

      await server.restart();
      await redis.ping();
      // The app's own client reconnects by itself; until it has, a 'fail' call fails at once.
      await eventually('the app reconnected', () => app.get('none').then(() => true, () => false), 10_000, 50);
      expect(await timer.add('report', { name: 'nightly', every: 1000 })).toMatchObject({ name: 'nightly', every: 1000 });
      const event = await nextTickEvent(timer, (tick) => tick.schedule === 'nightly');
      expect(event.added).toBe(true);
      expect((await timer.list()).map((schedule) => schedule.name)).toEqual(['nightly']);
    } finally {
      await app.stop();
      await redis.quit();
      await server.destroy();
    }
  });
});

describe('timer.remove with several instances running one schedule', () => {
  const url = inject('redisUrl');
  const redis = new Redis(url);
  afterAll(async () => redis.quit());

  type Instance = Awaited<ReturnType<typeof startInstance>>;

  /**
   * Removes "x" on A once B has ticked; B stops it at its next tick (a second away), says so, and
   * no instance enqueues a tick after the remove, even a tick later (B's job is gone, not refused).
   */
  const removeAndWatchOthersStop = async (name: string, a: Instance, b: Instance) => {
    await nextTickEvent(b.timer, (event) => event.schedule === 'x');
    expect(await a.timer.remove('x')).toBe(true);
    const removedAt = Date.now();
    await eventually('B stopped x', async () => (await b.timer.list()).length === 0, 5_000, 50);
    expect(b.logged).toContain('timer: schedule "x" was removed by another instance; stopped here too');
    await sleep(1_200);
    expect([...(await tickKeys(redis, name, 'x')).keys()].filter((tick) => tick > removedAt)).toEqual([]);
    expect(b.ticks.filter((event) => event.tick.getTime() > removedAt)).toEqual([]);
  };

  it('stops it everywhere: no instance enqueues a tick after the remove, the others stop it, the CLI lists none; an instance adding it again brings it back', async () => {
    const name = uniqueAppName('timer-remove-all');
    const a = await startInstance(name);
    const b = await startInstance(name);
    let c: Instance | undefined;
    try {
      await removeAndWatchOthersStop(name, a, b);
      const schedules = await qtasks('schedules', '--app', name);
      expect(schedules.out).toBe('no schedules\n');

      // An instance that starts with the schedule (declared or added in its code) adds it again.
      c = await startInstance(name);
      const event = await nextTickEvent(c.timer, (tick) => tick.schedule === 'x');
      expect(event.added).toBe(true);
      expect((await qtasks('schedules', '--app', name)).out).toMatch(/^x {2}report {2}every 1000 ms/);
    } finally {
      await Promise.all([a.app.stop(), b.app.stop(), c?.app.stop()]);
    }
  });

  it('stops it everywhere when removed in a process that fires no schedule (timers off)', async () => {
    const name = uniqueAppName('timer-remove-timers-off');
    const firing = await startInstance(name);
    const admin = new QueueTasks({ name, url, worker: false, logger: quiet });
    admin.task('report', () => 'report');
    const adminTimer = new QTasksTimer(admin, { enabled: false });
    await adminTimer.add('report', { name: 'x', every: 1000 });
    await admin.start();
    try {
      await removeAndWatchOthersStop(name, { app: admin, timer: adminTimer, logged: [], ticks: [] }, firing);
    } finally {
      await Promise.all([firing.app.stop(), admin.stop()]);
    }
  });

  it('stops it everywhere with a MemoryGlobalConfig shared by the instances of one process: no tick is enqueued after the remove', async () => {
    const name = uniqueAppName('timer-remove-memory');
    const globalConfig = new MemoryGlobalConfig();
    const a = await startInstance(name, 1000, globalConfig);
    const b = await startInstance(name, 1000, globalConfig);
    try {
      await removeAndWatchOthersStop(name, a, b);
      expect(await globalConfig.schedules()).toEqual([]);
    } finally {
      await Promise.all([a.app.stop(), b.app.stop()]);
    }
  });

  it('an instance starting without the schedule, which drops it from GlobalConfig as abandoned (its tick ran late), does not stop it in the instance running it', async () => {
    const name = uniqueAppName('timer-drop-abandoned');
    const keys = new RedisKeys(name);
    // A runs "x" (every 2 s); B runs no schedule of it.
    const a = await startInstance(name, 2000);
    let b: QueueTasks | undefined;
    const bLogged: string[] = [];
    try {
      await nextTickEvent(a.timer, (event) => event.schedule === 'x');
      // A's next run as B sees it: two minutes past (a tick that ran late, a clock behind).
      await redis.hset(keys.scheduleRun('x'), 'n', Date.now() - 120_000);
      b = new QueueTasks({ name, url, worker: false, logger: { ...quiet, log: (line) => bLogged.push(line) } });
      b.task('report', () => 'report');
      new QTasksTimer(b);
      await b.start();
      const droppedAt = Date.now();
      expect(bLogged.some((line) => line.startsWith('timer: schedule "x" removed from GlobalConfig'))).toBe(true);

      // A goes on: its next tick is enqueued and recorded, and it still lists x.
      const event = await nextTickEvent(a.timer, (tick) => tick.schedule === 'x' && tick.tick.getTime() > droppedAt, 5_000);
      expect(event.added).toBe(true);
      expect(a.logged.filter((line) => line.includes('removed by another instance'))).toEqual([]);
      expect((await a.timer.list()).map((schedule) => schedule.name)).toEqual(['x']);
      await eventually('the tick recorded', async () => (await redis.hget(keys.scheduleRun('x'), 'u')) === event.uuid, 3_000, 50);
    } finally {
      await Promise.all([a.app.stop(), b?.stop()]);
    }
  });
});

describe('a schedule defined differently by two deploys running together', () => {
  const url = inject('redisUrl');
  const redis = new Redis(url);
  afterAll(async () => redis.quit());

  it('fires as published by the one started last: the other fires none and says so once, and takes over once the published one is fired nowhere', async () => {
    const name = uniqueAppName('timer-published-wins');
    const old = await startInstance(name, 1000);
    let newer: Instance | undefined;
    try {
      await nextTickEvent(old.timer);
      newer = await startInstance(name, 2000);
      const newerAt = Date.now();
      await sleep(4_500);
      // The union would enqueue every second; the published definition ticks every other one.
      const ticks = [...(await tickKeys(redis, name, 'x')).keys()].filter((tick) => tick > newerAt);
      expect(ticks.length).toBeGreaterThanOrEqual(2);
      expect(ticks.filter((tick) => tick % 2000 !== 0)).toEqual([]);
      expect(old.ticks.filter((event) => event.tick.getTime() > newerAt)).toEqual([]);
      expect(old.logged.filter((line) => line.includes('differs here from its definition in GlobalConfig'))).toHaveLength(1);

      // The newer deploy gone for a minute (its last next run that far past): the old one publishes its own and fires.
      await newer.app.stop();
      await redis.hset(new RedisKeys(name).scheduleRun('x'), 'n', Date.now() - 120_000);
      const event = await nextTickEvent(old.timer, () => true, 5_000);
      expect(event.added).toBe(true);
      expect((await old.app.globalConfig!.schedule('x'))?.every).toBe(1000);
      expect(old.logged.some((line) => line.includes('replaced by the one defined here'))).toBe(true);
    } finally {
      await Promise.all([old.app.stop(), newer?.app.stop()]);
    }
  });
});

describe('addOnce with a unique key starting with timer:', () => {
  const url = inject('redisUrl');
  const redis = new Redis(url);
  afterAll(async () => redis.quit());

  it('enqueues as any other key, even while a removed schedule of that name is marked', async () => {
    const name = uniqueAppName('timer-prefix-key');
    const app = new QueueTasks({ name, url, worker: false, logger: quiet });
    app.task('report', () => 'report');
    await app.start();
    try {
      await redis.hset(new RedisKeys(name).scheduleRun('nightly'), 'r', Date.now());
      const first = await app.addOnce('report', [], { uniqueKey: 'timer:nightly:1000', uniqueTtlMs: 60_000 });
      expect(first.added).toBe(true);
      expect(first.uuid).not.toBe('');
      expect(await app.get(first.uuid)).toMatchObject({ status: 'new', taskName: 'report' });
      expect(await app.addOnce('report', [], { uniqueKey: 'timer:nightly:1000', uniqueTtlMs: 60_000 })).toEqual({ uuid: first.uuid, added: false });
    } finally {
      await app.stop();
    }
  });
});
