import { Cluster } from 'ioredis';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { MalformedKeyError, MalformedRecordError, QueueInspector, QueueTasks, RedisUnavailableError, type TaskState, type WorkerStatus } from '../../lib/index.js';
import { RedisKeys } from '../../lib/redis/keys.js';
import { SCAN_REUSE_MS } from '../../lib/webview/inspector.js';
import { BACKENDS } from '../helpers/backends.js';
import { Gate } from '../helpers/gate.js';
import { uniqueAppName } from '../helpers/names.js';
import { plainApps } from '../helpers/plain-app.js';
import { startRedisCluster } from '../helpers/redis-cluster.js';
import { startRedisServer } from '../helpers/redis-server.js';

describe.each(BACKENDS)('the queue inspector (what the dashboard and CLI read) on $name', (backend) => {
  const apps = plainApps(backend.connection().url ?? '');
  const inspectors: QueueInspector[] = [];

  /** A started app on this backend (plainApps takes a URL; the cluster needs its options). */
  function startApp(label: string, register: (app: QueueTasks) => void, options: Parameters<typeof apps.start>[2] = {}) {
    return apps.start(label, register, { url: undefined, ...backend.connection(), ...options });
  }

  async function inspectorOf(app: QueueTasks): Promise<QueueInspector> {
    const inspector = new QueueInspector({ name: app.name, ...backend.connection() });
    inspectors.push(inspector);
    await inspector.start();
    return inspector;
  }

  afterEach(async () => {
    await Promise.all(inspectors.splice(0).map((inspector) => inspector.stop()));
    await apps.stopAll();
  });
  afterAll(() => apps.stopAll());

  it('counts tasks per state and lists each state, with the worker and catalogue, from Redis alone', async () => {
    const gate = new Gate();
    const worker = await startApp('inspect', (app) => {
      app.task({ name: 'double', description: 'doubles', tags: ['math'] }, (x: number) => x * 2);
      app.task('boom', () => {
        throw new TypeError('bad input');
      });
      app.task('hold', () => gate.pass());
    });
    const done = await Promise.all([1, 2, 3].map((x) => worker.run('double', [x])));
    const failed = await worker.run('boom');
    const held = await Promise.all([worker.add('hold'), worker.add('hold')]);
    const delayed = await worker.add('double', [9], { delay: 60_000 });
    const inspector = await inspectorOf(worker);
    // Bounded generously: vitest polls for 1 s by default, short for two claims on a loaded machine.
    await expect.poll(async () => (await inspector.overview()).counts.running, { timeout: 10_000 }).toBe(2);

    const overview = await inspector.overview();
    expect(overview.app).toBe(worker.name);
    expect(overview.counts).toEqual({ queued: 0, delayed: 1, running: 2, success: 3, error: 1, cancel: 0 });
    expect(overview.catalog.map(({ name }) => name).sort()).toEqual(['boom', 'double', 'hold']);
    expect(overview.catalog.find(({ name }) => name === 'double')).toMatchObject({ description: 'doubles', tags: ['math'] });
    expect(overview.workers).toHaveLength(1);
    expect(overview.workers[0]!.tasks.sort()).toEqual(['boom', 'double', 'hold']);
    // Counted from the leases: the heartbeat written at start said 0 and is not due again yet.
    expect(overview.workers[0]!.running).toBe(2);

    const success = await inspector.tasks('success');
    expect(success.tasks.map(({ uuid }) => uuid).sort()).toEqual(done.map(({ uuid }) => uuid).sort());
    expect(success.complete).toBe(true);
    const errors = await inspector.tasks('error');
    expect(errors.tasks.map(({ uuid }) => uuid)).toEqual([failed.uuid]);
    // A list holds what a row shows; arguments, results and tracebacks come one task at a time.
    for (const task of [...success.tasks, ...errors.tasks]) {
      for (const field of ['args', 'returning', 'traceback']) expect(task).not.toHaveProperty(field);
    }
    expect((await Promise.all(done.map(async ({ uuid }) => (await inspector.task(uuid))!.returning))).sort()).toEqual([2, 4, 6]);
    expect((await inspector.task(failed.uuid))!.traceback).toContain('TypeError: bad input');
    expect((await inspector.tasks('running')).tasks.map(({ uuid }) => uuid).sort()).toEqual(held.map(({ uuid }) => uuid).sort());
    expect((await inspector.tasks('delayed')).tasks.map(({ uuid }) => uuid)).toEqual([delayed.uuid]);
    expect((await inspector.task(failed.uuid))!.status).toBe('error');
    expect(await inspector.task('no-such-task')).toBeNull();

    gate.open();
    await Promise.all(held.map(({ uuid }) => worker.wait(uuid, { timeout: 10_000 })));
    const after = await inspector.overview();
    expect(after.counts).toMatchObject({ running: 0, success: 5 });
    expect(after.workers[0]!.running).toBe(0);
  });

  it('lists queued tasks in the order they will run and leaves cancelled ones out', async () => {
    const producer = await startApp('inspect-queue', (app) => app.task('job', () => undefined), { worker: false });
    const low = await producer.add('job', ['low'], { priority: 5 });
    const first = await producer.add('job', ['first'], { priority: 0 });
    const second = await producer.add('job', ['second'], { priority: 0 });
    const dropped = await producer.add('job', ['dropped'], { priority: 0 });
    await producer.cancel(dropped.uuid);
    const inspector = await inspectorOf(producer);

    const queued = await inspector.tasks('queued');
    expect(queued.tasks.map(({ uuid }) => uuid)).toEqual([first.uuid, second.uuid, low.uuid]);
    expect((await inspector.tasks('queued', 2)).tasks.map(({ uuid }) => uuid)).toEqual([first.uuid, second.uuid]);
    const overview = await inspector.overview();
    // The cancelled task left its queue; its record says cancel.
    expect(overview.queues).toEqual([
      { priority: 0, queued: 2 },
      { priority: 5, queued: 1 },
    ]);
    expect(overview.counts.cancel).toBe(1);
    expect((await inspector.tasks('cancel')).tasks.map(({ uuid }) => uuid)).toEqual([dropped.uuid]);
  });

  it('reaches every task of a state page by page, in the order of the whole list, across queues of two priorities', async () => {
    /** Every page of 50, following nextOffset (at most 10 pages), flattened; and the whole list at once. */
    const pages = async (inspector: QueueInspector, state: TaskState) => {
      const uuids: string[] = [];
      let offset: number | null = 0;
      for (let page = 0; offset !== null && page < 10; page++) {
        const list = await inspector.tasks(state, 50, offset);
        expect(list.offset).toBe(offset);
        uuids.push(...list.tasks.map(({ uuid }) => uuid));
        offset = list.nextOffset;
      }
      expect(offset).toBeNull();
      return { uuids, whole: (await inspector.tasks(state, 1000)).tasks.map(({ uuid }) => uuid) };
    };
    const producer = await startApp('inspect-pages', (app) => app.task('job', () => undefined), { worker: false });
    const bulk = (count: number, options: { priority?: number; delay?: number }) =>
      producer.addBulk(Array.from({ length: count }, (_, index) => ({ name: 'job', args: [index], ...options })));
    const low = await bulk(70, { priority: 5 });
    const high = await bulk(60, { priority: 0 });
    await bulk(120, { delay: 600_000 });
    const queued = await pages(await inspectorOf(producer), 'queued');
    expect(queued.uuids).toEqual([...high, ...low].map(({ uuid }) => uuid));
    expect(queued.uuids).toEqual(queued.whole);
    const delayed = await pages(await inspectorOf(producer), 'delayed');
    expect(delayed.uuids).toHaveLength(120);
    expect(delayed.uuids).toEqual(delayed.whole);

    // Finished tasks from the keepFinishedTasks index, and from a scan of the records.
    for (const config of [{ keepFinishedTasks: 1000 }, {}]) {
      const worker = await startApp('inspect-pages-done', (app) => app.task('job', () => undefined), { config: { ...config, maxTasksProcess: 20 } });
      await Promise.all(Array.from({ length: 120 }, () => worker.run('job')));
      const success = await pages(await inspectorOf(worker), 'success');
      expect(new Set(success.uuids).size).toBe(120);
      expect(success.uuids).toEqual(success.whole);
    }
  });

  it('counts tasks whose records are deleted when they finish, and lists the newest first from the keepFinishedTasks index', async () => {
    const deleting = await startApp('inspect-delete', (app) => app.task('job', (n: number) => n), {
      config: { deleteFinishedTasks: true },
    });
    await Promise.all([1, 2, 3, 4].map((n) => deleting.run('job', [n])));
    expect((await (await inspectorOf(deleting)).overview()).counts.success).toBe(4);

    const keeping = await startApp('inspect-keep', (app) => app.task('job', (n: number) => n), {
      config: { keepFinishedTasks: 10 },
    });
    const finished = [];
    for (const n of [1, 2, 3]) finished.push(await keeping.run('job', [n]));
    const newest = await (await inspectorOf(keeping)).tasks('success', 2);
    expect(newest.tasks.map(({ uuid }) => uuid)).toEqual([finished[2]!.uuid, finished[1]!.uuid]);
  });

  it('counts a requeued failed task no more as failed, and keeps listing failed tasks from the keepFinishedTasks index', async () => {
    let fixed = false;
    const app = await startApp('inspect-requeue', (registered) => registered.task('flaky', () => {
      if (!fixed) throw new Error('upstream down');
      return 'ok';
    }), { config: { keepFinishedTasks: 10 } });
    const first = await app.run('flaky', [], { timeout: 15_000 });
    const second = await app.run('flaky', [], { timeout: 15_000 });
    const inspector = await inspectorOf(app);
    expect((await inspector.overview()).counts.error).toBe(2);

    fixed = true;
    await app.requeue(second.uuid); // the newest entry of the index
    expect((await app.wait(second.uuid, { timeout: 15_000 })).status).toBe('success');
    fixed = false;
    const third = await app.run('flaky', [], { timeout: 15_000 });
    expect((await inspector.overview()).counts).toMatchObject({ error: 2, success: 1 });
    // A failed record the index does not hold (written by hand): a list read from the index leaves it out.
    const now = Date.now();
    await inspector.connection.client.set(`qtasks:{${app.name}}:t:by-hand`, `{"s":"error","u":${now},"n":"flaky","a":"[]","c":${now},"f":${now},"e":"x"}`);
    expect((await inspector.tasks('error')).tasks.map(({ uuid }) => uuid)).toEqual([third.uuid, first.uuid]);
  });

  it('lists and counts a task retried while its first claim batch still runs once, under the batch that holds it now', async () => {
    const gate = new Gate();
    let failures = 0;
    const register = (app: QueueTasks) => {
      app.task('hold', () => gate.pass());
      app.task({ name: 'flaky', retry: 1 }, () => {
        if (failures++ === 0) throw new Error('first attempt fails');
        return gate.pass();
      });
    };
    // Added before any worker runs, so that one claim takes both: one batch.
    const producer = await startApp('inspect-retried', register, { worker: false });
    const [hold, flaky] = [await producer.add('hold'), await producer.add('flaky')];
    const worker = await startApp('inspect-retried', register, { name: producer.name, config: { maxTasksProcess: 3 } });
    const inspector = await inspectorOf(worker);
    await expect.poll(async () => (await inspector.task(flaky.uuid))?.attempt, { timeout: 10_000 }).toBe(2);
    await expect.poll(async () => (await inspector.task(flaky.uuid))?.status, { timeout: 10_000 }).toBe('process');

    const running = await inspector.tasks('running');
    expect(running.tasks.map(({ uuid, attempt }) => `${uuid} ${attempt}`).sort()).toEqual([`${hold.uuid} 1`, `${flaky.uuid} 2`].sort());
    const overview = await inspector.overview();
    expect(overview.counts.running).toBe(2);
    expect(overview.workers.map(({ running: held }) => held)).toEqual([2]);
    gate.open();
  });

  it('lists finished tasks newest first after keepFinishedTasks was turned off, not from the index left behind', async () => {
    const register = (app: QueueTasks) => app.task('job', (n: number) => n);
    const keeping = await startApp('inspect-stale-index', register, { config: { keepFinishedTasks: 10 } });
    const old = await keeping.run('job', [1]);
    await keeping.stop();
    const notKeeping = await startApp('inspect-stale-index', register, { name: keeping.name });
    const fresh = await notKeeping.run('job', [2]);

    const list = await (await inspectorOf(notKeeping)).tasks('success');
    expect(list.tasks.map(({ uuid }) => uuid)).toEqual([fresh.uuid, old.uuid]);
  });

  it('shows the rest of the overview when a catalogue entry, setting, schedule or heartbeat is not JSON', async () => {
    const app = await startApp('inspect-bad-config', (registered) => registered.task('job', () => 'ok'));
    await app.globalConfig!.set('limit', 5);
    const inspector = await inspectorOf(app);
    const { client } = inspector.connection;
    const { keys } = inspector;
    await client.hset(keys.catalog, 'legacy', 'not json');
    await client.hset(keys.settings, 'note', 'plain text');
    await client.hset(keys.schedules, 'nightly', '{broken');
    await client.multi().zadd(keys.workers, Date.now() + 60_000, 'odd').hset(keys.workerInfo, 'odd', '{oops').exec();

    const overview = await inspector.overview();
    expect(overview.catalog.map(({ name }) => name)).toEqual(['job']);
    expect(overview.settings).toEqual({ limit: 5 });
    expect(overview.schedules).toEqual([]);
    // Read alone (the timer's list and catch-up do), it is left out the same way.
    expect(await app.globalConfig!.schedule('nightly')).toBeUndefined();
    expect(overview.workers.map(({ pid }) => pid)).toEqual([process.pid]);
  });

  it('reads heartbeats without writing: expired ones are left out, and one a whole TTL past its end is removed by the next heartbeat written', async () => {
    const app = await startApp('inspect-heartbeats', (registered) => registered.task('job', () => 'ok'));
    const inspector = await inspectorOf(app);
    const { client } = inspector.connection;
    const { keys } = inspector;
    const [own] = (await inspector.overview()).workers;
    const ttlMs = 60_000;
    // Gone for two TTLs; and just past its end (its writer's clock may run behind).
    const ended = { gone: Date.now() - 2 * ttlMs, late: Date.now() - 1_000 };
    for (const [id, at] of Object.entries(ended)) {
      await client.multi().zadd(keys.workers, at, id).hset(keys.workerInfo, id, JSON.stringify({ ...own!, id } satisfies WorkerStatus)).exec();
    }

    expect((await inspector.overview()).workers.map(({ id }) => id)).toEqual([own!.id]);
    expect(await client.zscore(keys.workers, 'gone')).not.toBeNull();
    await app.globalConfig!.setStatus(own!, ttlMs);
    expect(await client.zscore(keys.workers, 'gone')).toBeNull();
    expect(await client.hexists(keys.workerInfo, 'gone')).toBe(0);
    expect(await client.zscore(keys.workers, 'late')).not.toBeNull();
  });

  it('shows a malformed record as such instead of failing the whole list', async () => {
    const app = await startApp('inspect-bad', (registered) => registered.task('job', () => 'ok'));
    const good = await app.run('job');
    const inspector = await inspectorOf(app);
    await inspector.connection.client.set(inspector.keys.record('broken'), '{"s":"success", not json');

    const list = await inspector.tasks('success');
    expect(list.tasks.map(({ uuid }) => uuid)).toEqual([good.uuid]);
    expect(list.malformed).toEqual([{ uuid: 'broken', reason: expect.stringContaining('not JSON') }]);
    await expect(inspector.task('broken')).rejects.toBeInstanceOf(MalformedRecordError);
  });

  it('lists a record key holding another Redis type apart, in scanned, indexed and queued lists, instead of failing them', async () => {
    const register = (registered: QueueTasks) => registered.task('job', () => 'ok');
    const reason = 'the key holds a Redis hash, not a task record';
    // Finished tasks found by a scan of the records' heads.
    const scanned = await startApp('inspect-wrong-type-scan', register);
    const done = await scanned.run('job');
    const scanInspector = await inspectorOf(scanned);
    await scanInspector.connection.client.hset(scanInspector.keys.record('hashed'), 'field', 'value');
    expect(await scanInspector.tasks('success')).toMatchObject({ tasks: [{ uuid: done.uuid }], malformed: [{ uuid: 'hashed', reason }] });

    // Finished tasks from the keepFinishedTasks index.
    const indexed = await startApp('inspect-wrong-type-index', register, { config: { keepFinishedTasks: 10 } });
    const kept = await indexed.run('job');
    const indexInspector = await inspectorOf(indexed);
    await indexInspector.connection.client.hset(indexInspector.keys.record('hashed'), 'field', 'value');
    await indexInspector.connection.client.zadd(indexInspector.keys.finished('success'), 1, 'hashed');
    expect(await indexInspector.tasks('success')).toMatchObject({ tasks: [{ uuid: kept.uuid }], malformed: [{ uuid: 'hashed', reason }] });

    // Queued tasks (no worker here to take the queue entry).
    const producer = await startApp('inspect-wrong-type-queue', register, { worker: false });
    const queued = await producer.add('job');
    const queueInspector = await inspectorOf(producer);
    await queueInspector.connection.client.hset(queueInspector.keys.record('hashed'), 'field', 'value');
    await queueInspector.connection.client.rpush(queueInspector.keys.queue(0), 'hashed');
    expect(await queueInspector.tasks('queued')).toMatchObject({ tasks: [{ uuid: queued.uuid }], malformed: [{ uuid: 'hashed', reason }] });
  });

  it('refuses a record key holding another Redis type with MalformedRecordError naming it and the type', async () => {
    const app = await startApp('inspect-wrong-type', (registered) => registered.task('job', () => 'ok'));
    const inspector = await inspectorOf(app);
    await inspector.connection.client.hset(inspector.keys.record('hashed'), 'field', 'value');
    await expect(inspector.task('hashed')).rejects.toThrow(new MalformedRecordError('hashed', 'the key holds a Redis hash, not a task record'));
  });

  it('refuses an overview or list that meets an app key of another Redis type with MalformedKeyError naming it', async () => {
    const app = await startApp('inspect-key-type', (registered) => registered.task('job', () => 'ok'), { worker: false });
    await app.add('job');
    const inspector = await inspectorOf(app);
    const { client } = inspector.connection;
    const { finishedCounts } = inspector.keys;
    await client.set(finishedCounts, 'not a hash');
    await expect(inspector.overview()).rejects.toThrow(new MalformedKeyError(finishedCounts, 'string', 'hash'));
    await client.del(finishedCounts);
    const queue = inspector.keys.queue(0);
    await client.del(queue);
    await client.hset(queue, 'field', 'value');
    await expect(inspector.tasks('queued')).rejects.toThrow(new MalformedKeyError(queue, 'hash', 'list'));
    await client.del(queue);
    await app.pause('job');
    const line = inspector.keys.waitingLine('job');
    await client.hset(line, 'field', 'value');
    await expect(inspector.overview()).rejects.toThrow(new MalformedKeyError(line, 'hash', 'list'));
  });

  it('refuses an overview or finished list meeting a finished total that holds no integer with MalformedKeyError naming the key and the status, not NaN', async () => {
    const app = await startApp('inspect-total-text', (registered) => registered.task('job', () => 'ok'), { worker: false });
    const inspector = await inspectorOf(app);
    const { finishedCounts } = inspector.keys;
    await inspector.connection.client.hset(finishedCounts, 'success', '3', 'error', 'lots');
    const named = new MalformedKeyError(finishedCounts, 'string', 'integer', 'error');
    expect(named.message).toMatch(`Field "error" of key ${finishedCounts} holds a Redis string where this version keeps an integer`);
    await expect(inspector.overview()).rejects.toThrow(named);
    await expect(inspector.tasks('error')).rejects.toThrow(named);
    await inspector.connection.client.hset(finishedCounts, 'error', '2');
    expect((await inspector.overview()).counts).toMatchObject({ success: 3, error: 2, cancel: 0 });
  });

  it('names the key that failed, not a GlobalConfig key of another type beside it (the overview lists that one as unreadable)', async () => {
    const app = await startApp('inspect-key-type-beside', (registered) => registered.task('job', () => 'ok'), { worker: false });
    await app.add('job');
    const inspector = await inspectorOf(app);
    const { client } = inspector.connection;
    const { settings, pauses } = inspector.keys;
    await client.set(settings, 'not a hash');
    await client.set(pauses, 'not a set');
    await expect(inspector.overview()).rejects.toThrow(new MalformedKeyError(pauses, 'string', 'set'));
    await client.del(pauses);
    const queue = inspector.keys.queue(0);
    await client.del(queue);
    await client.hset(queue, 'field', 'value');
    await expect(inspector.tasks('queued')).rejects.toThrow(new MalformedKeyError(queue, 'hash', 'list'));
  });

  it('names the apps on this Redis', async () => {
    const app = await startApp('inspect-apps', (registered) => registered.task('job', () => 'ok'));
    expect(await (await inspectorOf(app)).apps()).toContain(app.name);
  });
});

describe('the queue inspector listing finished tasks without an index', () => {
  it('reads in full only the records it lists, however big the others are', async () => {
    const redis = await startRedisServer();
    const apps = plainApps(redis.url);
    try {
      const app = await apps.start('inspect-heads', (registered) => registered.task('report', () => 'y'.repeat(100_000)), {
        config: { maxTasksProcess: 10 },
      });
      const runs = await Promise.all(Array.from({ length: 30 }, () => app.run('report')));
      const inspector = new QueueInspector({ name: app.name, url: redis.url });
      await inspector.start();
      const sent = async () => Number(/total_net_output_bytes:(\d+)/.exec(await inspector.connection.client.info('stats'))![1]);
      const before = await sent();
      const list = await inspector.tasks('success', 1);
      const bytes = (await sent()) - before;
      await inspector.stop();

      const newest = Math.max(...runs.map(({ finishedAt }) => finishedAt!.getTime()));
      expect(list.tasks.map(({ finishedAt }) => finishedAt!.getTime())).toEqual([newest]);
      // 3 MB of results are stored; one record in full and 30 heads are read.
      expect(bytes).toBeLessThan(300_000);
    } finally {
      await apps.stopAll();
      await redis.destroy();
    }
  });
});

describe('the queue inspector reusing a scan of the records', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('lists finished tasks of every state from one scan until it is SCAN_REUSE_MS old, then scans again', async () => {
    const redis = await startRedisServer();
    const apps = plainApps(redis.url);
    const inspector = new QueueInspector({ name: uniqueAppName('inspect-scan-reuse'), url: redis.url });
    try {
      const app = await apps.start('inspect-scan-reuse', (registered) => {
        registered.task('job', () => 'ok');
        registered.task('boom', () => {
          throw new Error('bad');
        });
      }, { name: inspector.keys.appName });
      const done = await app.run('job');
      const failed = await app.run('boom');
      await inspector.start();
      const scans = async () => Number(/cmdstat_scan:calls=(\d+)/.exec(await inspector.connection.client.info('commandstats'))?.[1] ?? 0);
      const uuids = async (state: TaskState) => (await inspector.tasks(state)).tasks.map(({ uuid }) => uuid);

      const before = await scans();
      expect(await uuids('success')).toEqual([done.uuid]);
      const perScan = (await scans()) - before;
      expect(perScan).toBeGreaterThan(0);
      // A dashboard refreshing, on each tab, and two lists asked at once.
      for (let refresh = 1; refresh <= 5; refresh++) expect(await uuids('success')).toEqual([done.uuid]);
      expect(await uuids('error')).toEqual([failed.uuid]);
      expect(await Promise.all([uuids('cancel'), uuids('success')])).toEqual([[], [done.uuid]]);
      expect(await scans()).toBe(before + perScan);

      const later = await app.run('job');
      vi.useFakeTimers({ toFake: ['Date'] });
      vi.setSystemTime(Date.now() + SCAN_REUSE_MS);
      expect(await uuids('success')).toEqual([later.uuid, done.uuid]);
      expect(await scans()).toBe(before + 2 * perScan);
    } finally {
      await inspector.stop();
      await apps.stopAll();
      await redis.destroy();
    }
  });
});

describe('the queue inspector with Redis down', () => {
  it('fails at once with RedisUnavailableError naming the address', async () => {
    const inspector = new QueueInspector({ name: 'down', url: 'redis://127.0.0.1:1' });
    const started = inspector.start();
    await expect(started).rejects.toBeInstanceOf(RedisUnavailableError);
    await expect(started).rejects.toThrow('127.0.0.1:1');
    await inspector.stop();
  });
});

describe('the queue inspector on a Redis Cluster whose other masters hold many keys', () => {
  it("lists an app's finished tasks in full: only the master of the app's slot can hold its records", async () => {
    const cluster = await startRedisCluster(3);
    const admin = new Cluster(cluster.nodes);
    const app = new QueueTasks({ name: uniqueAppName('inspect-crowded'), cluster: { nodes: cluster.nodes }, logger: { log: () => undefined, warn: console.warn, error: console.error } }).task('double', (x: number) => x * 2);
    const inspector = new QueueInspector({ name: app.name, cluster: { nodes: cluster.nodes } });
    try {
      await app.start();
      const done = await Promise.all([1, 2, 3].map((x) => app.run('double', [x])));
      await fillOtherMasters(admin, `qtasks:{${app.name}}:`, 30_000);
      // The slot the inspector computes for an app is the one Redis uses.
      for (const name of [app.name, 'ünïcödé-app']) expect(new RedisKeys(name).slot).toBe(await admin.cluster('KEYSLOT', `qtasks:{${name}}:t`));
      await inspector.start();
      const success = await inspector.tasks('success');
      expect(success.tasks.map(({ uuid }) => uuid).sort()).toEqual(done.map(({ uuid }) => uuid).sort());
      expect(success.complete).toBe(true);
    } finally {
      await Promise.all([inspector.stop(), app.stop()]);
      admin.disconnect();
      await cluster.destroy();
    }
  }, 60_000);
});

/** Writes `count` keys on each master that does not serve the slot of `key`, in slots of their own. */
async function fillOtherMasters(admin: Cluster, key: string, count: number): Promise<void> {
  const masterOf = async (tag: string) => admin.slots[(await admin.cluster('KEYSLOT', tag)) as number]![0]!;
  const taken = new Set([await masterOf(key)]);
  for (let tag = 0; tag < 1000 && taken.size < 3; tag++) {
    const master = await masterOf(`{filler-${tag}}`);
    if (taken.has(master)) continue;
    taken.add(master);
    for (let start = 0; start < count; start += 1000) {
      await admin.mset(Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`{filler-${tag}}:${start + i}`, 'x'])));
    }
  }
  expect(taken.size).toBe(3);
}
