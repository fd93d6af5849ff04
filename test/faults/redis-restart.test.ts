import { createServer, type AddressInfo, type Socket } from 'node:net';
import { Redis, type RedisOptions } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { raceTimeout } from '../../lib/core/timing.js';
import { RedisKeys } from '../../lib/redis/keys.js';
import { AddOutcomeUnknownError, AppStoppedError, QueueTasks, RedisUnavailableError, type TaskRecord, type WhenRedisDown } from '../../lib/index.js';
import { uniqueAppName } from '../helpers/names.js';
import { startRedisServer, type RedisServerHandle } from '../helpers/redis-server.js';
import { stopChild, type ChildApp } from '../helpers/child-app.js';
import { eventually } from '../helpers/eventually.js';
import { quietLogger, runsOf, startProducer, startWorkerApp } from './support.js';

const TOTAL = 2000;
const BATCH = 50;

describe('Redis restart in the middle of a load', () => {
  let server: RedisServerHandle;
  const workers: ChildApp[] = [];
  const producers: QueueTasks[] = [];
  let reader: Redis;

  beforeAll(async () => {
    server = await startRedisServer({ appendOnly: true });
    reader = new Redis(server.url);
    reader.on('error', () => undefined); // it reconnects by itself after the restart
  });
  afterAll(async () => {
    await Promise.all(workers.map(stopChild));
    await Promise.all(producers.map((producer) => producer.stop()));
    reader?.disconnect();
    await server?.destroy();
  });

  it('producers fail fast or wait as chosen, workers reconnect, every accepted task ends once', async () => {
    const name = uniqueAppName('restart');
    const options = { name, url: server.url, config: { maxTasksProcess: 20 } };
    // One worker in each mode: workers recover by themselves either way.
    workers.push(await startWorkerApp({ ...options, whenRedisDown: 'wait' }, 'A'));
    workers.push(await startWorkerApp({ ...options, whenRedisDown: 'fail' }, 'B'));
    const failing = await startProducer({ ...options, whenRedisDown: 'fail' });
    const waiting = await startProducer({ ...options, whenRedisDown: 'wait' });
    producers.push(failing, waiting);
    const batch = (from: number) =>
      Array.from({ length: BATCH }, (_, i) => ({ name: 'work', args: [`w${from + i}`, 2] }));

    const accepted: TaskRecord[] = [];
    let next = 0;
    while (next < TOTAL / 2) {
      accepted.push(...(await failing.addBulk(batch(next))));
      next += BATCH;
    }

    await server.stop();
    // 'fail': refused at once with a typed error, and nothing of that batch is stored.
    const refused = await failing.addBulk(batch(next)).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(RedisUnavailableError);
    expect((refused as RedisUnavailableError).code).toBe('REDIS_UNAVAILABLE');
    expect((refused as Error).message).toMatch(/^Redis at 127\.0\.0\.1:\d+\/0 is not reachable: /);
    // Single adds made at once share enqueue calls: each of them is refused alike.
    const refusedTogether = await Promise.all(batch(next).map(({ name, args }) => failing.add(name, args).catch((error: unknown) => error)));
    expect(refusedTogether.filter((error) => !(error instanceof RedisUnavailableError))).toEqual([]);
    // So are reads, waits and cancels (this producer has not subscribed yet: that fails cleanly too).
    const known = accepted[0]!.uuid;
    const calls = [() => failing.get(known), () => failing.wait(known, { timeout: 1000 }), () => failing.cancel(known)];
    for (const call of calls) expect(await call().catch((error: unknown) => error)).toBeInstanceOf(RedisUnavailableError);
    // 'wait': held until Redis is back, then accepted.
    const held = waiting.addBulk(batch(next));
    next += BATCH;
    const heldTogether = Promise.all(batch(next).map(({ name, args }) => waiting.add(name, args)));
    next += BATCH;
    await new Promise((resolve) => setTimeout(resolve, 1000));
    await server.restart();
    accepted.push(...(await held), ...(await heldTogether));

    // A 'fail' producer retries on its own schedule; its client reconnects in the background.
    const retryDeadline = Date.now() + 30_000;
    while (next < TOTAL) {
      try {
        accepted.push(...(await failing.addBulk(batch(next))));
        next += BATCH;
      } catch (error) {
        if (!(error instanceof RedisUnavailableError) || Date.now() > retryDeadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    expect(accepted).toHaveLength(TOTAL);

    const keys = new RedisKeys(name);
    const finals = await untilAllFinal(reader, accepted.map((task) => keys.record(task.uuid)), 60_000);
    expect(finals.filter((status) => status !== 'success')).toEqual([]);

    const runs = new Map<string, number>();
    for (const id of workers.flatMap((worker) => runsOf(worker, 'finished'))) runs.set(id, (runs.get(id) ?? 0) + 1);
    expect(runs.size).toBe(TOTAL);
    expect([...runs.entries()].filter(([, count]) => count !== 1)).toEqual([]);
    // Both workers reconnected by themselves: 40 slow tasks are more than one worker's 20 slots,
    // so each must take some (which of them ran the restart's backlog is up to timing).
    const slow = await waiting.addBulk(Array.from({ length: 40 }, (_, i) => ({ name: 'work', args: [`z${i}`, 300] })));
    const slowFinals = await untilAllFinal(reader, slow.map((task) => keys.record(task.uuid)), 30_000);
    expect(slowFinals.filter((status) => status !== 'success')).toEqual([]);
    for (const worker of workers) expect(runsOf(worker, 'started').some((id) => id.startsWith('z'))).toBe(true);
  }, 120_000);
});

describe('a call made before start (an add in a Nest onModuleInit)', () => {
  for (const whenRedisDown of ['wait', 'fail'] as WhenRedisDown[]) {
    it(`leaves the app reconnecting after a Redis restart (whenRedisDown '${whenRedisDown}')`, async () => {
      const server = await startRedisServer({ appendOnly: true });
      const app = new QueueTasks({ name: uniqueAppName('early-call'), url: server.url, whenRedisDown, logger: quietLogger });
      app.task('double', (n: number) => n * 2);
      try {
        // The call opens the connection (with 'wait' ioredis does, lazyConnect; with 'fail' our
        // first connect, which the call waits for): start finds it open.
        await app.get('no-such-task');
        await app.start();
        await server.stop();
        await server.restart();
        // 'fail' refuses calls until the client has reconnected in the background.
        let answer: unknown;
        await eventually(
          'a run after the restart',
          async () => !((answer = await app.run('double', [21], { timeout: 5_000 }).catch((error: unknown) => error)) instanceof Error),
          15_000,
          100,
        );
        expect(answer).toMatchObject({ status: 'success', returning: 42 });
      } finally {
        await app.stop();
        await server.destroy();
      }
    }, 30_000);
  }
});

describe("a call made before start with whenRedisDown 'fail', while the first connect is on its way", () => {
  const name = uniqueAppName('first-connect');
  const appAt = (url: string, redis: RedisOptions = {}) => {
    const app = new QueueTasks({ name, url, whenRedisDown: 'fail', redis, logger: quietLogger });
    app.task('double', (n: number) => n * 2);
    return app;
  };

  it('waits for that connect and goes, Redis being up: add, get and wait, each on an app just built', async () => {
    const url = inject('redisUrl');
    const apps = [appAt(url), appAt(url), appAt(url)];
    const [adding, reading, waiting] = apps;
    try {
      const added = await adding!.add('double', [21]);
      expect(await reading!.get(added.uuid)).toMatchObject({ uuid: added.uuid, status: 'new' });
      // No worker runs it: the wait times out on the record as it is.
      expect(await waiting!.wait(added.uuid, { timeout: 200, returnOnTimeout: true })).toMatchObject({ uuid: added.uuid, status: 'new' });
    } finally {
      await Promise.all(apps.map((app) => app.stop()));
    }
  });

  it('fails typed once that connect fails, within connectTimeout: nothing reachable, or a server that never answers', async () => {
    const sockets = new Set<Socket>();
    const silent = createServer((socket) => void sockets.add(socket.resume()));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    // Port 1: nothing listens there.
    const apps = [appAt('redis://127.0.0.1:1'), appAt(`redis://127.0.0.1:${(silent.address() as AddressInfo).port}`, { connectTimeout: 300 })];
    try {
      for (const app of apps) {
        const calls = [app.add('double', [21]), app.get('no-such-task'), app.wait('no-such-task', { timeout: 5_000 })];
        const errors = await raceTimeout(Promise.all(calls.map((call) => call.catch((error: unknown) => error))), 5_000, () => 'still waiting');
        expect(errors).toEqual(calls.map(() => expect.any(RedisUnavailableError)));
        // Refused before it left: no AddOutcomeUnknownError.
        expect((errors as Error[])[0]).not.toBeInstanceOf(AddOutcomeUnknownError);
      }
    } finally {
      await Promise.all(apps.map((app) => app.stop()));
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it('after a start that failed, a call is refused with AppStoppedError, connecting nowhere', async () => {
    const app = appAt('redis://127.0.0.1:1');
    await expect(app.start()).rejects.toBeInstanceOf(RedisUnavailableError);
    const errors = await raceTimeout(
      Promise.all([app.add('double', [21]), app.get('no-such-task')].map((call) => call.catch((error: unknown) => error))),
      5_000,
      () => 'still waiting',
    );
    expect(errors).toEqual([expect.any(AppStoppedError), expect.any(AppStoppedError)]);
  });
});

/** Reads the statuses of all records until none is pending, bounded by timeoutMs. */
async function untilAllFinal(reader: Redis, keys: string[], timeoutMs: number): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const statuses = (await reader.mget(...keys)).map((raw) => (raw ? (JSON.parse(raw) as { s: string }).s : 'missing'));
    if (statuses.every((status) => status !== 'new' && status !== 'process') || Date.now() > deadline) return statuses;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/**
 * Starts the two `workers` apart, as separate processes start (their renewals and sweeps do not
 * line up), has the first add 20 `long` tasks, and stops `server` once every one runs.
 */
async function runTwentyThenStop(workers: QueueTasks[], runs: Map<number, number>, server: RedisServerHandle): Promise<TaskRecord[]> {
  await workers[0]!.start();
  await new Promise((resolve) => setTimeout(resolve, 700));
  await workers[1]!.start();
  const added = await workers[0]!.addBulk(Array.from({ length: 20 }, (_, n) => ({ name: 'long', args: [n] })));
  await eventually('every task started', async () => runs.size === 20);
  await server.stop();
  return added;
}

describe('a Redis restart shorter than the lease, with tasks running on two workers', () => {
  const LEASE_MS = 3_000;
  for (const whenRedisDown of ['wait', 'fail'] as const) {
    it(`re-runs none of them: a sweep waits a lease for the workers to renew (whenRedisDown '${whenRedisDown}')`, async () => {
      const server = await startRedisServer({ appendOnly: true });
      const name = uniqueAppName('restart-in-lease');
      const runs = new Map<number, number>();
      const warnings: string[] = [];
      const logger = { ...quietLogger, warn: (message: string) => void warnings.push(message) };
      const workers = [0, 1].map(() => {
        const app = new QueueTasks({ name, url: server.url, whenRedisDown, logger, config: { leaseMs: LEASE_MS, maxTasksProcess: 10 } });
        app.task('long', async (n: number) => {
          runs.set(n, (runs.get(n) ?? 0) + 1);
          await new Promise((resolve) => setTimeout(resolve, 6_000)); // through the outage and past it
          return n;
        });
        return app;
      });
      try {
        const added = await runTwentyThenStop(workers, runs, server);
        await new Promise((resolve) => setTimeout(resolve, 2_500)); // past two thirds of the lease: leases run out
        await server.restart();
        // 'fail' fails calls until the client is back.
        await eventually('the workers reconnected', async () => (await workers[0]!.get(added[0]!.uuid).catch(() => null)) !== null);
        const finals = await Promise.all(added.map(({ uuid }) => workers[0]!.wait(uuid, { timeout: 30_000 })));
        expect(finals.map(({ status, stalls }) => ({ status, stalls }))).toEqual(finals.map(() => ({ status: 'success', stalls: 0 })));
        expect([...runs.values()]).toEqual(Array.from({ length: 20 }, () => 1));
        expect(warnings.filter((line) => /recovered tasks|lease lost|discarded/.test(line))).toEqual([]);
      } finally {
        await Promise.all(workers.map((app) => app.stop()));
        await server.destroy();
      }
    });
  }
});

describe('a worker started right after a Redis restart, with tasks running on two others', () => {
  const LEASE_MS = 3_000;
  it('re-runs none of them: its first sweep waits until Redis has been up for a lease, as the others renew', async () => {
    const server = await startRedisServer({ appendOnly: true });
    const name = uniqueAppName('start-after-restart');
    const runs = new Map<number, number>();
    const warnings: string[] = [];
    const logger = { ...quietLogger, warn: (message: string) => void warnings.push(message) };
    // 'fail': the running workers' renewals are not held through the outage and sent the moment
    // they reconnect, so they are late, as a worker's in another process may be.
    const worker = (whenRedisDown: WhenRedisDown, maxTasksProcess: number) => {
      const app = new QueueTasks({ name, url: server.url, whenRedisDown, logger, config: { leaseMs: LEASE_MS, maxTasksProcess } });
      app.task('long', async (n: number) => {
        runs.set(n, (runs.get(n) ?? 0) + 1);
        await new Promise((resolve) => setTimeout(resolve, 8_000)); // through the outage and past the late start
        return n;
      });
      return app;
    };
    const running = [worker('fail', 10), worker('fail', 10)];
    // Room for every task: without the pause, its first sweep takes them all.
    const late = worker('wait', 20);
    try {
      // Not through `late`: its connection must first open after the restart, as a new process's.
      const added = await runTwentyThenStop(running, runs, server);
      await new Promise((resolve) => setTimeout(resolve, LEASE_MS + 300)); // every lease runs out
      await server.restart();
      await late.start();
      const finals = await Promise.all(added.map(({ uuid }) => late.wait(uuid, { timeout: 30_000 })));
      expect(finals.map(({ status, stalls }) => ({ status, stalls }))).toEqual(finals.map(() => ({ status: 'success', stalls: 0 })));
      expect([...runs.values()]).toEqual(Array.from({ length: 20 }, () => 1));
      expect(warnings.filter((line) => /recovered tasks|lease lost|discarded/.test(line))).toEqual([]);
    } finally {
      await Promise.all([...running, late].map((app) => app.stop()));
      await server.destroy();
    }
  });
});
