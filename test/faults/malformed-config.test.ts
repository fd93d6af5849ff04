import { describe, expect, it } from 'vitest';
import { MalformedKeyError, QTasksTimer, WebView, type QueueOverview, type QueueTasks } from '../../lib/index.js';
import { RedisKeys } from '../../lib/redis/keys.js';
import { appsOnTestRedis } from '../helpers/plain-app.js';
import { eventually } from '../helpers/eventually.js';
import { qtasks } from '../helpers/qtasks-cli.js';
import { uniqueAppName } from '../helpers/names.js';

/** The error a promise rejects with (fails the test when it resolves). */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    (value) => expect.fail(`expected a rejection, got ${JSON.stringify(value)}`),
    (error: unknown) => error,
  );
}

/** What a MalformedKeyError says of `key` holding Redis type `type` where the app keeps `expected`. */
function malformed(key: string, type: string, expected: 'hash' | 'zset') {
  return { code: 'MALFORMED_KEY', key, type, expected, message: new MalformedKeyError(key, type, expected).message };
}

describe('GlobalConfig keys in Redis holding another Redis type: a typed error naming the key and its type, the key left as it is', () => {
  const { url, redis, apps } = appsOnTestRedis();

  /** A producer knowing the task `double`, started, and its keys. */
  async function producer(label: string): Promise<{ app: QueueTasks; keys: RedisKeys }> {
    const app = await apps.start(label, (registered) => registered.task('double', (n: number) => n * 2), { worker: false });
    return { app, keys: new RedisKeys(app.name) };
  }

  it('globalConfig.set, get and getAll of a settings key holding a string', async () => {
    const { app, keys } = await producer('config-settings');
    await redis.set(keys.settings, 'written by hand');
    for (const call of [() => app.globalConfig!.set('region', 'eu'), () => app.globalConfig!.get('region'), () => app.globalConfig!.getAll()]) {
      const error = await rejection(call());
      expect(error).toBeInstanceOf(MalformedKeyError);
      expect(error).toMatchObject(malformed(keys.settings, 'string', 'hash'));
    }
    expect(await redis.get(keys.settings)).toBe('written by hand');
  });

  it("an app's start meeting a task catalogue or heartbeats key of another type fails with it", async () => {
    for (const [label, keyOf, write, type, expected] of [
      ['config-catalog', (keys: RedisKeys) => keys.catalog, (key: string) => redis.rpush(key, 'x'), 'list', 'hash'],
      ['config-workers', (keys: RedisKeys) => keys.workers, (key: string) => redis.set(key, 'x'), 'string', 'zset'],
      ['config-worker-info', (keys: RedisKeys) => keys.workerInfo, (key: string) => redis.sadd(key, 'x'), 'set', 'hash'],
    ] as const) {
      const name = uniqueAppName(label);
      const key = keyOf(new RedisKeys(name));
      await write(key);
      const error = await rejection(apps.start(label, (app) => app.task('double', (n: number) => n * 2), { name }));
      expect(error, label).toBeInstanceOf(MalformedKeyError);
      expect(error, label).toMatchObject(malformed(key, type, expected));
      expect(await redis.type(key), label).toBe(type);
    }
  });

  it("a timer's start meeting a schedules key, or a schedule's run-state key, of another type fails with it", async () => {
    for (const [label, keyOf] of [
      ['config-schedules', (keys: RedisKeys) => keys.schedules],
      ['config-schedule-run', (keys: RedisKeys) => keys.scheduleRun('nightly')],
    ] as const) {
      const name = uniqueAppName(label);
      const key = keyOf(new RedisKeys(name));
      await redis.set(key, 'x');
      const withSchedule = (app: QueueTasks) => {
        app.task('double', (n: number) => n * 2);
        void new QTasksTimer(app).add('double', { name: 'nightly', cron: '0 3 * * *' });
      };
      const error = await rejection(apps.start(label, withSchedule, { name }));
      expect(error, label).toBeInstanceOf(MalformedKeyError);
      expect(error, label).toMatchObject(malformed(key, 'string', 'hash'));
      expect(await redis.get(key), label).toBe('x');
    }
  });

  it('publishing or removing a schedule meeting a key of another type writes nothing at all', async () => {
    const { app, keys } = await producer('config-schedule-writes');
    const run = keys.scheduleRun('nightly');
    const definition = { name: 'nightly', taskName: 'double', cron: '0 3 * * *', args: [], catchUp: false };
    await redis.set(run, 'x');
    const publishing = await rejection(app.globalConfig!.publishSchedule(definition, new Date()));
    expect(publishing).toBeInstanceOf(MalformedKeyError);
    expect(publishing).toMatchObject(malformed(run, 'string', 'hash'));
    expect(await redis.hget(keys.schedules, 'nightly')).toBeNull();
    expect(await redis.get(run)).toBe('x');

    await redis.del(run);
    await redis.hset(run, 'l', '1000', 'u', 'its-task');
    await redis.set(keys.schedules, 'y');
    const removing = await rejection(app.globalConfig!.removeSchedule('nightly'));
    expect(removing).toBeInstanceOf(MalformedKeyError);
    expect(removing).toMatchObject(malformed(keys.schedules, 'string', 'hash'));
    // The removal failed: the instances running it must not find it marked removed, nor lose its last run.
    expect(await redis.hgetall(run)).toEqual({ l: '1000', u: 'its-task' });
    expect(await redis.pttl(run)).toBe(-1);
    expect(await redis.get(keys.schedules)).toBe('y');
  });

  it("a timer's read before a tick meeting a schedule's run-state key of another type fails with it", async () => {
    const { app, keys } = await producer('config-schedule-tick');
    const run = keys.scheduleRun('nightly');
    await redis.set(run, 'x');
    const error = await rejection(app.globalConfig!.scheduleAtTick('nightly'));
    expect(error).toBeInstanceOf(MalformedKeyError);
    expect(error).toMatchObject(malformed(run, 'string', 'hash'));
    expect(await redis.get(run)).toBe('x');
  });

  it('a running worker whose heartbeats key came to hold another type logs it at each heartbeat, and runs tasks', async () => {
    const errors: string[] = [];
    const app = await apps.start('config-heartbeat', (registered) => registered.task('double', (n: number) => n * 2), {
      config: { globalConfigStatusTtlMs: 200 },
      logger: { log: () => undefined, warn: console.warn, error: (line) => errors.push(line) },
    });
    const keys = new RedisKeys(app.name);
    await redis.multi().del(keys.workers).set(keys.workers, 'x').exec();
    await eventually('a heartbeat failed', async () => errors.length > 0, 5_000);
    expect(errors[0]).toBe(`worker ${app.worker!.id}: ${malformed(keys.workers, 'string', 'zset').message}`);
    expect(await app.run('double', [2], { timeout: 10_000 })).toMatchObject({ status: 'success', returning: 4 });
    expect(await redis.get(keys.workers)).toBe('x');
  });

  describe('read by the dashboard and the CLI', () => {
    /**
     * An app with a worker, its heartbeats key and its settings key then overwritten by hand, and two
     * schedules, the run-state key of the second (`b`) overwritten too.
     */
    async function withBadKeys(label: string): Promise<{ app: QueueTasks; keys: RedisKeys }> {
      const app = await apps.start(label, (registered) => registered.task('double', (n: number) => n * 2));
      const keys = new RedisKeys(app.name);
      await app.run('double', [1], { timeout: 10_000 });
      await redis.multi().del(keys.workers).set(keys.workers, 'x').del(keys.settings).rpush(keys.settings, 'y').exec();
      const schedule = (name: string) => JSON.stringify({ name, taskName: 'double', every: 60_000, args: [], catchUp: false });
      await redis.multi().hset(keys.schedules, 'a', schedule('a'), 'b', schedule('b')).hset(keys.scheduleRun('a'), 'n', 1_000).set(keys.scheduleRun('b'), 'z').exec();
      return { app, keys };
    }

    it('the overview names each such key with its type and shows the rest', async () => {
      const { app, keys } = await withBadKeys('config-dashboard');
      const view = new WebView({ name: app.name, url, port: 0 });
      await view.start();
      try {
        const response = await fetch(`${view.address}/api/overview`);
        expect(response.status).toBe(200);
        const overview = (await response.json()) as QueueOverview;
        expect(overview.unreadable).toEqual([
          { key: keys.settings, type: 'list', expected: 'hash' },
          { key: keys.scheduleRun('b'), type: 'string', expected: 'hash' },
          { key: keys.workers, type: 'string', expected: 'zset' },
        ]);
        // The schedule whose run state cannot be read is listed without it.
        const schedules = overview.schedules.sort((x, y) => x.name.localeCompare(y.name));
        expect(schedules.map(({ name, nextRun }) => [name, nextRun])).toEqual([['a', new Date(1_000).toISOString()], ['b', undefined]]);
        expect(overview).toMatchObject({ workers: [], settings: {}, counts: { success: 1 } });
        expect(overview.catalog.map(({ name }) => name)).toEqual(['double']);
      } finally {
        await view.stop();
      }
    });

    it('qtasks status and the commands of one part print the rest, name each such key on stderr and exit 1', async () => {
      const { app, keys } = await withBadKeys('config-cli');
      const settingsProblem = `qtasks: ${malformed(keys.settings, 'list', 'hash').message}\n`;
      const otherProblems = `qtasks: ${malformed(keys.scheduleRun('b'), 'string', 'hash').message}\nqtasks: ${malformed(keys.workers, 'string', 'zset').message}\n`;
      const status = await qtasks('status', '--app', app.name);
      expect(status).toMatchObject({ code: 1, err: settingsProblem + otherProblems });
      expect(status.out).toMatch(/^tasks known: double$/m);
      expect(status.out).toMatch(/success 1/);
      expect(await qtasks('settings', '--app', app.name)).toEqual({ code: 1, out: '(no settings)\n', err: settingsProblem + otherProblems });
      const json = await qtasks('status', '--app', app.name, '--json');
      expect(json.code).toBe(1);
      expect((JSON.parse(json.out) as QueueOverview).unreadable.map(({ key }) => key)).toEqual([keys.settings, keys.scheduleRun('b'), keys.workers]);
      const schedules = await qtasks('schedules', '--app', app.name);
      expect(schedules.code).toBe(1);
      expect(schedules.out).toMatch(/^a .* next 1970-01-01T00:00:01\.000Z$/m);
      expect(schedules.out).toMatch(/^b .* next unknown$/m);
      // A pause, checked against the catalogue, names a catalogue key of another type and pauses nothing.
      await redis.multi().del(keys.catalog).set(keys.catalog, 'z').exec();
      expect(await qtasks('pause', '--app', app.name)).toEqual({ code: 1, out: '', err: `qtasks: ${malformed(keys.catalog, 'string', 'hash').message}\n` });
      expect(await redis.exists(keys.pauses)).toBe(0);
    });
  });
});
