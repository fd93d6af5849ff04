import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { RedisBroker, type NewTask, type Retention } from '../../lib/index.js';
import { uniqueAppName } from '../helpers/names.js';

const keep: Retention = { deleteFinishedTasks: false, resultTtlMs: 0, keepFinishedTasks: 0 };

function newTask(): NewTask {
  return { uuid: randomUUID(), taskName: 'job', priority: 0, argsJson: '[1]', createdAt: Date.now(), delayMs: 0 };
}

/** The lease token lives in the task's record: only its current holder may finish, renew, release or report on it. */
describe('leases', () => {
  const url = inject('redisUrl');
  const redis = new Redis(url);
  let broker: RedisBroker;
  let name: string;

  beforeEach(async () => {
    await broker?.stop();
    name = uniqueAppName('lease');
    broker = new RedisBroker({ name, url });
    await broker.start();
  });
  afterAll(async () => {
    await broker?.stop();
    await redis.quit();
  });

  it('a completion stores once; the same token cannot finish the task twice', async () => {
    const task = newTask();
    await broker.enqueue([task]);
    const [claimed] = (await broker.claim('w1', 5, 10_000, keep)).tasks;
    expect(claimed!.record.status).toBe('process');
    const outcome = { uuid: task.uuid, token: claimed!.token, status: 'success' as const, payload: '"ok"' };
    expect(await broker.complete([outcome], keep)).toEqual([true]);
    expect(await broker.complete([{ ...outcome, payload: '"again"' }], keep)).toEqual([false]);
    const record = await broker.storage.get(task.uuid);
    expect(record?.returning).toBe('ok');
    expect(await redis.zcard(`qtasks:{${name}}:a`)).toBe(0);
  });

  it('renew pushes the deadline of held leases only', async () => {
    const task = newTask();
    await broker.enqueue([task]);
    const [claimed] = (await broker.claim('w1', 1, 1_000, keep)).tasks;
    // One lease entry per claimed batch: this claim's.
    const deadline = async () => {
      const entries = await redis.zrange(`qtasks:{${name}}:a`, '0', '-1', 'WITHSCORES');
      expect(entries).toHaveLength(2);
      return Number(entries[1]);
    };
    const before = await deadline();
    expect(await broker.renew([{ uuid: task.uuid, token: claimed!.token }], 60_000)).toEqual([]);
    const after = await deadline();
    expect(after - before).toBeGreaterThan(50_000);
  });

  it('a claim whose reply never arrived is recovered on its own, whatever becomes of later batches', async () => {
    const tasks = [newTask(), newTask(), newTask(), newTask()];
    await broker.enqueue(tasks);
    // Another client's claim (as if its reply was lost in a reconnect: the client library may even
    // send it again), then a claim this broker completes in full, which ends its own batch lease.
    const lostClaimer = new RedisBroker({ name, url });
    await lostClaimer.start();
    const lost = (await lostClaimer.claim('w1', 2, 30, keep)).tasks;
    await lostClaimer.stop();
    const mine = (await broker.claim('w2', 2, 30, keep)).tasks;
    const outcomes = mine.map(({ record, token }) => ({ uuid: record.uuid, token, status: 'success' as const, payload: '1' }));
    expect(await broker.complete(outcomes, keep)).toEqual([true, true]);
    await sleep(60);
    expect(await broker.recover(3, keep)).toEqual({ requeued: 2, failed: 0 });
    const again = (await broker.claim('w3', 4, 10_000, keep)).tasks.map(({ record }) => record.uuid);
    expect(again.sort()).toEqual(lost.map(({ record }) => record.uuid).sort());
  });

  it('a uuid that cannot be one field of the packed enqueue is refused, and nothing is stored', async () => {
    const bad = { ...newTask(), uuid: 'two words' };
    await expect(broker.enqueue([newTask(), bad])).rejects.toThrow(/Task uuid "two words" must be non-empty and hold no whitespace/);
    expect(await redis.keys(`qtasks:{${name}}:t:*`)).toEqual([]);
  });

  it('release hands a held task back to the head of the queue, unclaimed', async () => {
    const [a, b] = [newTask(), newTask()];
    await broker.enqueue([a, b]);
    const [claimed] = (await broker.claim('w1', 1, 10_000, keep)).tasks;
    expect(claimed!.record.uuid).toBe(a.uuid);
    expect(await broker.release([{ uuid: a.uuid, token: 'not-the-token' }], keep)).toBe(0);
    expect(await broker.release([{ uuid: a.uuid, token: claimed!.token }], keep)).toBe(1);
    expect((await broker.storage.get(a.uuid))?.status).toBe('new');
    const again = (await broker.claim('w2', 2, 10_000, keep)).tasks.map((task) => task.record.uuid);
    expect(again).toEqual([a.uuid, b.uuid]);
  });
});

describe('completion notices', () => {
  const url = inject('redisUrl');

  it('are published only for tasks a client waits for', async () => {
    const name = uniqueAppName('notice');
    const broker = new RedisBroker({ name, url });
    await broker.start();
    const listener = new Redis(url);
    const messages: string[] = [];
    let lastArrived!: () => void;
    const arrived = new Promise<void>((resolve) => (lastArrived = resolve));
    await listener.subscribe(`qtasks:{${name}}:done`);
    try {
      const [unwatched, watched] = [newTask(), newTask()];
      listener.on('message', (_channel: string, message: string) => {
        messages.push(message.split('\n')[0]!);
        if (message.startsWith(watched.uuid)) lastArrived();
      });
      await broker.enqueue([unwatched, watched]);
      const claimed = (await broker.claim('w1', 2, 10_000, keep)).tasks;
      const finish = (index: number) =>
        broker.complete([{ uuid: claimed[index]!.record.uuid, token: claimed[index]!.token, status: 'success', payload: '1' }], keep);
      await finish(0);
      const watch = await broker.storage.watch(watched.uuid, 5_000);
      await finish(1);
      expect((await watch.finished)?.status).toBe('success');
      // One connection delivers in publish order: a notice for the first task would come first.
      await arrived;
      expect(messages).toEqual([watched.uuid]);
    } finally {
      await listener.quit();
      await broker.stop();
    }
  });
});
