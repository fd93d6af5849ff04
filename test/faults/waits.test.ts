import { Redis } from 'ioredis';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { MalformedRecordError, QTasksError, QueueTasks, RedisUnavailableError, type QueueTasksOptions } from '../../lib/index.js';
import { raceTimeout } from '../../lib/core/timing.js';
import { RedisKeys } from '../../lib/redis/keys.js';
import { uniqueAppName } from '../helpers/names.js';
import { startRedisServer, type RedisServerHandle } from '../helpers/redis-server.js';

const quiet = { log: () => undefined, warn: () => undefined, error: () => undefined };

/** Settles within `ms` or fails the test saying what was still pending, instead of hanging it. */
function settled<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  return raceTimeout(work, ms, () => {
    throw new Error(`${what} still pending after ${ms} ms`);
  });
}

/** An app whose results a plugin stores as base64 text: a final record no reader can decode. */
function appStoringUnreadableResults(options: QueueTasksOptions): QueueTasks {
  const app = new QueueTasks({ ...options, logger: quiet }).task('double', (n: number) => n * 2);
  app.addPlugin(
    { name: 'Packer', handlers: { task_executor_decode: ({ payload }) => ({ payload: Buffer.from(payload).toString('base64') }) } },
    { triggers: ['task_executor_decode'], component: 'executor' },
  );
  return app;
}

describe('waits end, with a typed error, when the finished record cannot be read', () => {
  const backends: [string, () => QueueTasksOptions][] = [
    ['Redis', () => ({ url: inject('redisUrl') })],
    ['memory', () => ({ backend: 'memory' })],
  ];
  for (const [backend, options] of backends) {
    it(`run() and wait() without a timeout reject with MalformedRecordError (${backend})`, async () => {
      const app = appStoringUnreadableResults({ name: uniqueAppName('unreadable-result'), ...options() });
      await app.start();
      try {
        // Under the storage's 5 s re-read: the completion message itself must end the waits.
        const ran = settled(app.run('double', [21]), 3_000, 'run()');
        await expect(ran).rejects.toBeInstanceOf(MalformedRecordError);
        await expect(ran).rejects.toMatchObject({ message: expect.stringMatching(/its result is not JSON/) });
        const added = await app.add('double', [1]);
        await expect(settled(app.wait(added.uuid), 3_000, 'wait()')).rejects.toBeInstanceOf(MalformedRecordError);
      } finally {
        await app.stop();
      }
    });
  }

  it('a wait whose completion message was missed ends with MalformedRecordError at the next re-read', async () => {
    const name = uniqueAppName('unreadable-recheck');
    const redis = new Redis(inject('redisUrl'));
    const app = new QueueTasks({ name, url: inject('redisUrl'), worker: false, logger: quiet }).task('double', (n: number) => n * 2);
    await app.start();
    try {
      const queued = await app.add('double', [1]);
      const waiting = app.wait(queued.uuid);
      waiting.catch(() => undefined);
      // Finished behind the app's back, with no message: only the periodic re-read (5 s) sees it.
      await new Promise((resolve) => setTimeout(resolve, 200));
      await redis.set(new RedisKeys(name).record(queued.uuid), '{"s":"success","n":"double","a":"[1]","c":1,"r":"{not json"}');
      await expect(settled(waiting, 12_000, 'wait()')).rejects.toBeInstanceOf(MalformedRecordError);
    } finally {
      await app.stop();
      await redis.quit();
    }
  });
});

describe("whenRedisDown 'wait' holds a wait while Redis is down, as it holds an add", () => {
  const servers: RedisServerHandle[] = [];
  afterAll(async () => Promise.all(servers.map((server) => server.destroy())));

  /** A producer that has never waited (no subscription yet), one queued task, and Redis then stopped. */
  async function producerWithRedisDown(label: string) {
    const server = await startRedisServer({ appendOnly: true });
    servers.push(server);
    const name = uniqueAppName(label);
    const producer = new QueueTasks({ name, url: server.url, worker: false, globalConfig: null, logger: quiet }).task('double', (n: number) => n * 2);
    await producer.start();
    const queued = await producer.add('double', [1]);
    await server.stop();
    return { server, name, producer, queued };
  }

  it('run() and wait() made while Redis is down succeed once it is back', async () => {
    const { server, name, producer, queued } = await producerWithRedisDown('held-wait');
    const waited = producer.wait(queued.uuid);
    const ran = producer.run('double', [3]);
    waited.catch(() => undefined);
    ran.catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 500));
    await server.restart();
    const worker = new QueueTasks({ name, url: server.url, globalConfig: null, logger: quiet }).task('double', (n: number) => n * 2);
    await worker.start();
    try {
      expect(await settled(waited, 15_000, 'wait()')).toMatchObject({ status: 'success', returning: 2 });
      expect(await settled(ran, 15_000, 'run()')).toMatchObject({ status: 'success', returning: 6 });
    } finally {
      await worker.stop();
      await producer.stop();
    }
  });

  it('a wait held past its own timeout fails with RedisUnavailableError; stop() ends a held wait', async () => {
    const { producer, queued } = await producerWithRedisDown('held-timeout');
    const startedAt = Date.now();
    await expect(settled(producer.wait(queued.uuid, { timeout: 300 }), 5_000, 'wait({ timeout: 300 })')).rejects.toBeInstanceOf(RedisUnavailableError);
    // Held, tried again until its timeout (once more then): not failed at once.
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(100);
    let heldSettled = false;
    const held = producer.wait(queued.uuid).finally(() => (heldSettled = true));
    held.catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(heldSettled).toBe(false);
    await settled(producer.stop(), 5_000, 'stop()');
    await expect(settled(held, 5_000, 'the held wait')).rejects.toBeInstanceOf(QTasksError);
  });

  it('a held wait tries once more at its timeout: Redis back shortly before it answers the wait', async () => {
    const { server, producer, queued } = await producerWithRedisDown('held-last-try');
    // Tries 50, 100, 150... ms apart: the 15th fails about 5.25 s in, and the next pause (750 ms)
    // would pass the timeout. Redis is back after that try and before the timeout.
    const waited = producer.wait(queued.uuid, { timeout: 5_900, returnOnTimeout: true });
    waited.catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 5_450));
    await server.restart();
    try {
      expect(await settled(waited, 10_000, 'wait()')).toMatchObject({ uuid: queued.uuid, status: 'new' });
    } finally {
      await producer.stop();
    }
  });

  it('the time a wait was held counts toward its timeout', async () => {
    const { server, producer, queued } = await producerWithRedisDown('held-counted');
    const startedAt = Date.now();
    // No worker: the task stays queued, so the wait ends by its 3 s timeout, 2 s of them held.
    const waited = producer.wait(queued.uuid, { timeout: 3_000, returnOnTimeout: true });
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    await server.restart();
    try {
      expect(await settled(waited, 10_000, 'wait()')).toMatchObject({ status: 'new' });
      // Counted from the call, not from Redis's return (which would end it near 5 s).
      expect(Date.now() - startedAt).toBeLessThan(4_500);
    } finally {
      await producer.stop();
    }
  });

  it("with whenRedisDown 'fail' a wait fails at once, as an add does", async () => {
    const server = await startRedisServer();
    servers.push(server);
    const producer = new QueueTasks({ name: uniqueAppName('fail-wait'), url: server.url, whenRedisDown: 'fail', worker: false, globalConfig: null, logger: quiet });
    producer.task('double', (n: number) => n * 2);
    await producer.start();
    const queued = await producer.add('double', [1]);
    await server.stop();
    try {
      await expect(settled(producer.wait(queued.uuid), 5_000, 'wait()')).rejects.toBeInstanceOf(RedisUnavailableError);
    } finally {
      await producer.stop();
    }
  });
});
