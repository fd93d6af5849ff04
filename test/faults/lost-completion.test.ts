import { Cluster, Redis } from 'ioredis';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { QueueTasks, type RedisConnectionOptions, type TaskContext, type TaskRecord } from '../../lib/index.js';
import { raceTimeout } from '../../lib/core/timing.js';
import { CuttableLink } from '../helpers/cuttable-link.js';
import { eventually } from '../helpers/eventually.js';
import { uniqueAppName } from '../helpers/names.js';
import { startRedisServer } from '../helpers/redis-server.js';

const quiet = { log: () => undefined, warn: () => undefined, error: () => undefined };

describe('a completion message that never arrives', () => {
  const redisUrl = inject('redisUrl');
  const redis = new Redis(redisUrl);
  const name = uniqueAppName('lost-completion');
  const app = new QueueTasks({ name, url: redisUrl, worker: false, logger: quiet }).task('job', () => 1);
  afterAll(async () => {
    await app.stop();
    redis.disconnect();
  });

  it('still ends a wait with no timeout: the waited statuses are read again while it is open', async () => {
    await app.start();
    const { uuid } = await app.add('job', [], { priority: 3 });
    const waiting = app.wait(uuid);
    // Finished without a message, as when the subscription lapsed (on a cluster, while ioredis
    // moves it to another node): a plain SET publishes nothing.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const finishedAt = Date.now();
    const record = `{"s":"success","u":${finishedAt},"n":"job","p":3,"a":"[]","c":${finishedAt},"b":${finishedAt},"f":${finishedAt},"r":"42"}`;
    await redis.set(`qtasks:{${name}}:t:${uuid}`, record);
    const settled = await raceTimeout(waiting, 15_000, () => 'still waiting' as const);
    expect(settled).toMatchObject({ uuid, status: 'success', returning: 42, priority: 3 });
  });

  it('still ends a wait whose record was deleted as its task finished (deleteFinishedTasks): the final record is read from the wait mark', async () => {
    const link = await CuttableLink.open({ host: '127.0.0.1', port: Number(new URL(redisUrl).port) });
    const own = uniqueAppName('lost-completion-deleted');
    const config = { deleteFinishedTasks: true };
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let started!: () => void;
    const running = new Promise<void>((resolve) => (started = resolve));
    const worker = new QueueTasks({ name: own, url: redisUrl, logger: quiet, config }).task('job', async () => (started(), await gate, 42));
    const waiter = new QueueTasks({ name: own, url: link.url, worker: false, logger: quiet, config }).task('job', () => 0);
    try {
      await worker.start();
      await waiter.start();
      const { uuid } = await waiter.add('job');
      // A long timeout: its mark lives as long, but not the final record it keeps.
      const waiting = waiter.wait(uuid, { timeout: 600_000 });
      await running;
      await eventually('the wait marked', async () => (await redis.exists(`qtasks:{${own}}:w:${uuid}`)) === 1);
      // The waiter is cut off as the task finishes: the completion is published to no one, and the
      // record is deleted with it.
      link.cut();
      release();
      await eventually('the record deleted', async () => (await redis.exists(`qtasks:{${own}}:t:${uuid}`)) === 0);
      await link.mend();
      const settled = await raceTimeout(waiting, 15_000, () => 'still waiting' as const);
      expect(settled).toMatchObject({ uuid, status: 'success', returning: 42 });
      expect(await redis.pttl(`qtasks:{${own}}:w:${uuid}`)).toBeLessThanOrEqual(60_000);
    } finally {
      await waiter.stop();
      await worker.stop();
      link.cut();
    }
  });

  it('reads the waited records one re-read at a time, however often one is asked for (ticks during an outage)', async () => {
    const server = await startRedisServer();
    const own = new QueueTasks({ name: uniqueAppName('recheck-once'), url: server.url, worker: false, logger: quiet }).task('job', () => 1);
    const admin = new Redis(server.url);
    try {
      await own.start();
      const { uuid } = await own.add('job');
      const watch = await own.storage.watch(uuid, 60_000);
      const getranges = async () => Number(/cmdstat_getrange:calls=(\d+)/.exec(await admin.info('commandstats'))?.[1] ?? 0);
      const before = await getranges();
      // What the 5 s ticks and a reconnect do: each asks for a re-read, the first still on its way.
      const storage = own.storage as unknown as { recheckWaiters(): void };
      for (let i = 0; i < 5; i++) storage.recheckWaiters();
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect((await getranges()) - before).toBe(1);
      watch.cancel();
    } finally {
      admin.disconnect();
      await own.stop();
      await server.destroy();
    }
  });
});


/**
 * Runs a task on `connection`, marks it cancelled as cancel.lua does but with no message (as if
 * published while the worker's subscription lapsed), then has `dropSubscriptions` close the
 * subscriptions, which ioredis opens again: the task must end cancel, not run to its end.
 */
async function cancelWhileSubscriptionLapsed(
  connection: RedisConnectionOptions,
  admin: Redis | Cluster,
  dropSubscriptions: () => Promise<unknown>,
): Promise<TaskRecord> {
  const name = uniqueAppName('lost-cancel');
  let started!: () => void;
  const running = new Promise<void>((resolve) => (started = resolve));
  const app = new QueueTasks({ name, ...connection, logger: quiet }).task({ name: 'long', echo: true }, async (ctx: TaskContext) => {
    started();
    // At most 6 s, unless aborted.
    for (let i = 0; i < 60 && !ctx.signal.aborted; i++) await new Promise((resolve) => setTimeout(resolve, 100));
    return 'ran to the end';
  });
  try {
    await app.start();
    const { uuid } = await app.add('long');
    await running;
    const key = `qtasks:{${name}}:t:${uuid}`;
    const held = JSON.parse((await admin.get(key))!) as Record<string, unknown>;
    await admin.set(key, JSON.stringify({ ...held, x: 'asked while away' }));
    await dropSubscriptions();
    return await app.wait(uuid, { timeout: 10_000 });
  } finally {
    await app.stop();
  }
}

describe('a cancel message that never arrives', () => {
  it('still aborts the running task: once its cancel subscription is back, the worker reads the records of its tasks', async () => {
    const server = await startRedisServer();
    const admin = new Redis(server.url);
    try {
      const record = await cancelWhileSubscriptionLapsed({ url: server.url }, admin, () => admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub'));
      expect(record).toMatchObject({ status: 'cancel', cancelReason: 'asked while away' });
      expect(record.returning).toBeUndefined();
    } finally {
      admin.disconnect();
      await server.destroy();
    }
  });

  it('still aborts it on a Redis Cluster, where ioredis moves the subscription to a new connection, perhaps on another node', async () => {
    const nodes = inject('redisClusterNodes');
    const admin = new Cluster(nodes);
    // Named so that only this app's connections are closed: other tests share the cluster.
    const connectionName = uniqueAppName('lost-cancel-conn');
    const dropSubscriptions = () =>
      Promise.all(
        nodes.map(async ({ host, port }) => {
          const node = new Redis({ host, port });
          try {
            const clients = (await node.call('CLIENT', 'LIST', 'TYPE', 'pubsub')) as string;
            const ours = clients.split('\n').filter((line) => line.includes(connectionName));
            for (const line of ours) await node.call('CLIENT', 'KILL', 'ID', /\bid=(\d+)/.exec(line)![1]!);
            return ours.length;
          } finally {
            node.disconnect();
          }
        }),
      );
    try {
      const record = await cancelWhileSubscriptionLapsed({ cluster: { nodes, options: { redisOptions: { connectionName } } } }, admin, async () => {
        const dropped = await dropSubscriptions();
        expect(dropped.reduce((sum, count) => sum + count, 0)).toBeGreaterThan(0);
      });
      expect(record).toMatchObject({ status: 'cancel', cancelReason: 'asked while away' });
      expect(record.returning).toBeUndefined();
    } finally {
      admin.disconnect();
    }
  });
});
