import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { QueueTasks, RedisBroker, type ClaimBatch, type ClaimedTask, type ClaimRequest, type Lease, type NewTask, type Retention, type TaskOutcome } from '../../lib/index.js';
import { ScriptRunner } from '../../lib/redis/scripts.js';
import { eventually } from '../helpers/eventually.js';
import { Gate } from '../helpers/gate.js';
import { uniqueAppName } from '../helpers/names.js';
import { appsOnTestRedis } from '../helpers/plain-app.js';

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
    const [claimed] = (await broker.claim({ workerId: 'w1', max: 5, leaseMs: 10_000, retention: keep })).tasks;
    expect(claimed!.record.status).toBe('process');
    const outcome = { uuid: task.uuid, token: claimed!.token, status: 'success' as const, payload: '"ok"' };
    expect(await broker.complete([outcome], keep)).toEqual([true]);
    expect(await broker.complete([{ ...outcome, payload: '"again"' }], keep)).toEqual([false]);
    const record = await broker.storage.get(task.uuid);
    expect(record?.returning).toBe('ok');
    expect(await redis.zcard(`qtasks:{${name}}:a`)).toBe(0);
  });

  it('two calls on their way that settle one batch between them end its lease: nothing is left behind', async () => {
    await broker.enqueue([newTask(), newTask(), newTask()]);
    const [a, b, c] = (await broker.claim({ workerId: 'w1', max: 3, leaseMs: 10_000, retention: keep })).tasks;
    const outcome = ({ record, token }: ClaimedTask) => ({ uuid: record.uuid, token, status: 'success' as const, payload: '1' });
    // A complete and a claim carrying outcomes, both sent before either answers.
    const [stored, claimed] = await Promise.all([broker.complete([outcome(a!)], keep), broker.claim({ workerId: 'w1', max: 1, leaseMs: 10_000, retention: keep }, [outcome(b!), outcome(c!)])]);
    expect([stored, claimed.stored]).toEqual([[true], [true, true]]);
    expect(await redis.zcard(`qtasks:{${name}}:a`)).toBe(0);
    expect(await redis.keys(`qtasks:{${name}}:lb:*`)).toEqual([]);
  });

  it('two claims of one worker sent again together (both replies lost) each get their first answer', async () => {
    await broker.enqueue([newTask(), newTask(), newTask(), newTask()]);
    const scripts = new ScriptRunner(broker.storage.client);
    const keys = broker.storage.keys;
    // What the worker's broker sends: two claims of 2 on their way at once, call ids 7 and 8.
    const claim = (callId: number) =>
      scripts.run('claim', [keys.priorities, keys.delayed, keys.marker, keys.active], [keys.prefix, 'w1', 2, 10_000, '0', 0, 0, callId, 0, 0]) as Promise<
        [number, string, string, string]
      >;
    const first = [await claim(7), await claim(8)];
    // The client library sends both again after a reconnect, in order.
    const again = [await claim(7), await claim(8)];
    expect(again.map(([, , batch, tasks]) => [batch, tasks])).toEqual(first.map(([, , batch, tasks]) => [batch, tasks]));
    expect(await redis.zcard(`qtasks:{${name}}:a`)).toBe(2);
  });

  it('a claim sent again while the whole queue is paused gets its first answer: no due time', async () => {
    await broker.enqueue([{ ...newTask(), delayMs: 60_000 }]);
    await broker.setPaused(true);
    const scripts = new ScriptRunner(broker.storage.client);
    const keys = broker.storage.keys;
    const claim = () =>
      scripts.run('claim', [keys.priorities, keys.delayed, keys.marker, keys.active], [keys.prefix, 'w1', 2, 10_000, '0', 0, 0, 9, 0, 0]) as Promise<[number, string, string, string]>;
    const [first, again] = [await claim(), await claim()];
    expect(first[0]).toBe(-1);
    expect(again).toEqual(first);
    await broker.setPaused(false);
  });

  it('renew pushes the deadline of held leases only', async () => {
    const task = newTask();
    await broker.enqueue([task]);
    const [claimed] = (await broker.claim({ workerId: 'w1', max: 1, leaseMs: 1_000, retention: keep })).tasks;
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
    // A lease not held (its batch unknown here) is reported lost, and nothing is pushed or created.
    expect(await broker.renew([{ uuid: task.uuid, token: '999999:0' }], 600_000)).toEqual([task.uuid]);
    expect(await deadline()).toBe(after);
  });

  it('renew does not bring back a lease that expired and was recovered', async () => {
    const task = newTask();
    await broker.enqueue([task]);
    const [claimed] = (await broker.claim({ workerId: 'w1', max: 1, leaseMs: 30, retention: keep })).tasks;
    await sleep(60);
    expect(await broker.recover(3, keep)).toEqual({ requeued: 1, failed: 0 });
    expect(await broker.renew([{ uuid: task.uuid, token: claimed!.token }], 60_000)).toEqual([task.uuid]);
    expect(await redis.zcard(`qtasks:{${name}}:a`)).toBe(0);
  });

  it('a claim whose reply never arrived is recovered on its own, whatever becomes of later batches', async () => {
    const tasks = [newTask(), newTask(), newTask(), newTask()];
    await broker.enqueue(tasks);
    // Another client's claim (as if its reply was lost in a reconnect: the client library may even
    // send it again), then a claim this broker completes in full, which ends its own batch lease.
    const lostClaimer = new RedisBroker({ name, url });
    await lostClaimer.start();
    const lost = (await lostClaimer.claim({ workerId: 'w1', max: 2, leaseMs: 30, retention: keep })).tasks;
    await lostClaimer.stop();
    const mine = (await broker.claim({ workerId: 'w2', max: 2, leaseMs: 30, retention: keep })).tasks;
    const outcomes = mine.map(({ record, token }) => ({ uuid: record.uuid, token, status: 'success' as const, payload: '1' }));
    expect(await broker.complete(outcomes, keep)).toEqual([true, true]);
    await sleep(60);
    expect(await broker.recover(3, keep)).toEqual({ requeued: 2, failed: 0 });
    const again = (await broker.claim({ workerId: 'w3', max: 4, leaseMs: 10_000, retention: keep })).tasks.map(({ record }) => record.uuid);
    expect(again.sort()).toEqual(lost.map(({ record }) => record.uuid).sort());
  });

  it('a uuid that cannot be one field of the packed enqueue is refused, and nothing is stored', async () => {
    const bad = { ...newTask(), uuid: 'two words' };
    await expect(broker.enqueue([newTask(), bad])).rejects.toThrow(/Task uuid "two words" must be non-empty and hold no whitespace/);
    expect(await redis.keys(`qtasks:{${name}}:t:*`)).toEqual([]);
  });

  it('cancel of a queued task takes it out of its queue, so queue lengths count only what will run', async () => {
    const [first, doomed, last, alone] = [newTask(), newTask(), newTask(), { ...newTask(), priority: 7 }];
    await broker.enqueue([first, doomed, last, alone]);
    await broker.cancel(doomed.uuid, 'not needed', keep);
    await broker.cancel(alone.uuid, 'not needed', keep);
    expect(await redis.lrange(`qtasks:{${name}}:q:0`, 0, -1)).toEqual([first.uuid, last.uuid]);
    // A priority whose queue ran dry is no longer listed.
    expect(await redis.zrange(`qtasks:{${name}}:qp`, '0', '-1')).toEqual(['0']);
    const claimed = (await broker.claim({ workerId: 'w1', max: 5, leaseMs: 10_000, retention: keep })).tasks.map(({ record }) => record.uuid);
    expect(claimed).toEqual([first.uuid, last.uuid]);
  });

  it('release hands a held task back to the head of the queue, unclaimed', async () => {
    const [a, b] = [newTask(), newTask()];
    await broker.enqueue([a, b]);
    const [claimed] = (await broker.claim({ workerId: 'w1', max: 1, leaseMs: 10_000, retention: keep })).tasks;
    expect(claimed!.record.uuid).toBe(a.uuid);
    expect(await broker.release([{ uuid: a.uuid, token: 'not-the-token' }], keep)).toBe(0);
    expect(await broker.release([{ uuid: a.uuid, token: claimed!.token }], keep)).toBe(1);
    expect((await broker.storage.get(a.uuid))?.status).toBe('new');
    const again = (await broker.claim({ workerId: 'w2', max: 2, leaseMs: 10_000, retention: keep })).tasks.map((task) => task.record.uuid);
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
      const claimed = (await broker.claim({ workerId: 'w1', max: 2, leaseMs: 10_000, retention: keep })).tasks;
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

describe('a task claimed again by the worker still running it', () => {
  const { redis, apps } = appsOnTestRedis();
  /** Redis's clock (the one lease deadlines are set by), in ms. */
  const redisNowMs = async () => {
    const [seconds, micros] = await redis.time();
    return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
  };

  // Its lease ran out while it ran (a frozen event loop, say), a sweep queued it again, and this
  // same worker took it: the first run ending must leave the second's lease, slot and cancel alone.
  it('keeps the lease of the second run renewed, its slot counted and its cancel reachable when the first run ends', async () => {
    // Long enough that a loaded machine keeps renewing in time; the test waits on renewals, not on the clock.
    const leaseMs = 3000;
    const runs = [new Gate(), new Gate()];
    let started = 0;
    const warnings: string[] = [];
    const app = await apps.start(
      'reclaim',
      (app) => app.task('slow', async () => void (await runs[started++]!.pass())),
      { config: { leaseMs, runningOlderTasks: false }, logger: { log: () => undefined, warn: (line) => warnings.push(line), error: console.error } },
    );
    const { uuid } = await app.add('slow');
    await runs[0]!.reached;
    // The lease runs out: its batch's deadline set in the past, then the sweep any live worker makes.
    // A renewal landing between the two puts the deadline back: then the sweep finds nothing, and
    // the lease is made to run out again.
    const active = `qtasks:{${app.name}}:a`;
    await eventually('the first run’s lease expired and was recovered', async () => {
      for (const batch of await redis.zrange(active, '0', '-1')) await redis.zadd(active, '0', batch);
      const swept = await app.broker.recover(3, app.config);
      if (swept.requeued === 0) expect(swept).toEqual({ requeued: 0, failed: 0 });
      else expect(swept).toEqual({ requeued: 1, failed: 0 });
      return swept.requeued === 1;
    });
    await runs[1]!.reached;
    expect(app.worker!.running).toBe(2);

    runs[0]!.open();
    await eventually('the first run ended', async () => app.worker!.running === 1);
    await eventually('the first run’s result discarded', async () => /its lease expired before it finished .* this result was discarded/.test(warnings.join('\n')));
    // Renewals go on for the second run: its one batch's deadline moves on past where a renewal
    // made before the first run ended could have put it, and a sweep then finds nothing expired.
    const firstRunEnded = await redisNowMs();
    await eventually(
      'the second run’s lease renewed after the first run ended',
      async () => {
        const entries = await redis.zrange(active, '0', '-1', 'WITHSCORES');
        expect(entries).toHaveLength(2);
        return Number(entries[1]) > firstRunEnded + leaseMs;
      },
      10_000,
    );
    expect(await app.broker.recover(3, app.config)).toEqual({ requeued: 0, failed: 0 });
    expect(await app.cancel(uuid, 'enough')).toMatchObject({ status: 'process', cancelReason: 'enough' });
    expect(await app.wait(uuid, { timeout: 15_000 })).toMatchObject({ status: 'cancel', cancelReason: 'enough', stalls: 1 });
    runs[1]!.open();
  });
});

/**
 * Answers a claim or complete that stored outcomes only after a renewal sent later has answered:
 * the order replies take when the renewal travels on a quicker path than the settling call.
 */
class LateSettleReplies extends RedisBroker {
  renewals = 0;
  private waiting: Array<() => void> = [];

  override async claim(request: ClaimRequest, settle: TaskOutcome[] = []): Promise<ClaimBatch> {
    const batch = await super.claim(request, settle);
    if (settle.length > 0) await this.nextRenewal();
    return batch;
  }

  override async complete(outcomes: TaskOutcome[], retention: Retention): Promise<boolean[]> {
    const stored = await super.complete(outcomes, retention);
    await this.nextRenewal();
    return stored;
  }

  override async renew(leases: Lease[], leaseMs: number): Promise<string[]> {
    const lost = await super.renew(leases, leaseMs);
    this.renewals++;
    for (const resume of this.waiting.splice(0)) resume();
    return lost;
  }

  private nextRenewal(): Promise<void> {
    return new Promise((resolve) => this.waiting.push(resolve));
  }
}

describe('a renewal answered before the call that stored the outcome', () => {
  const url = inject('redisUrl');

  it('logs no lost lease: the outcome on its way ended it', async () => {
    const name = uniqueAppName('late-settle');
    const broker = new LateSettleReplies({ name, url });
    const warnings: string[] = [];
    const app = new QueueTasks({
      name,
      broker,
      config: { leaseMs: 300, maxTasksProcess: 4 },
      logger: { log: () => undefined, warn: (line) => warnings.push(line), error: (line) => warnings.push(line) },
    });
    app.task('quick', () => 'done');
    await app.start();
    try {
      const records = await app.addBulk(Array.from({ length: 20 }, () => ({ name: 'quick' })));
      for (const { uuid } of records) expect((await app.wait(uuid, { timeout: 10_000 })).status).toBe('success');
      expect(broker.renewals).toBeGreaterThan(0);
      expect(warnings).toEqual([]);
    } finally {
      await app.stop();
    }
  });
});

/** Records the leases each renewal carries. */
class WatchedRenewals extends RedisBroker {
  renewed: Lease[][] = [];

  override async renew(leases: Lease[], leaseMs: number): Promise<string[]> {
    this.renewed.push(leases);
    return super.renew(leases, leaseMs);
  }
}

describe('a lease lost while its task runs', () => {
  const url = inject('redisUrl');
  const redis = new Redis(url);
  afterAll(async () => {
    await redis.quit();
  });

  /**
   * An app (named after `label`) whose one task, `slow`, was added and now waits at `gate`; its
   * broker records the renewals, and warnings about lost leases go to `lostWarnings`.
   */
  const holdSlowTask = async (label: string) => {
    const name = uniqueAppName(label);
    const broker = new WatchedRenewals({ name, url });
    const gate = new Gate();
    const lostWarnings: string[] = [];
    const quiet = () => undefined;
    const app = new QueueTasks({
      name,
      broker,
      // Renewed every 500 ms: long enough that a loaded machine renews in time, and no lease runs
      // out unless the test makes it. Only the test sweeps expired leases.
      config: { leaseMs: 1_500, maxTasksProcess: 2, runningOlderTasks: false },
      logger: { log: quiet, error: quiet, warn: (line) => void (/lease lost/.test(line) && lostWarnings.push(line)) },
    });
    app.task('slow', () => gate.pass());
    await app.start();
    const { uuid } = await app.add('slow');
    await gate.reached;
    return { name, broker, gate, app, lostWarnings, uuid };
  };

  it('is warned about once and no longer renewed, over several renewal periods', async () => {
    const { name, broker, gate, app, lostWarnings, uuid } = await holdSlowTask('lease-removed');
    try {
      // Its lease entry goes (removed by hand): every renewal from now on finds it lost.
      await redis.del(`qtasks:{${name}}:a`);
      await eventually('the loss is warned about', async () => lostWarnings.length > 0, 5_000);
      const renewalsAtLoss = broker.renewed.length;
      await sleep(2_000); // four renewal periods
      expect(lostWarnings).toEqual([`task ${uuid}: lease lost (expired and recovered elsewhere, or the task was removed)`]);
      expect(broker.renewed.slice(renewalsAtLoss).flat()).toEqual([]);
    } finally {
      gate.open();
      await app.stop();
    }
  });

  it('run again here under a new lease: only the lost one is warned about and given up, the new one is renewed', async () => {
    const { name, broker, gate, app, lostWarnings, uuid } = await holdSlowTask('lease-rerun');
    try {
      // Its lease runs out (deadline set in the past, then a sweep; a renewal landing between the
      // two puts the deadline back, and it is made to run out again) and this worker claims it
      // again into its free slot: the next renewals carry both leases of the one uuid.
      const active = `qtasks:{${name}}:a`;
      await eventually('the first lease expired and was recovered', async () => {
        for (const batch of await redis.zrange(active, '0', '-1')) await redis.zadd(active, '0', batch);
        return (await app.broker.recover(3, app.config)).requeued === 1;
      });
      await eventually('the task runs again here', async () => app.worker!.running === 2, 5_000);
      await eventually('the loss is warned about', async () => lostWarnings.length > 0, 5_000);
      const renewalsAtLoss = broker.renewed.length;
      await sleep(2_000); // four renewal periods, longer than a lease
      expect(lostWarnings).toEqual([`task ${uuid}: lease lost (expired and recovered elsewhere, or the task was removed)`]);
      const renewedSince = broker.renewed.slice(renewalsAtLoss);
      expect(renewedSince.length).toBeGreaterThanOrEqual(3);
      expect(renewedSince.every((leases) => leases.length === 1 && leases[0]!.uuid === uuid)).toBe(true);
      // Renewed, the new lease never expired: the task was not given back a second time.
      expect((await app.get(uuid))!).toMatchObject({ status: 'process', stalls: 1 });
    } finally {
      gate.open();
      await app.stop();
    }
  });
});
