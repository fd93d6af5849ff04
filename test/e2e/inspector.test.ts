import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { MalformedRecordError, QueueInspector, RedisUnavailableError, type QueueTasks } from '../../lib/index.js';
import { BACKENDS } from '../helpers/backends.js';
import { Gate } from '../helpers/gate.js';
import { plainApps } from '../helpers/plain-app.js';

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
    await expect.poll(async () => (await inspector.overview()).counts.running).toBe(2);

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
    expect(success.tasks.map(({ returning }) => returning).sort()).toEqual([2, 4, 6]);
    expect(success.complete).toBe(true);
    const errors = await inspector.tasks('error');
    expect(errors.tasks.map(({ uuid }) => uuid)).toEqual([failed.uuid]);
    expect(errors.tasks[0]!.traceback).toContain('TypeError: bad input');
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
    // The cancelled task's queue entry stays until a claim drops it; its record says cancel.
    expect(overview.queues).toEqual([
      { priority: 0, queued: 3 },
      { priority: 5, queued: 1 },
    ]);
    expect(overview.counts.cancel).toBe(1);
    expect((await inspector.tasks('cancel')).tasks.map(({ uuid }) => uuid)).toEqual([dropped.uuid]);
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

  it('names the apps on this Redis', async () => {
    const app = await startApp('inspect-apps', (registered) => registered.task('job', () => 'ok'));
    expect(await (await inspectorOf(app)).apps()).toContain(app.name);
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
