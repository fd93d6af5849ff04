import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { AddTooLateError, InvalidOptionError, QueueTasks } from '../../lib/index.js';
import { uniqueAppName } from '../helpers/names.js';
import { taskUuids } from '../helpers/ticks.js';

describe('addOnce (idempotent enqueue)', () => {
  const url = inject('redisUrl');
  const name = uniqueAppName('add-once');
  const redis = new Redis(url);
  const app = new QueueTasks({ name, url, worker: false });
  app.task('mail', (to: string) => to);
  beforeAll(async () => app.start());
  afterAll(async () => {
    await app.stop();
    await redis.quit();
  });

  it('racing adds with one key enqueue one task; the others get its uuid back', async () => {
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => app.addOnce('mail', [`user${i}`], { uniqueKey: 'welcome:42', uniqueTtlMs: 60_000 })),
    );
    const winners = results.filter((result) => result.added);
    expect(winners).toHaveLength(1);
    expect(new Set(results.map((result) => result.uuid))).toEqual(new Set([winners[0]!.uuid]));
    expect(await taskUuids(redis, name)).toEqual([winners[0]!.uuid]);
    const ttl = await redis.pttl(`qtasks:{${name}}:u:welcome:42`);
    expect(ttl).toBeGreaterThan(50_000);
    expect(ttl).toBeLessThanOrEqual(60_000);
    const other = await app.addOnce('mail', ['x'], { uniqueKey: 'welcome:43', uniqueTtlMs: 60_000 });
    expect(other.added).toBe(true);
  });

  it('fires the after-enqueue triggers as add does, the record ones only when it stored the task', async () => {
    const heard: string[] = [];
    const listen = (trigger: string) => () => void heard.push(trigger);
    const plugged = new QueueTasks({ backend: 'memory', worker: false }).task('mail', (to: string) => to);
    plugged.addPlugin({
      name: 'Listener',
      handlers: {
        broker_add_after: listen('broker_add_after'),
        storage_add: listen('storage_add'),
        app_add_task_after_broker: listen('app_add_task_after_broker'),
      },
    });
    await plugged.start();
    try {
      expect((await plugged.addOnce('mail', ['a'], { uniqueKey: 'k', uniqueTtlMs: 60_000 })).added).toBe(true);
      expect(heard.splice(0)).toEqual(['broker_add_after', 'storage_add', 'app_add_task_after_broker']);
      expect((await plugged.addOnce('mail', ['b'], { uniqueKey: 'k', uniqueTtlMs: 60_000 })).added).toBe(false);
      expect(heard).toEqual(['broker_add_after']);
    } finally {
      await plugged.stop();
    }
  });

  it('with a deadline, enqueues before it; past it enqueues nothing, takes no key and fails with AddTooLateError (Redis and memory)', async () => {
    const memory = new QueueTasks({ backend: 'memory', worker: false }).task('mail', (to: string) => to);
    await memory.start();
    try {
      for (const producer of [app, memory]) {
        const late = producer.addOnce('mail', ['late'], { uniqueKey: 'late:1', uniqueTtlMs: 60_000, deadline: Date.now() - 1_000 });
        await expect(late).rejects.toThrow(AddTooLateError);
        await expect(late).rejects.toMatchObject({ code: 'ADD_TOO_LATE', taskName: 'mail' });
        const inTime = await producer.addOnce('mail', ['in time'], { uniqueKey: 'late:1', uniqueTtlMs: 60_000, deadline: Date.now() + 60_000 });
        expect(inTime.added).toBe(true);
        expect((await producer.get(inTime.uuid))?.args).toEqual(['in time']);
      }
      await expect(app.addOnce('mail', [], { uniqueKey: 'k', uniqueTtlMs: 1000, deadline: Number.NaN })).rejects.toThrow(/deadline of task "mail"/);
    } finally {
      await memory.stop();
    }
  });

  it('refuses an empty key or a TTL that is not a positive whole number', async () => {
    await expect(app.addOnce('mail', [], { uniqueKey: '', uniqueTtlMs: 1000 })).rejects.toThrow(InvalidOptionError);
    await expect(app.addOnce('mail', [], { uniqueKey: 'k', uniqueTtlMs: 0 })).rejects.toThrow(/uniqueTtlMs of task "mail"/);
    await expect(app.addOnce('mail', [], { uniqueKey: 'k', uniqueTtlMs: 1.5 })).rejects.toThrow(InvalidOptionError);
  });

  it('refuses a TTL past the safe integers before sending it, so adds sharing its round trip are stored and answered', async () => {
    // The first add goes at once; the two made while it is on its way share the next call.
    const lone = app.add('mail', ['lone']);
    const [tooLong, shared] = await Promise.allSettled([
      app.addOnce('mail', ['forever'], { uniqueKey: 'forever', uniqueTtlMs: 1e19 }),
      app.add('mail', ['shared']),
    ]);
    expect(tooLong.status === 'rejected' && tooLong.reason).toBeInstanceOf(InvalidOptionError);
    expect(tooLong.status === 'rejected' && (tooLong.reason as Error).message).toMatch(/uniqueTtlMs of task "mail" .* at most 9007199254740991, got 10000000000000000000/);
    expect(shared.status).toBe('fulfilled');
    const stored = shared.status === 'fulfilled' ? await app.get(shared.value.uuid) : null;
    expect(stored?.args).toEqual(['shared']);
    expect((await lone).status).toBe('new');
    expect(await redis.exists(`qtasks:{${name}}:u:forever`)).toBe(0);
    const longest = await app.addOnce('mail', ['kept'], { uniqueKey: 'longest', uniqueTtlMs: Number.MAX_SAFE_INTEGER });
    expect(longest.added).toBe(true);
    expect(await redis.pttl(`qtasks:{${name}}:u:longest`)).toBeGreaterThan(2 ** 52);
  });
});
