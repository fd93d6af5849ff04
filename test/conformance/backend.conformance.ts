import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { raceTimeout } from '../../lib/core/timing.js';
import { startsPerWindow } from '../helpers/rate-windows.js';
import { AppStoppedError, QueueTasks, type Broker, type ClaimBatch, type NewTask, type QueueTasksOptions, type RateLimits, type Retention, type RunningLimits } from '../../lib/index.js';

/** How the suite gets a fresh, empty backend for each test. */
export interface BackendFactory {
  /** A started broker (with its storage) that shares nothing with any other. */
  broker(): Promise<Broker>;
  /** QueueTasks options that build this backend with nothing shared. */
  appOptions(): QueueTasksOptions;
}

const KEEP: Retention = { deleteFinishedTasks: false, resultTtlMs: 0, keepFinishedTasks: 0 };

function task(overrides: Partial<NewTask> & { args?: unknown[] } = {}): NewTask {
  const { args = [], ...rest } = overrides;
  return { uuid: randomUUID(), taskName: 'job', priority: 0, argsJson: JSON.stringify(args), createdAt: Date.now(), delayMs: 0, ...rest };
}

/** 'done' when the promise settles within `ms`, else 'timed out'. */
async function within(promise: Promise<unknown>, ms: number): Promise<'done' | 'timed out'> {
  return raceTimeout(promise.then(() => 'done' as const), ms, () => 'timed out' as const);
}

/**
 * The behaviour every backend must share, driven through the Broker API (and QueueTasks at the
 * end). Each backend's *.test.ts calls this with its factory; both must pass it unchanged.
 */
export function describeBackendConformance(label: string, factory: BackendFactory): void {
  describe(`backend conformance: ${label}`, () => {
    let broker: Broker;
    const claimUuids = async (max: number, leaseMs = 10_000) =>
      (await broker.claim({ workerId: 'w1', max, leaseMs, retention: KEEP })).tasks.map((t) => t.record.uuid);

    beforeEach(async () => {
      broker = await factory.broker();
    });
    afterEach(async () => broker.stop());

    it('stores new tasks and hands out copies that callers cannot change', async () => {
      const t = task({ args: [{ id: 1, tags: ['a'] }] });
      expect(await broker.enqueue([t])).toEqual([t.uuid]);
      const record = (await broker.storage.get(t.uuid))!;
      expect(record).toMatchObject({ status: 'new', taskName: 'job', priority: 0, attempt: 1, stalls: 0, args: [{ id: 1, tags: ['a'] }] });
      (record.args as [{ id: number; tags: string[] }])[0].tags.push('changed');
      record.status = 'success';
      expect((await broker.storage.get(t.uuid))!.args).toEqual([{ id: 1, tags: ['a'] }]);
      const [claimed] = (await broker.claim({ workerId: 'w1', max: 1, leaseMs: 10_000, retention: KEEP })).tasks;
      claimed!.record.args.push('extra');
      expect((await broker.storage.get(t.uuid))!).toMatchObject({ status: 'process', args: [{ id: 1, tags: ['a'] }] });
    });

    it('claims lowest priority first and FIFO within a priority, at most `max` at a time', async () => {
      const tasks = [task({ priority: 5 }), task({ priority: 1 }), task({ priority: 5 }), task({ priority: -2 }), task({ priority: 1 })];
      await broker.enqueue(tasks);
      const [p5a, p1a, p5b, pm2, p1b] = tasks.map((t) => t.uuid);
      expect(await claimUuids(2)).toEqual([pm2, p1a]);
      await broker.enqueue([task({ priority: 1, uuid: 'late-p1' })]);
      expect(await claimUuids(10)).toEqual([p1b, 'late-p1', p5a, p5b]);
      expect(await claimUuids(10)).toEqual([]);
    });

    it('claims and completes batches of any size in one call each (4,100 tasks: more values than Lua can unpack at once)', async () => {
      for (const retention of [KEEP, { ...KEEP, deleteFinishedTasks: true }]) {
        const tasks = Array.from({ length: 4100 }, (_, i) => task({ args: [i] }));
        await broker.enqueue(tasks);
        const claimed = (await broker.claim({ workerId: 'w1', max: 5000, leaseMs: 10_000, retention })).tasks;
        expect(claimed.map((t) => t.record.uuid)).toEqual(tasks.map((t) => t.uuid));
        expect(claimed.map((t) => t.record.args)).toEqual(tasks.map((_, i) => [i]));
        const stored = await broker.complete(
          claimed.map(({ record, token }) => ({ uuid: record.uuid, token, status: 'success' as const, payload: String(record.args[0]) })),
          retention,
        );
        expect(stored.every(Boolean)).toBe(true);
        const [first, last] = await Promise.all([broker.storage.get(tasks[0]!.uuid), broker.storage.get(tasks[4099]!.uuid)]);
        if (retention.deleteFinishedTasks) {
          expect([first, last]).toEqual([null, null]);
        } else {
          expect([first?.returning, last?.returning]).toEqual([0, 4099]);
          expect(last).toMatchObject({ status: 'success', worker: 'w1' });
        }
        expect(await broker.recover(3, retention)).toEqual({ requeued: 0, failed: 0 });
      }
    });

    it('a claim marks the task running under a lease for that worker', async () => {
      const t = task();
      await broker.enqueue([t]);
      const batch = await broker.claim({ workerId: 'worker-a', max: 5, leaseMs: 10_000, retention: KEEP });
      expect(batch.nextDueInMs).toBeNull();
      expect(batch.tasks).toHaveLength(1);
      expect(batch.tasks[0]!.token).toEqual(expect.any(String));
      expect(batch.tasks[0]!.record).toMatchObject({ uuid: t.uuid, status: 'process', worker: 'worker-a' });
      expect(batch.tasks[0]!.record.startedAt).toBeInstanceOf(Date);
    });

    it('a queued record the codec refuses fails alone as malformed, never left running, and the claim takes the rest', async () => {
      // No string task name: its head is a queued record's, the rest is no task record.
      const [first, nameless, argless, last] = [task(), task({ taskName: 5 as unknown as string }), task({ argsJson: '{not json' }), task()];
      await broker.enqueue([first, nameless, argless, last]);
      const batch = await broker.claim({ workerId: 'w1', max: 4, leaseMs: 10_000, retention: KEEP });
      expect(batch.tasks.map(({ record }) => record.uuid)).toEqual([first.uuid, last.uuid]);
      expect(await broker.storage.get(nameless.uuid)).toMatchObject({
        status: 'error',
        traceback: expect.stringMatching(/^MalformedRecordError: the stored record is not a valid task record: .*"n":5/),
      });
      // One whose arguments are no JSON fails too (its record stays unreadable); neither is claimed again.
      await expect(broker.storage.get(argless.uuid)).rejects.toThrow('its arguments are not JSON');
      expect((await broker.claim({ workerId: 'w2', max: 4, leaseMs: 10_000, retention: KEEP })).tasks).toEqual([]);
      const stored = await broker.complete(batch.tasks.map(({ record, token }) => ({ uuid: record.uuid, token, status: 'success' as const, payload: '1' })), KEEP);
      expect(stored).toEqual([true, true]);
    });

    it('delayed tasks wait for their time, and the claim says when the next is due', async () => {
      // A second and a half: the enqueue, the read and the first claim must all come before the
      // due time, also on a loaded 2-core machine talking to a cluster.
      const soon = task({ delayMs: 1500 });
      const later = task({ delayMs: 60_000 });
      await broker.enqueue([soon, later]);
      expect((await broker.storage.get(soon.uuid))!.runAt!.getTime()).toBe(soon.createdAt + 1500);
      const first = await broker.claim({ workerId: 'w1', max: 5, leaseMs: 10_000, retention: KEEP });
      expect(first.tasks).toEqual([]);
      expect(first.nextDueInMs).toBeGreaterThan(0);
      expect(first.nextDueInMs).toBeLessThanOrEqual(1500);
      await sleep(first.nextDueInMs! + 50);
      const second = await broker.claim({ workerId: 'w1', max: 5, leaseMs: 10_000, retention: KEEP });
      expect(second.tasks.map((t) => t.record.uuid)).toEqual([soon.uuid]);
      expect(second.nextDueInMs).toBeGreaterThan(50_000);
    });

    it('delayed tasks and delayed retries due in the same millisecond start in the order they were delayed', async () => {
      const claimAll = async () => (await broker.claim({ workerId: 'w1', max: 20, leaseMs: 10_000, retention: KEEP })).tasks;
      // One call: the backend reads its clock once, so all eight are due in the same millisecond.
      const delayed = Array.from({ length: 8 }, () => task({ delayMs: 200 }));
      await broker.enqueue(delayed);
      await sleep(300);
      const claimed = await claimAll();
      expect(claimed.map((t) => t.record.uuid)).toEqual(delayed.map((t) => t.uuid));
      const retries = claimed.map(({ record, token }) => ({ uuid: record.uuid, token, status: 'retry' as const, payload: 'Error: again', retryDelayMs: 200 }));
      await broker.complete(retries.reverse(), KEEP);
      await sleep(300);
      expect((await claimAll()).map((t) => t.record.uuid)).toEqual(retries.map((t) => t.uuid));
    });

    /** A task whose first holder's lease expired and was recovered; `stale` is that holder's lease. */
    const expireLease = async (retention: Retention) => {
      const t = task();
      await broker.enqueue([t]);
      const [first] = (await broker.claim({ workerId: 'dead-worker', max: 1, leaseMs: 40, retention })).tasks;
      await sleep(100);
      expect(await broker.recover(3, retention)).toEqual({ requeued: 1, failed: 0 });
      return { t, stale: { uuid: t.uuid, token: first!.token } };
    };

    it('an expired lease is recovered and runs again; the stale holder is refused everywhere', async () => {
      const { t, stale } = await expireLease(KEEP);
      const requeued = (await broker.storage.get(t.uuid))!;
      expect(requeued).toMatchObject({ status: 'new', stalls: 1 });
      expect(requeued.worker).toBeUndefined();
      const [fresh] = (await broker.claim({ workerId: 'live-worker', max: 1, leaseMs: 10_000, retention: KEEP })).tasks;
      expect(fresh!.record).toMatchObject({ uuid: t.uuid, worker: 'live-worker', stalls: 1 });
      expect(fresh!.token).not.toBe(stale.token);

      expect(await broker.renew([stale], 10_000)).toEqual([t.uuid]);
      expect(await broker.progress(stale, '50')).toBe(false);
      expect(await broker.release([stale], KEEP)).toBe(0);
      expect(await broker.complete([{ ...stale, status: 'success', payload: '"stale"' }], KEEP)).toEqual([false]);
      expect((await broker.storage.get(t.uuid))!.status).toBe('process');

      const current = { uuid: t.uuid, token: fresh!.token };
      expect(await broker.renew([current], 10_000)).toEqual([]);
      expect(await broker.progress(current, '75')).toBe(true);
      expect(await broker.complete([{ ...current, status: 'success', payload: '"fresh"' }], KEEP)).toEqual([true]);
      expect((await broker.storage.get(t.uuid))!).toMatchObject({
        status: 'success',
        returning: 'fresh',
        progress: 75,
        worker: 'live-worker',
      });
    });

    it('with finished records deleted, a stale holder still cannot complete (or delete) a task run again', async () => {
      const drop: Retention = { ...KEEP, deleteFinishedTasks: true };
      const { t, stale } = await expireLease(drop);
      const [fresh] = (await broker.claim({ workerId: 'live-worker', max: 1, leaseMs: 10_000, retention: drop })).tasks;
      expect(await broker.complete([{ ...stale, status: 'success', payload: '1' }], drop)).toEqual([false]);
      expect((await broker.storage.get(t.uuid))!).toMatchObject({ status: 'process', worker: 'live-worker' });
      expect(await broker.complete([{ uuid: t.uuid, token: fresh!.token, status: 'success', payload: '2' }], drop)).toEqual([true]);
      expect(await broker.storage.get(t.uuid)).toBeNull();
    });

    it('a task that stalls more than maxStalls times ends in error', async () => {
      const t = task();
      await broker.enqueue([t]);
      for (const expected of [{ requeued: 1, failed: 0 }, { requeued: 0, failed: 1 }]) {
        expect(await claimUuids(1, 30)).toEqual([t.uuid]);
        await sleep(80);
        expect(await broker.recover(1, KEEP)).toEqual(expected);
      }
      const record = (await broker.storage.get(t.uuid))!;
      expect(record).toMatchObject({ status: 'error', stalls: 2 });
      expect(record.traceback).toMatch(/^StalledError: .*2 times \(more than maxStalls = 1\)/);
      expect(await claimUuids(1)).toEqual([]);
    });

    it('recover leaves live leases alone', async () => {
      await broker.enqueue([task()]);
      await claimUuids(1, 10_000);
      expect(await broker.recover(0, KEEP)).toEqual({ requeued: 0, failed: 0 });
    });

    it('renew keeps a lease alive and reports leases that are not held', async () => {
      const t = task();
      await broker.enqueue([t]);
      const [claimed] = (await broker.claim({ workerId: 'w1', max: 1, leaseMs: 50, retention: KEEP })).tasks;
      expect(await broker.renew([{ uuid: t.uuid, token: claimed!.token }, { uuid: t.uuid, token: 'forged' }], 10_000)).toEqual([t.uuid]);
      await sleep(120);
      expect(await broker.recover(3, KEEP)).toEqual({ requeued: 0, failed: 0 });
      expect(await broker.renew([{ uuid: 'no-such-task', token: 'x' }], 10_000)).toEqual(['no-such-task']);
    });

    it('release gives a task back to the head of its queue without counting a stall', async () => {
      const [a, b] = [task(), task()];
      await broker.enqueue([a, b]);
      const [claimedA] = (await broker.claim({ workerId: 'w1', max: 1, leaseMs: 10_000, retention: KEEP })).tasks;
      expect(await broker.release([{ uuid: a.uuid, token: 'forged' }], KEEP)).toBe(0);
      expect(await broker.release([{ uuid: a.uuid, token: claimedA!.token }], KEEP)).toBe(1);
      expect((await broker.storage.get(a.uuid))!).toMatchObject({ status: 'new', stalls: 0 });
      expect(await claimUuids(5)).toEqual([a.uuid, b.uuid]);
    });

    it('release puts several tasks back in the order they were claimed, ahead of the rest', async () => {
      const tasks = [task(), task(), task(), task()];
      await broker.enqueue(tasks);
      const claimed = (await broker.claim({ workerId: 'w1', max: 3, leaseMs: 10_000, retention: KEEP })).tasks;
      const leases = claimed.map(({ record, token }) => ({ uuid: record.uuid, token }));
      expect(await broker.release(leases, KEEP)).toBe(3);
      expect(await claimUuids(4)).toEqual(tasks.map((t) => t.uuid));
    });

    it('release of a task whose cancel was asked ends it cancel rather than queueing it again', async () => {
      const [doomed, kept] = [task(), task()];
      await broker.enqueue([doomed, kept]);
      const claimed = (await broker.claim({ workerId: 'w1', max: 2, leaseMs: 10_000, retention: KEEP })).tasks;
      expect((await broker.cancel(doomed.uuid, 'not needed', KEEP))!).toMatchObject({ status: 'process', cancelReason: 'not needed' });
      const leases = claimed.map(({ record, token }) => ({ uuid: record.uuid, token }));
      expect(await broker.release(leases, KEEP)).toBe(1);
      expect((await broker.storage.get(doomed.uuid))!).toMatchObject({ status: 'cancel', cancelReason: 'not needed', stalls: 0 });
      expect(await claimUuids(5)).toEqual([kept.uuid]);
    });

    it('complete stores success and error outcomes', async () => {
      const [ok, bad] = [task(), task()];
      await broker.enqueue([ok, bad]);
      const tasks = (await broker.claim({ workerId: 'w1', max: 2, leaseMs: 10_000, retention: KEEP })).tasks;
      const stored = await broker.complete(
        [
          { uuid: ok.uuid, token: tasks[0]!.token, status: 'success', payload: '{"n":1}' },
          { uuid: bad.uuid, token: tasks[1]!.token, status: 'error', payload: 'Error: boom' },
        ],
        KEEP,
      );
      expect(stored).toEqual([true, true]);
      const done = (await broker.storage.get(ok.uuid))!;
      expect(done).toMatchObject({ status: 'success', returning: { n: 1 } });
      expect(done.finishedAt!.getTime()).toBeGreaterThanOrEqual(done.startedAt!.getTime());
      expect((await broker.storage.get(bad.uuid))!).toMatchObject({ status: 'error', traceback: 'Error: boom' });
    });

    it('a retry outcome sends the same uuid back with attempt + 1 and keeps the error history', async () => {
      const t = task();
      await broker.enqueue([t]);
      const [first] = (await broker.claim({ workerId: 'w1', max: 1, leaseMs: 10_000, retention: KEEP })).tasks;
      await broker.complete([{ uuid: t.uuid, token: first!.token, status: 'retry', payload: 'Error: first' }], KEEP);
      expect((await broker.storage.get(t.uuid))!).toMatchObject({ status: 'new', attempt: 2, errors: ['Error: first'] });
      const [second] = (await broker.claim({ workerId: 'w1', max: 1, leaseMs: 10_000, retention: KEEP })).tasks;
      expect(second!.record).toMatchObject({ uuid: t.uuid, attempt: 2 });
      const idle = broker.waitForWork(20_000, new AbortController().signal);
      await broker.complete([{ uuid: t.uuid, token: second!.token, status: 'retry', payload: 'Error: second', retryDelayMs: 60_000 }], KEEP);
      expect(await within(idle, 10_000)).toBe('done'); // a delayed retry wakes an idle worker too
      const delayed = (await broker.storage.get(t.uuid))!;
      expect(delayed).toMatchObject({ status: 'new', attempt: 3 });
      expect(delayed.runAt).toBeInstanceOf(Date);
      const batch = await broker.claim({ workerId: 'w1', max: 1, leaseMs: 10_000, retention: KEEP });
      expect(batch.tasks).toEqual([]);
      expect(batch.nextDueInMs).toBeGreaterThan(50_000);
    });

    it('a retry outcome of a task whose cancel was asked while it ran ends it cancel, not queued again', async () => {
      const [doomed, next] = [task(), task()];
      await broker.enqueue([doomed]);
      const [held] = (await broker.claim({ workerId: 'w1', max: 1, leaseMs: 10_000, retention: KEEP })).tasks;
      await broker.cancel(doomed.uuid, 'user asked', KEEP);
      await broker.enqueue([next]);
      expect(await broker.complete([{ uuid: doomed.uuid, token: held!.token, status: 'retry', payload: 'Error: first' }], KEEP)).toEqual([true]);
      expect((await broker.storage.get(doomed.uuid))!).toMatchObject({
        status: 'cancel',
        cancelReason: 'user asked',
        attempt: 1,
        traceback: 'Error: first',
        errors: ['Error: first'],
      });
      expect(await claimUuids(2)).toEqual([next.uuid]);
    });

    it('a success after a retry keeps the failed attempt in the history only: the record has no traceback', async () => {
      const t = task();
      await broker.enqueue([t]);
      const [first] = (await broker.claim({ workerId: 'w1', max: 1, leaseMs: 10_000, retention: KEEP })).tasks;
      await broker.complete([{ uuid: t.uuid, token: first!.token, status: 'retry', payload: 'Error: first' }], KEEP);
      const [second] = (await broker.claim({ workerId: 'w1', max: 1, leaseMs: 10_000, retention: KEEP })).tasks;
      await broker.complete([{ uuid: t.uuid, token: second!.token, status: 'success', payload: '"done"' }], KEEP);
      const record = (await broker.storage.get(t.uuid))!;
      expect(record).toMatchObject({ status: 'success', attempt: 2, returning: 'done', errors: ['Error: first'] });
      expect(record.traceback).toBeUndefined();
    });

    it('an error after retries adds its traceback to the history', async () => {
      const t = task();
      await broker.enqueue([t]);
      const [first] = (await broker.claim({ workerId: 'w1', max: 1, leaseMs: 10_000, retention: KEEP })).tasks;
      await broker.complete([{ uuid: t.uuid, token: first!.token, status: 'retry', payload: 'Error: first' }], KEEP);
      const [second] = (await broker.claim({ workerId: 'w1', max: 1, leaseMs: 10_000, retention: KEEP })).tasks;
      await broker.complete([{ uuid: t.uuid, token: second!.token, status: 'error', payload: 'Error: last' }], KEEP);
      expect((await broker.storage.get(t.uuid))!).toMatchObject({
        status: 'error',
        attempt: 2,
        traceback: 'Error: last',
        errors: ['Error: first', 'Error: last'],
      });
    });

    it('cancel of a task not started: it never runs, queued or delayed', async () => {
      const [queued, delayed, next] = [task(), task({ delayMs: 60_000 }), task()];
      await broker.enqueue([queued, delayed, next]);
      expect(await broker.cancel(queued.uuid, 'not needed', KEEP)).toMatchObject({ status: 'cancel', cancelReason: 'not needed' });
      expect((await broker.cancel(delayed.uuid, 'later', KEEP))!.status).toBe('cancel');
      const batch = await broker.claim({ workerId: 'w1', max: 5, leaseMs: 10_000, retention: KEEP });
      expect(batch.tasks.map((t) => t.record.uuid)).toEqual([next.uuid]);
      expect(batch.nextDueInMs).toBeNull();
      expect(await broker.cancel('no-such-task', 'x', KEEP)).toBeNull();
      await broker.complete([{ uuid: next.uuid, token: batch.tasks[0]!.token, status: 'success', payload: '1' }], KEEP);
      expect((await broker.cancel(next.uuid, 'too late', KEEP))!).toMatchObject({ status: 'success', returning: 1 });
    });

    it('cancel of a running task reaches the worker, which stores the cancel outcome', async () => {
      const t = task();
      await broker.enqueue([t]);
      const [claimed] = (await broker.claim({ workerId: 'w1', max: 1, leaseMs: 10_000, retention: KEEP })).tasks;
      let heard!: (uuid: string) => void;
      const requested = new Promise<string>((resolve) => (heard = resolve));
      const unsubscribe = await broker.onCancelRequested((uuid) => heard(uuid));
      try {
        expect(await broker.cancel(t.uuid, 'user asked', KEEP)).toMatchObject({ status: 'process', cancelReason: 'user asked' });
        expect(await requested).toBe(t.uuid);
      } finally {
        await unsubscribe();
      }
      await broker.complete([{ uuid: t.uuid, token: claimed!.token, status: 'cancel', payload: 'user asked' }], KEEP);
      expect((await broker.storage.get(t.uuid))!).toMatchObject({ status: 'cancel', cancelReason: 'user asked' });
    });

    it('a running task that ends success or error on its own before its cancel takes effect keeps no cancelReason: only a cancel record has one', async () => {
      const ending = [task(), task(), task()];
      await broker.enqueue(ending);
      const [succeeded, failed, settled] = (await broker.claim({ workerId: 'w1', max: 3, leaseMs: 10_000, retention: KEEP })).tasks;
      for (const { uuid } of ending) {
        expect(await broker.cancel(uuid, 'too late', KEEP)).toMatchObject({ status: 'process', cancelReason: 'too late' });
      }
      const watch = await broker.storage.watch(succeeded!.record.uuid);
      const outcome = ({ record, token }: ClaimBatch['tasks'][number], status: 'success' | 'error', payload: string) => ({ uuid: record.uuid, token, status, payload });
      expect(await broker.complete([outcome(succeeded!, 'success', '1'), outcome(failed!, 'error', 'Error: boom')], KEEP)).toEqual([true, true]);
      // An outcome a claim settles is stored the same way.
      const claim = await broker.claim({ workerId: 'w1', max: 1, leaseMs: 10_000, retention: KEEP }, [outcome(settled!, 'success', '3')]);
      expect(claim.stored).toEqual([true]);
      const records = [await watch.finished, ...(await Promise.all(ending.map(({ uuid }) => broker.storage.get(uuid))))];
      expect(records.map((record) => record?.status)).toEqual(['success', 'success', 'error', 'success']);
      for (const record of records) expect(record).not.toHaveProperty('cancelReason');
    });

    it('recover puts the tasks of expired batches back in the order they were claimed, ahead of the rest', async () => {
      const tasks = [task(), task(), task(), task(), task()];
      await broker.enqueue(tasks);
      await broker.claim({ workerId: 'dying', max: 2, leaseMs: 30, retention: KEEP });
      await broker.claim({ workerId: 'dying', max: 2, leaseMs: 30, retention: KEEP });
      await sleep(80);
      expect(await broker.recover(3, KEEP)).toEqual({ requeued: 4, failed: 0 });
      expect(await claimUuids(5)).toEqual(tasks.map((t) => t.uuid));
    });

    it('a running task whose cancel was asked ends cancel when its worker dies', async () => {
      const t = task();
      await broker.enqueue([t]);
      await broker.claim({ workerId: 'dying', max: 1, leaseMs: 30, retention: KEEP });
      await broker.cancel(t.uuid, 'stop it', KEEP);
      await sleep(80);
      expect(await broker.recover(3, KEEP)).toEqual({ requeued: 0, failed: 1 });
      expect((await broker.storage.get(t.uuid))!).toMatchObject({ status: 'cancel', cancelReason: 'stop it', stalls: 1 });
    });

    it('progress is stored while the lease is held', async () => {
      const t = task();
      await broker.enqueue([t]);
      const [claimed] = (await broker.claim({ workerId: 'w1', max: 1, leaseMs: 10_000, retention: KEEP })).tasks;
      expect(await broker.progress({ uuid: t.uuid, token: claimed!.token }, '{"done":3,"of":10}')).toBe(true);
      expect((await broker.storage.get(t.uuid))!.progress).toEqual({ done: 3, of: 10 });
      expect(await broker.progress({ uuid: t.uuid, token: 'forged' }, '{"done":9}')).toBe(false);
      expect((await broker.storage.get(t.uuid))!.progress).toEqual({ done: 3, of: 10 });
    });

    it("a retried task shows the current attempt's progress only: the failed attempt's goes when its retry is stored", async () => {
      const t = task();
      await broker.enqueue([t]);
      const [first] = (await broker.claim({ workerId: 'w1', max: 1, leaseMs: 10_000, retention: KEEP })).tasks;
      expect(await broker.progress({ uuid: t.uuid, token: first!.token }, '{"done":7}')).toBe(true);
      await broker.complete([{ uuid: t.uuid, token: first!.token, status: 'retry', payload: 'Error: first' }], KEEP);
      const queued = (await broker.storage.get(t.uuid))!;
      expect(queued).toMatchObject({ status: 'new', attempt: 2 });
      expect(queued).not.toHaveProperty('progress');
      const [second] = (await broker.claim({ workerId: 'w1', max: 1, leaseMs: 10_000, retention: KEEP })).tasks;
      expect(second!.record).not.toHaveProperty('progress');
      // An attempt that reports none ends with none.
      await broker.complete([{ uuid: t.uuid, token: second!.token, status: 'success', payload: '1' }], KEEP);
      const done = (await broker.storage.get(t.uuid))!;
      expect(done).toMatchObject({ status: 'success', attempt: 2 });
      expect(done).not.toHaveProperty('progress');
    });

    it('a task run again after its worker was lost keeps its attempt and progress: its code can resume from that checkpoint', async () => {
      const t = task();
      await broker.enqueue([t]);
      const [first] = (await broker.claim({ workerId: 'dead-worker', max: 1, leaseMs: 40, retention: KEEP })).tasks;
      expect(await broker.progress({ uuid: t.uuid, token: first!.token }, '{"done":4}')).toBe(true);
      await sleep(100);
      expect(await broker.recover(3, KEEP)).toEqual({ requeued: 1, failed: 0 });
      expect((await broker.storage.get(t.uuid))!).toMatchObject({ status: 'new', attempt: 1, stalls: 1, progress: { done: 4 } });
      const [again] = (await broker.claim({ workerId: 'live-worker', max: 1, leaseMs: 10_000, retention: KEEP })).tasks;
      expect(again!.record).toMatchObject({ attempt: 1, progress: { done: 4 } });
    });

    it('enqueueing a uuid already stored changes nothing (a call sent again after its reply was lost)', async () => {
      const running = task();
      await broker.enqueue([running]);
      expect(await claimUuids(1)).toEqual([running.uuid]);
      const queued = task();
      await broker.enqueue([queued]);
      expect(await broker.enqueue([running, queued])).toEqual([running.uuid, queued.uuid]);
      expect((await broker.storage.get(running.uuid))!).toMatchObject({ status: 'process', worker: 'w1' });
      expect(await claimUuids(10)).toEqual([queued.uuid]);
      expect(await claimUuids(10)).toEqual([]);
    });

    it('a unique key drops duplicates until it expires', async () => {
      const first = task({ uniqueKey: 'tick:1', uniqueTtlMs: 80 });
      const duplicate = task({ uniqueKey: 'tick:1', uniqueTtlMs: 80 });
      const other = task({ uniqueKey: 'tick:2', uniqueTtlMs: 80 });
      expect(await broker.enqueue([first, duplicate, other])).toEqual([first.uuid, first.uuid, other.uuid]);
      expect(await broker.storage.get(duplicate.uuid)).toBeNull();
      await sleep(150);
      const afterExpiry = task({ uniqueKey: 'tick:1', uniqueTtlMs: 80 });
      expect(await broker.enqueue([afterExpiry])).toEqual([afterExpiry.uuid]);
      expect(await claimUuids(10)).toEqual([first.uuid, other.uuid, afterExpiry.uuid]);
    });

    it('retention: deleteFinishedTasks drops the record yet still tells a watcher', async () => {
      const t = task();
      await broker.enqueue([t]);
      const [claimed] = (await broker.claim({ workerId: 'w1', max: 1, leaseMs: 10_000, retention: KEEP })).tasks;
      const watch = await broker.storage.watch(t.uuid);
      await broker.complete([{ uuid: t.uuid, token: claimed!.token, status: 'success', payload: '"gone"' }], {
        ...KEEP,
        deleteFinishedTasks: true,
      });
      expect(await watch.finished).toMatchObject({ uuid: t.uuid, status: 'success', returning: 'gone' });
      expect(await broker.storage.get(t.uuid)).toBeNull();
    });

    it('retention: resultTtlMs expires finished records, not running ones', async () => {
      const [finished, running] = [task(), task()];
      await broker.enqueue([finished, running]);
      const tasks = (await broker.claim({ workerId: 'w1', max: 2, leaseMs: 10_000, retention: KEEP })).tasks;
      await broker.complete([{ uuid: finished.uuid, token: tasks[0]!.token, status: 'success', payload: '1' }], {
        ...KEEP,
        resultTtlMs: 1000,
      });
      // Generous TTL: the read right after must come before expiry even on a loaded machine.
      expect((await broker.storage.get(finished.uuid))!.status).toBe('success');
      await sleep(1200);
      expect(await broker.storage.get(finished.uuid)).toBeNull();
      expect((await broker.storage.get(running.uuid))!.status).toBe('process');
    });

    it('retention: keepFinishedTasks keeps the records of only the newest N per status', async () => {
      const tasks = Array.from({ length: 7 }, () => task());
      await broker.enqueue(tasks);
      const claimed = (await broker.claim({ workerId: 'w1', max: 7, leaseMs: 10_000, retention: KEEP })).tasks;
      const keepThree = { ...KEEP, keepFinishedTasks: 3 };
      // One by one, so "newest" is well defined: 5 successes, then 2 errors.
      for (const [index, { record, token }] of claimed.entries()) {
        const status = index < 5 ? 'success' : 'error';
        await broker.complete([{ uuid: record.uuid, token, status, payload: status === 'success' ? '1' : 'boom' }], keepThree);
      }
      const stored = await Promise.all(tasks.map((t) => broker.storage.get(t.uuid)));
      expect(stored.map((record) => record?.status ?? null)).toEqual([null, null, 'success', 'success', 'success', 'error', 'error']);
    });

    it('requeue runs a task that ended error again at the tail of its queue: new, attempt 1, every traceback kept', async () => {
      const [failing, other] = [task({ args: ['f'] }), task()];
      await broker.enqueue([failing]);
      const [first] = (await broker.claim({ workerId: 'w1', max: 1, leaseMs: 10_000, retention: KEEP })).tasks;
      await broker.complete([{ uuid: failing.uuid, token: first!.token, status: 'retry', payload: 'first failure', retryDelayMs: 0 }], KEEP);
      const [second] = (await broker.claim({ workerId: 'w1', max: 1, leaseMs: 10_000, retention: KEEP })).tasks;
      expect(second!.record.attempt).toBe(2);
      await broker.complete([{ uuid: failing.uuid, token: second!.token, status: 'error', payload: 'second failure' }], KEEP);
      await broker.enqueue([other]);

      const outcome = await broker.requeue(failing.uuid);
      expect(outcome).toMatchObject({ requeued: true, record: { uuid: failing.uuid, status: 'new', attempt: 1, args: ['f'] } });
      expect(outcome!.record.errors).toEqual(['first failure', 'second failure']);
      for (const gone of ['traceback', 'startedAt', 'finishedAt', 'worker'] as const) expect(outcome!.record[gone]).toBeUndefined();
      expect(await broker.storage.get(failing.uuid)).toEqual(outcome!.record);
      const again = (await broker.claim({ workerId: 'w2', max: 5, leaseMs: 10_000, retention: KEEP })).tasks;
      expect(again.map((t) => t.record.uuid)).toEqual([other.uuid, failing.uuid]);
      expect(again[1]!.record).toMatchObject({ status: 'process', attempt: 1, worker: 'w2' });
    });

    it('a retried task that fails by stalling keeps every traceback in errors, through a requeue too', async () => {
      const t = task();
      await broker.enqueue([t]);
      const [first] = (await broker.claim({ workerId: 'w1', max: 1, leaseMs: 10_000, retention: KEEP })).tasks;
      await broker.complete([{ uuid: t.uuid, token: first!.token, status: 'retry', payload: 'Error: first attempt', retryDelayMs: 0 }], KEEP);
      await broker.claim({ workerId: 'dead-worker', max: 1, leaseMs: 40, retention: KEEP });
      await sleep(100);
      expect(await broker.recover(0, KEEP)).toEqual({ requeued: 0, failed: 1 });
      const stalled = (await broker.storage.get(t.uuid))!;
      expect(stalled.status).toBe('error');
      expect(stalled.traceback).toMatch(/^StalledError/);
      expect(stalled.errors).toEqual(['Error: first attempt', stalled.traceback]);
      expect((await broker.requeue(t.uuid))!.record.errors).toEqual(['Error: first attempt', stalled.traceback]);
    });

    it('requeue takes a cancelled task too, and leaves a task in any other status as it is', async () => {
      const [cancelled, queued, running, succeeded] = [task(), task(), task(), task()];
      await broker.enqueue([running, succeeded]);
      const [held, done] = (await broker.claim({ workerId: 'w1', max: 2, leaseMs: 10_000, retention: KEEP })).tasks;
      await broker.complete([{ uuid: succeeded.uuid, token: done!.token, status: 'success', payload: '1' }], KEEP);
      await broker.enqueue([cancelled, queued]);
      await broker.cancel(cancelled.uuid, 'not now', KEEP);

      expect(await broker.requeue(cancelled.uuid)).toMatchObject({ requeued: true, record: { status: 'new', attempt: 1 } });
      expect((await broker.storage.get(cancelled.uuid))!.cancelReason).toBeUndefined();
      for (const [t, status] of [[queued, 'new'], [running, 'process'], [succeeded, 'success']] as const) {
        expect(await broker.requeue(t.uuid)).toMatchObject({ requeued: false, record: { uuid: t.uuid, status } });
      }
      expect(await broker.requeue('no-such-task')).toBeNull();
      // Each queued once: the refused requeue of the queued task did not queue it a second time.
      expect(await claimUuids(10)).toEqual([queued.uuid, cancelled.uuid]);
      expect(await broker.complete([{ uuid: running.uuid, token: held!.token, status: 'success', payload: '2' }], KEEP)).toEqual([true]);
    });

    it('a requeued task leaves the finished index and its result TTL: it is not trimmed or expired as a finished one', async () => {
      const [requeued, later] = [task(), task()];
      await broker.enqueue([requeued, later]);
      const [a, b] = (await broker.claim({ workerId: 'w1', max: 2, leaseMs: 10_000, retention: KEEP })).tasks;
      // Keep one error record, each for a second.
      const retention = { ...KEEP, keepFinishedTasks: 1, resultTtlMs: 1000 };
      await broker.complete([{ uuid: requeued.uuid, token: a!.token, status: 'error', payload: 'boom' }], retention);
      expect((await broker.requeue(requeued.uuid))!.requeued).toBe(true);
      // Were it still in the index, this newer error would trim its record.
      await broker.complete([{ uuid: later.uuid, token: b!.token, status: 'error', payload: 'boom' }], retention);
      await sleep(1200);
      expect(await broker.storage.get(later.uuid)).toBeNull();
      expect((await broker.storage.get(requeued.uuid))!.status).toBe('new');
    });

    it('waitFinished is pushed the final record, returns the current one on timeout, null for none', async () => {
      const t = task();
      await broker.enqueue([t]);
      const timedOut = await broker.storage.waitFinished(t.uuid, 50);
      expect(timedOut).toMatchObject({ uuid: t.uuid, status: 'new' });
      const waiting = broker.storage.waitFinished(t.uuid);
      const [claimed] = (await broker.claim({ workerId: 'w1', max: 1, leaseMs: 10_000, retention: KEEP })).tasks;
      expect(await within(waiting, 100)).toBe('timed out');
      await broker.complete([{ uuid: t.uuid, token: claimed!.token, status: 'success', payload: '42' }], KEEP);
      expect(await waiting).toMatchObject({ status: 'success', returning: 42 });
      expect(await broker.storage.waitFinished(t.uuid, 50)).toMatchObject({ status: 'success' });
      expect(await broker.storage.waitFinished('no-such-task', 50)).toBeNull();
    });

    it('waitForWork wakes on enqueue, on abort, and after its timeout', async () => {
      const never = new AbortController().signal;
      const idle = broker.waitForWork(20_000, never);
      expect(await within(idle, 100)).toBe('timed out');
      await broker.enqueue([task()]);
      expect(await within(idle, 10_000)).toBe('done');

      await claimUuids(10);
      const stopping = new AbortController();
      const aborted = broker.waitForWork(20_000, stopping.signal);
      expect(await within(aborted, 100)).toBe('timed out');
      stopping.abort();
      expect(await within(aborted, 10_000)).toBe('done');

      expect(await within(broker.waitForWork(50, never), 10_000)).toBe('done');
    });

    it('claimAfterWait claims what an enqueue brings, claims nothing after its timeout, and nothing when aborted with nothing queued', async () => {
      const never = new AbortController().signal;
      const request = { workerId: 'w1', max: 5, leaseMs: 10_000, retention: KEEP };
      const idle = broker.claimAfterWait(20_000, never, request);
      expect(await within(idle, 100)).toBe('timed out');
      const [first, second] = [task(), task()];
      await broker.enqueue([first, second]);
      const woken = await idle;
      expect(woken?.tasks.map((t) => [t.record.uuid, t.record.status, t.record.worker])).toEqual([
        [first.uuid, 'process', 'w1'],
        [second.uuid, 'process', 'w1'],
      ]);

      const empty = await broker.claimAfterWait(50, never, request);
      expect(empty?.tasks).toEqual([]);

      const stopping = new AbortController();
      const aborted = broker.claimAfterWait(20_000, stopping.signal, request);
      expect(await within(aborted, 100)).toBe('timed out');
      stopping.abort();
      // Null, or what a claim that ran as the wait ended took (the caller hands that back): nothing here.
      expect((await aborted)?.tasks ?? []).toEqual([]);
      // Nothing was claimed by the aborted wait: a task enqueued now is there for the next claim.
      const later = task();
      await broker.enqueue([later]);
      expect(await claimUuids(5)).toEqual([later.uuid]);
    });

    it('a delayed task wakes an idle worker too, so it can sleep until that task is due', async () => {
      const idle = broker.waitForWork(20_000, new AbortController().signal);
      await broker.enqueue([task({ delayMs: 60_000 })]);
      expect(await within(idle, 10_000)).toBe('done');
    });

    it('a watch set before the task exists sees it finish; a cancelled watch never settles', async () => {
      const t = task();
      const watch = await broker.storage.watch(t.uuid);
      await broker.enqueue([t]);
      const [claimed] = (await broker.claim({ workerId: 'w1', max: 1, leaseMs: 10_000, retention: KEEP })).tasks;
      await broker.complete([{ uuid: t.uuid, token: claimed!.token, status: 'success', payload: '7' }], KEEP);
      expect(await watch.finished).toMatchObject({ uuid: t.uuid, status: 'success', returning: 7 });
      const cancelled = await broker.storage.watch('never-enqueued', 20);
      cancelled.cancel();
      expect(await within(cancelled.finished, 200)).toBe('timed out');
    });

    it('a wake-up with no idle worker is kept for the next wait', async () => {
      await broker.enqueue([task()]);
      expect(await within(broker.waitForWork(20_000, new AbortController().signal), 10_000)).toBe('done');
    });

    it('wakeWorker wakes an idle worker, or with none idle the next to wait, and changes nothing else', async () => {
      const never = new AbortController().signal;
      const idle = broker.waitForWork(20_000, never);
      expect(await within(idle, 100)).toBe('timed out');
      await broker.wakeWorker();
      expect(await within(idle, 10_000)).toBe('done');
      await broker.wakeWorker();
      expect(await within(broker.waitForWork(20_000, never), 10_000)).toBe('done');
      // One wake-up per call, not a standing one: the wait after it sleeps again.
      const stopping = new AbortController();
      const asleep = broker.waitForWork(20_000, stopping.signal);
      expect(await within(asleep, 200)).toBe('timed out');
      stopping.abort();
      await asleep;
      expect((await broker.claim({ workerId: 'w1', max: 5, leaseMs: 10_000, retention: KEEP })).tasks).toEqual([]);
    });

    /** Takes the wake-up pending now, as an idle worker that died before it claimed would. */
    const takeWakeUp = async () => expect(await within(broker.waitForWork(20_000, new AbortController().signal), 10_000)).toBe('done');
    /** Whether a recovery sweep made at `at` (after sleeping until then) wakes a worker asleep now. */
    const sweepWakes = async (at: number) => {
      const stopping = new AbortController();
      const asleep = broker.waitForWork(20_000, stopping.signal);
      await sleep(Math.max(0, at - Date.now()));
      await broker.recover(3, KEEP);
      const outcome = await within(asleep, 300);
      stopping.abort();
      await asleep;
      return outcome === 'done';
    };

    it('recover wakes an idle worker for a delayed task due with no wake-up left for it, once it is due', async () => {
      const delayed = task({ delayMs: 1_000 });
      await broker.enqueue([delayed]);
      // Read after the call: Redis's clock, when the script ran, was no later than this one.
      const dueAt = Date.now() + 1_000;
      await takeWakeUp();
      expect(await sweepWakes(Date.now())).toBe(false); // not due yet
      expect(await sweepWakes(dueAt + 50)).toBe(true);
      expect((await broker.claim({ workerId: 'w1', max: 5, leaseMs: 10_000, retention: KEEP })).tasks.map((t) => t.record.uuid)).toEqual([delayed.uuid]);
      expect(await sweepWakes(Date.now())).toBe(false); // nothing due any more
    });

    it('recover wakes no one for a due delayed task while the whole queue is paused', async () => {
      await broker.setPaused(true);
      await broker.enqueue([task({ delayMs: 1 })]);
      await takeWakeUp();
      expect(await sweepWakes(Date.now() + 20)).toBe(false);
    });

    it('recover wakes an idle worker for a rate-limited line once its window closes, and no one for a line waiting for a running slot', async () => {
      const rateLimits = new Map([['mail', { max: 1, windowMs: 1_000 }]]);
      const [m1, m2] = [task({ taskName: 'mail' }), task({ taskName: 'mail' })];
      await broker.enqueue([m1!, m2!]);
      const first = await broker.claim({ workerId: 'w1', max: 5, leaseMs: 10_000, retention: KEEP, rateLimits });
      const windowClosesAt = Date.now() + 1_000;
      expect(first.tasks.map((t) => t.record.uuid)).toEqual([m1!.uuid]);
      await takeWakeUp();
      expect(await sweepWakes(Date.now())).toBe(false);
      expect(await sweepWakes(windowClosesAt + 50)).toBe(true);

      const runningLimits = new Map([['export', 1]]);
      const [e1, e2] = [task({ taskName: 'export' }), task({ taskName: 'export' })];
      await broker.enqueue([e1!, e2!]);
      const second = await broker.claim({ workerId: 'w1', max: 5, leaseMs: 10_000, retention: KEEP, rateLimits, runningLimits });
      expect(second.tasks.map((t) => t.record.uuid)).toEqual([m2!.uuid, e1!.uuid]);
      await takeWakeUp();
      // e2 waits for e1's slot: due at no time, so a sweep leaves the worker asleep.
      expect(await sweepWakes(Date.now())).toBe(false);
    });

    describe('rate limits', () => {
      const limited = (max: number, windowMs: number) => new Map([['mail', { max, windowMs }]]);
      const claimLimited = async (max: number, rateLimits: RateLimits) => broker.claim({ workerId: 'w1', max, leaseMs: 10_000, retention: KEEP, rateLimits });
      const uuidsOf = (batch: ClaimBatch) => batch.tasks.map((t) => t.record.uuid);

      it('starts a limited task at most max times per window; the rest wait in order while other tasks run', async () => {
        const rateLimits = limited(2, 1_000);
        const [m1, m2, m3, other, m4, m5] = ['mail', 'mail', 'mail', 'job', 'mail', 'mail'].map((taskName) => task({ taskName }));
        await broker.enqueue([m1!, m2!, m3!, other!, m4!, m5!]);
        const first = await claimLimited(10, rateLimits);
        expect(uuidsOf(first)).toEqual([m1!.uuid, m2!.uuid, other!.uuid]);
        // The window is full: the others are still new, and the worker is told when to come back.
        expect((await broker.storage.get(m3!.uuid))!.status).toBe('new');
        expect(first.nextDueInMs).toBeGreaterThan(0);
        expect(first.nextDueInMs).toBeLessThanOrEqual(1_000);
        const m6 = task({ taskName: 'mail' });
        await broker.enqueue([m6]);
        expect(uuidsOf(await claimLimited(10, rateLimits))).toEqual([]);

        await sleep(first.nextDueInMs! + 20);
        const second = await claimLimited(10, rateLimits);
        expect(uuidsOf(second)).toEqual([m3!.uuid, m4!.uuid]);
        await sleep(second.nextDueInMs! + 20);
        expect(uuidsOf(await claimLimited(10, rateLimits))).toEqual([m5!.uuid, m6.uuid]);
      });

      it('tasks back from the waiting line go ahead of same-priority tasks queued after them', async () => {
        const rateLimits = limited(1, 1_000);
        const [a, b] = [task({ taskName: 'mail' }), task({ taskName: 'mail' })];
        await broker.enqueue([a, b]);
        expect(uuidsOf(await claimLimited(1, rateLimits))).toEqual([a.uuid]);
        // b waits for the window; a one-task claim takes the other task meanwhile.
        const other = task();
        await broker.enqueue([other]);
        const second = await claimLimited(1, rateLimits);
        expect(uuidsOf(second)).toEqual([other.uuid]);
        expect(second.nextDueInMs).toBeGreaterThan(0);
        const later = task();
        await broker.enqueue([later]);
        await sleep(second.nextDueInMs! + 20);
        expect(uuidsOf(await claimLimited(1, rateLimits))).toEqual([b.uuid]);
        expect(uuidsOf(await claimLimited(1, rateLimits))).toEqual([later.uuid]);
      });

      it('waiting tasks keep their place however long they wait: a claim with fewer slots than the window allows leaves them first in line', async () => {
        const rateLimits = limited(2, 200);
        const all = Array.from({ length: 6 }, () => task({ taskName: 'mail' }));
        await broker.enqueue(all);
        const first = await claimLimited(10, rateLimits);
        expect(uuidsOf(first)).toEqual(all.slice(0, 2).map((t) => t.uuid));
        await sleep(first.nextDueInMs! + 20);
        // One slot only: the third starts, the fourth stays first in line through a whole window.
        expect(uuidsOf(await claimLimited(1, rateLimits))).toEqual([all[2]!.uuid]);
        await sleep(450);
        const rest: string[] = [];
        for (let windows = 0; rest.length < 3 && windows < 10; windows++) {
          const batch = await claimLimited(10, rateLimits);
          rest.push(...uuidsOf(batch));
          if (rest.length < 3) await sleep((batch.nextDueInMs ?? 0) + 20);
        }
        expect(rest).toEqual(all.slice(3).map((t) => t.uuid));
      });

      it('a task given back unstarted leaves its window, and goes ahead of the tasks waiting behind it', async () => {
        const rateLimits = limited(2, 1_500);
        const all = Array.from({ length: 4 }, () => task({ taskName: 'mail' }));
        await broker.enqueue(all);
        const first = await claimLimited(10, rateLimits);
        expect(uuidsOf(first)).toEqual([all[0]!.uuid, all[1]!.uuid]);
        // The second was claimed ahead and given back: it did not start, so it is not counted.
        await broker.release([{ uuid: all[1]!.uuid, token: first.tasks[1]!.token }], KEEP);
        const again = await claimLimited(10, rateLimits);
        expect(uuidsOf(again)).toEqual([all[1]!.uuid]);
        expect(uuidsOf(await claimLimited(10, rateLimits))).toEqual([]);
        await sleep(again.nextDueInMs! + 20);
        expect(uuidsOf(await claimLimited(10, rateLimits))).toEqual([all[2]!.uuid, all[3]!.uuid]);
      });

      it('a task given back after it started (a stopping worker) stays counted, first in its line', async () => {
        const rateLimits = limited(1, 60_000);
        const [m1, m2] = [task({ taskName: 'mail' }), task({ taskName: 'mail' })];
        await broker.enqueue([m1, m2]);
        const first = await claimLimited(10, rateLimits);
        expect(uuidsOf(first)).toEqual([m1.uuid]);
        expect(await broker.release([{ uuid: m1.uuid, token: first.tasks[0]!.token }], KEEP, { started: true })).toBe(1);
        const next = await claimLimited(10, rateLimits);
        expect(uuidsOf(next)).toEqual([]);
        expect(next.nextDueInMs).toBeGreaterThan(50_000);
        // Claimed without the limit (it was removed): the line comes out in order, the given-back task first.
        expect(uuidsOf(await claimLimited(10, new Map()))).toEqual([m1.uuid, m2.uuid]);
      });

      it('a limit raised while tasks wait starts them at once, ahead of tasks queued after them', async () => {
        const all = Array.from({ length: 4 }, () => task({ taskName: 'mail' }));
        await broker.enqueue(all.slice(0, 3));
        expect(uuidsOf(await claimLimited(10, limited(1, 60_000)))).toEqual([all[0]!.uuid]);
        await broker.enqueue([all[3]!]);
        expect(uuidsOf(await claimLimited(10, limited(5, 60_000)))).toEqual(all.slice(1).map((t) => t.uuid));
      });

      it('a cancelled waiting task never runs; a task no longer limited all comes back once its window reopens', async () => {
        const [a, b, c, d] = Array.from({ length: 4 }, () => task({ taskName: 'mail' }));
        await broker.enqueue([a!, b!, c!, d!]);
        const first = await claimLimited(10, limited(1, 200));
        expect(uuidsOf(first)).toEqual([a!.uuid]);
        expect(await broker.cancel(b!.uuid, 'not needed', KEEP)).toMatchObject({ status: 'cancel' });
        await sleep(first.nextDueInMs! + 20);
        // Claimed without the limit (it was removed from the task): every waiting task comes back.
        expect(uuidsOf(await claimLimited(10, new Map()))).toEqual([c!.uuid, d!.uuid]);
      });
    });

    describe('running limits', () => {
      const oneAtOnce: RunningLimits = new Map([['mail', 1]]);
      const claimAs = async (workerId: string, runningLimits: RunningLimits, settle: Parameters<Broker['claim']>[1] = [], leaseMs = 10_000) =>
        broker.claim({ workerId, max: 10, leaseMs, retention: KEEP, runningLimits }, settle);
      const uuidsOf = (batch: ClaimBatch) => batch.tasks.map((t) => t.record.uuid);
      const success = (batch: ClaimBatch, at = 0) => ({ uuid: batch.tasks[at]!.record.uuid, token: batch.tasks[at]!.token, status: 'success' as const, payload: '1' });
      /** Three mail tasks: the first claimed by w1 under `oneAtOnce`, the other two waiting for its slot. */
      const oneHeldTwoWaiting = async () => {
        const mails = Array.from({ length: 3 }, () => task({ taskName: 'mail' }));
        await broker.enqueue(mails);
        const first = await claimAs('w1', oneAtOnce);
        expect(uuidsOf(first)).toEqual([mails[0]!.uuid]);
        expect(uuidsOf(await claimAs('w1', oneAtOnce))).toEqual([]);
        return { first, mails: mails as [NewTask, NewTask, NewTask] };
      };

      it('holds at most maxRunning of a task at once across workers; the rest wait in order while other tasks run, each stored outcome starting the next', async () => {
        const runningLimits = new Map([['mail', 2]]);
        const [m1, m2, other, m3, m4] = ['mail', 'mail', 'job', 'mail', 'mail'].map((taskName) => task({ taskName }));
        await broker.enqueue([m1!, m2!, other!, m3!, m4!]);
        const first = await claimAs('w1', runningLimits);
        expect(uuidsOf(first)).toEqual([m1!.uuid, m2!.uuid, other!.uuid]);
        // Both slots are held: the others wait for a lease to end, not for a time.
        expect(first.nextDueInMs).toBeNull();
        expect((await broker.storage.get(m3!.uuid))!.status).toBe('new');
        expect(uuidsOf(await claimAs('w2', runningLimits))).toEqual([]);
        expect(await broker.complete([success(first, 0)], KEEP)).toEqual([true]);
        expect(uuidsOf(await claimAs('w2', runningLimits))).toEqual([m3!.uuid]);
        // An outcome settled by a claim frees its slot for that same claim.
        const settled = await claimAs('w1', runningLimits, [{ ...success(first, 1), status: 'error', payload: 'Error: no' }]);
        expect(settled.stored).toEqual([true]);
        expect(uuidsOf(settled)).toEqual([m4!.uuid]);
        expect(uuidsOf(await claimAs('w1', runningLimits))).toEqual([]);
      });

      it('frees a slot whatever ends the lease (a retry, a give-back, an expired lease), and wakes an idle worker for the waiting tasks', async () => {
        const {
          first,
          mails: [a, b, c],
        } = await oneHeldTwoWaiting();
        // The enqueue's wake-up, kept for the next wait, is taken first.
        await broker.waitForWork(50, new AbortController().signal);
        const idle = broker.waitForWork(20_000, new AbortController().signal);
        expect(await within(idle, 100)).toBe('timed out');
        await broker.complete([{ ...success(first), status: 'retry', payload: 'Error: again', retryDelayMs: 0 }], KEEP);
        expect(await within(idle, 10_000)).toBe('done');
        // The waiting tasks go first; the retried one queued behind them.
        const second = await claimAs('w2', oneAtOnce);
        expect(uuidsOf(second)).toEqual([b!.uuid]);
        expect(await broker.release([{ uuid: b!.uuid, token: second.tasks[0]!.token }], KEEP)).toBe(1);
        const third = await claimAs('w2', oneAtOnce, [], 100);
        expect(uuidsOf(third)).toEqual([b!.uuid]);
        await sleep(150);
        expect(await broker.recover(5, KEEP)).toEqual({ requeued: 1, failed: 0 });
        const fourth = await claimAs('w3', oneAtOnce);
        expect(uuidsOf(fourth)).toEqual([b!.uuid]);
        expect(fourth.tasks[0]!.record.stalls).toBe(1);
        // The worker whose lease expired is too late: its outcome frees nothing.
        expect(await broker.complete([success(third)], KEEP)).toEqual([false]);
        expect(uuidsOf(await claimAs('w3', oneAtOnce))).toEqual([]);
        await broker.complete([success(fourth)], KEEP);
        const fifth = await claimAs('w3', oneAtOnce);
        expect(uuidsOf(fifth)).toEqual([c!.uuid]);
        // The retried task came back behind the waiting ones, and waited its turn in their line.
        await broker.complete([success(fifth)], KEEP);
        expect(uuidsOf(await claimAs('w3', oneAtOnce))).toEqual([a!.uuid]);
      });

      it('a lease end frees the slot its claim took, whatever became of the record; a late caller whose task another claim holds frees nothing', async () => {
        const [a1, a2, a3] = Array.from({ length: 3 }, () => task({ taskName: 'mail' }));
        await broker.enqueue([a1!, a2!, a3!]);
        const first = await claimAs('w1', oneAtOnce);
        expect(uuidsOf(first)).toEqual([a1!.uuid]);
        await broker.storage.remove(a1!.uuid);
        expect(await broker.release([{ uuid: a1!.uuid, token: first.tasks[0]!.token }], KEEP)).toBe(0);
        const second = await claimAs('w1', oneAtOnce, [], 1);
        expect(uuidsOf(second)).toEqual([a2!.uuid]);
        // Its lease runs out and another worker takes it; then its record goes.
        await sleep(10);
        await broker.recover(5, KEEP);
        const third = await claimAs('w2', oneAtOnce);
        expect(uuidsOf(third)).toEqual([a2!.uuid]);
        await broker.storage.remove(a2!.uuid);
        // The first worker, late: its outcome and its give-back are refused, and free nothing.
        expect(await broker.complete([success(second)], KEEP)).toEqual([false]);
        expect(await broker.release([{ uuid: a2!.uuid, token: second.tasks[0]!.token }], KEEP)).toBe(0);
        expect(uuidsOf(await claimAs('w2', oneAtOnce))).toEqual([]);
        expect(await broker.complete([success(third)], KEEP)).toEqual([true]);
        expect(uuidsOf(await claimAs('w2', oneAtOnce))).toEqual([a3!.uuid]);
      });

      it('a limit raised while tasks wait for a slot starts them at once, ahead of tasks queued after them', async () => {
        const all = Array.from({ length: 4 }, () => task({ taskName: 'mail' }));
        await broker.enqueue(all.slice(0, 3));
        expect(uuidsOf(await claimAs('w1', oneAtOnce))).toEqual([all[0]!.uuid]);
        await broker.enqueue([all[3]!]);
        expect(uuidsOf(await claimAs('w1', new Map([['mail', 2]])))).toEqual([all[1]!.uuid]);
        expect(uuidsOf(await claimAs('w1', new Map([['mail', 5]])))).toEqual([all[2]!.uuid, all[3]!.uuid]);
      });

      it('a line left due by a claim that was full wakes an idle worker for it', async () => {
        const limits = new Map([['mail', 1], ['post', 1]]);
        const [m1, p1, m2, p2] = ['mail', 'post', 'mail', 'post'].map((taskName) => task({ taskName }));
        await broker.enqueue([m1!, p1!, m2!, p2!]);
        const first = await claimAs('w1', limits);
        expect(uuidsOf(first)).toEqual([m1!.uuid, p1!.uuid]);
        await broker.complete([success(first, 0), success(first, 1)], KEEP);
        // The wake-ups so far (the enqueue's, the freed slots') are taken first.
        await broker.waitForWork(50, new AbortController().signal);
        const idle = broker.waitForWork(20_000, new AbortController().signal);
        expect(await within(idle, 100)).toBe('timed out');
        // A one-task claim takes the mail; the post's line, due too, is left for another worker.
        const one = await broker.claim({ workerId: 'w2', max: 1, leaseMs: 10_000, retention: KEEP, runningLimits: limits });
        expect(uuidsOf(one)).toEqual([m2!.uuid]);
        expect(await within(idle, 10_000)).toBe('done');
        expect(uuidsOf(await claimAs('w3', limits))).toEqual([p2!.uuid]);
      });

      it('with a rate limit too, a task starts only when both allow', async () => {
        const [m1, m2, m3] = Array.from({ length: 3 }, () => task({ taskName: 'mail' }));
        await broker.enqueue([m1!, m2!, m3!]);
        const limits = { rateLimits: new Map([['mail', { max: 2, windowMs: 60_000 }]]), runningLimits: oneAtOnce };
        const claim = (settle: Parameters<Broker['claim']>[1] = []) => broker.claim({ workerId: 'w1', max: 10, leaseMs: 10_000, retention: KEEP, ...limits }, settle);
        const first = await claim();
        expect(uuidsOf(first)).toEqual([m1!.uuid]);
        const second = await claim([success(first)]);
        expect(uuidsOf(second)).toEqual([m2!.uuid]);
        // A slot is free again, but the window is full: m3 waits for its close.
        const third = await claim([success(second)]);
        expect(uuidsOf(third)).toEqual([]);
        expect(third.nextDueInMs).toBeGreaterThan(50_000);
      });

      it('a task waiting for a slot whose maxRunning is raised while its window is full waits for the window, and the worker is told when', async () => {
        const [m1, m2] = [task({ taskName: 'mail' }), task({ taskName: 'mail' })];
        await broker.enqueue([m1, m2]);
        const rateLimits = new Map([['mail', { max: 1, windowMs: 60_000 }]]);
        const claim = (runningLimits: RunningLimits) => broker.claim({ workerId: 'w1', max: 10, leaseMs: 10_000, retention: KEEP, rateLimits, runningLimits });
        expect(uuidsOf(await claim(oneAtOnce))).toEqual([m1.uuid]);
        const raised = await claim(new Map([['mail', 2]]));
        expect(uuidsOf(raised)).toEqual([]);
        expect(raised.nextDueInMs).toBeGreaterThan(50_000);
      });

      it('a slot freed while its task is paused starts nothing until the resume', async () => {
        const [p1, p2] = [task({ taskName: 'post' }), task({ taskName: 'post' })];
        await broker.enqueue([p1, p2]);
        const posts = new Map([['post', 1]]);
        const held = await claimAs('w2', posts);
        expect(uuidsOf(held)).toEqual([p1.uuid]);
        await broker.setPaused(true, 'post');
        await broker.complete([success(held)], KEEP);
        expect(uuidsOf(await claimAs('w2', posts))).toEqual([]);
        await broker.setPaused(false, 'post');
        expect(uuidsOf(await claimAs('w2', posts))).toEqual([p2.uuid]);
      });

      it('a task no longer limited starts its waiting tasks first, in order; tasks claimed without the limit hold no slot', async () => {
        const all = Array.from({ length: 4 }, () => task({ taskName: 'mail' }));
        await broker.enqueue(all.slice(0, 3));
        const first = await claimAs('w1', oneAtOnce);
        expect(uuidsOf(first)).toEqual([all[0]!.uuid]);
        expect(uuidsOf(await claimAs('w1', oneAtOnce))).toEqual([]);
        // Claimed without the limit (it was removed) while the first still runs: the line comes out ahead of the newer task.
        await broker.enqueue([all[3]!]);
        expect(uuidsOf(await claimAs('w2', new Map()))).toEqual(all.slice(1).map((t) => t.uuid));
        const later = [task({ taskName: 'mail' }), task({ taskName: 'mail' })];
        await broker.enqueue(later);
        expect(uuidsOf(await claimAs('w1', oneAtOnce))).toEqual([]);
        await broker.complete([success(first)], KEEP);
        expect(uuidsOf(await claimAs('w1', oneAtOnce))).toEqual([later[0]!.uuid]);
        expect(uuidsOf(await claimAs('w1', oneAtOnce))).toEqual([]);
      });

      it('a cancelled task waiting for a slot never runs', async () => {
        const {
          first,
          mails: [, a2, a3],
        } = await oneHeldTwoWaiting();
        expect(await broker.cancel(a2!.uuid, 'not needed', KEEP)).toMatchObject({ status: 'cancel' });
        expect(uuidsOf(await claimAs('w1', oneAtOnce, [success(first)]))).toEqual([a3!.uuid]);
      });

      it('a claim that frees a slot and starts the waiting task itself wakes no idle worker', async () => {
        const [a1, a2] = [task({ taskName: 'mail' }), task({ taskName: 'mail' })];
        await broker.enqueue([a1, a2]);
        const first = await claimAs('w1', oneAtOnce);
        await broker.waitForWork(50, new AbortController().signal);
        const stopping = new AbortController();
        const idle = broker.waitForWork(20_000, stopping.signal);
        expect(uuidsOf(await claimAs('w1', oneAtOnce, [success(first)]))).toEqual([a2.uuid]);
        expect(await within(idle, 300)).toBe('timed out');
        stopping.abort();
        await idle;
      });

      it('a give-back or an expired lease that frees a slot wakes an idle worker, even when its task does not go back', async () => {
        const never = new AbortController().signal;
        const {
          first,
          mails: [a1, a2, a3],
        } = await oneHeldTwoWaiting();
        await broker.storage.remove(a1!.uuid);
        await broker.waitForWork(50, never);
        const idle = broker.waitForWork(20_000, never);
        expect(await within(idle, 100)).toBe('timed out');
        expect(await broker.release([{ uuid: a1!.uuid, token: first.tasks[0]!.token }], KEEP)).toBe(0);
        expect(await within(idle, 10_000)).toBe('done');

        expect(uuidsOf(await claimAs('w2', oneAtOnce, [], 1))).toEqual([a2!.uuid]);
        await broker.storage.remove(a2!.uuid);
        await sleep(10);
        const idleAgain = broker.waitForWork(20_000, never);
        expect(await within(idleAgain, 100)).toBe('timed out');
        expect(await broker.recover(5, KEEP)).toEqual({ requeued: 0, failed: 0 });
        expect(await within(idleAgain, 10_000)).toBe('done');
        expect(uuidsOf(await claimAs('w3', oneAtOnce))).toEqual([a3!.uuid]);
      });
    });

    describe('pauses', () => {
      const claimAll = async (rateLimits?: RateLimits) => broker.claim({ workerId: 'w1', max: 10, leaseMs: 10_000, retention: KEEP, rateLimits });
      const uuidsOf = (batch: ClaimBatch) => batch.tasks.map((t) => t.record.uuid);

      it('a paused queue starts nothing, yet the claims store the outcomes they carry; resumed, it starts the tasks in order', async () => {
        const [a, b, c] = [task(), task(), task()];
        await broker.enqueue([a, b]);
        const [held] = (await broker.claim({ workerId: 'w1', max: 1, leaseMs: 10_000, retention: KEEP })).tasks;
        await broker.setPaused(true);
        await broker.enqueue([c]);
        const paused = await broker.claim({ workerId: 'w1', max: 10, leaseMs: 10_000, retention: KEEP }, [
          { uuid: a.uuid, token: held!.token, status: 'success', payload: '"done"' },
        ]);
        expect(paused).toEqual({ tasks: [], stored: [true], nextDueInMs: null });
        expect(await broker.storage.get(a.uuid)).toMatchObject({ status: 'success', returning: 'done' });
        expect((await broker.storage.get(b.uuid))!.status).toBe('new');
        await broker.setPaused(false);
        expect(uuidsOf(await claimAll())).toEqual([b.uuid, c.uuid]);
      });

      it('a paused task waits aside, in order, while the others run; resumed, its tasks start before anything queued', async () => {
        const [m1, other, m2] = [task({ taskName: 'mail' }), task(), task({ taskName: 'mail' })];
        await broker.enqueue([m1, other, m2]);
        await broker.setPaused(true, 'mail');
        expect(uuidsOf(await claimAll())).toEqual([other.uuid]);
        const [m3, later] = [task({ taskName: 'mail' }), task()];
        await broker.enqueue([m3]);
        expect(uuidsOf(await claimAll())).toEqual([]);
        expect((await broker.storage.get(m1.uuid))!.status).toBe('new');
        await broker.setPaused(false, 'mail');
        await broker.enqueue([later]);
        expect(uuidsOf(await claimAll())).toEqual([m1.uuid, m2.uuid, m3.uuid, later.uuid]);
      });

      it('a resumed task whose rate-limit window is full waits for the window, and the worker is told when it reopens', async () => {
        const rateLimits = new Map([['mail', { max: 1, windowMs: 60_000 }]]);
        const [m1, m2] = [task({ taskName: 'mail' }), task({ taskName: 'mail' })];
        await broker.enqueue([m1, m2]);
        expect(uuidsOf(await claimAll(rateLimits))).toEqual([m1.uuid]);
        await broker.setPaused(true, 'mail');
        await broker.setPaused(false, 'mail');
        const first = await claimAll(rateLimits);
        expect(uuidsOf(first)).toEqual([]);
        // Not 0: a worker told to come back at once would claim in a loop until the window reopens.
        expect(first.nextDueInMs).toBeGreaterThan(50_000);
        expect((await claimAll(rateLimits)).nextDueInMs).toBeGreaterThan(50_000);
      });

      it('lines resumed together start by task name, as a sorted set orders them', async () => {
        const [zeta, alpha] = [task({ taskName: 'zeta' }), task({ taskName: 'alpha' })];
        await broker.enqueue([zeta, alpha]);
        await broker.setPaused(true, 'zeta');
        await broker.setPaused(true, 'alpha');
        expect(uuidsOf(await claimAll())).toEqual([]);
        await broker.setPaused(false, 'zeta');
        await broker.setPaused(false, 'alpha');
        expect(uuidsOf(await broker.claim({ workerId: 'w1', max: 1, leaseMs: 10_000, retention: KEEP }))).toEqual([alpha.uuid]);
        expect(uuidsOf(await claimAll())).toEqual([zeta.uuid]);
      });

      it('an empty task name is refused: no task has one', async () => {
        await expect(broker.setPaused(true, '')).rejects.toMatchObject({ code: 'INVALID_OPTION' });
        await broker.enqueue([task()]);
        expect(uuidsOf(await claimAll())).toHaveLength(1);
      });

      it('a cancelled task waiting for a resume never runs', async () => {
        const [m1, m2] = [task({ taskName: 'mail' }), task({ taskName: 'mail' })];
        await broker.enqueue([m1, m2]);
        await broker.setPaused(true, 'mail');
        expect(uuidsOf(await claimAll())).toEqual([]);
        expect(await broker.cancel(m1.uuid, 'not needed', KEEP)).toMatchObject({ status: 'cancel' });
        await broker.setPaused(false, 'mail');
        expect(uuidsOf(await claimAll())).toEqual([m2.uuid]);
      });
    });

    it('pauses and resumes through QueueTasks: an idle worker wakes on the resume; an unknown task is refused', async () => {
      const app = new QueueTasks(factory.appOptions());
      app.task('mail', async (to: string) => `sent to ${to}`);
      await app.start();
      try {
        await app.pause('mail');
        const { uuid } = await app.add('mail', ['ann']);
        await sleep(300);
        expect((await app.get(uuid))!.status).toBe('new');
        await app.resume('mail');
        expect(await app.wait(uuid, { timeout: 10_000 })).toMatchObject({ status: 'success', returning: 'sent to ann' });
        await app.pause();
        const second = await app.add('mail', ['bob']);
        await sleep(300);
        expect((await app.get(second.uuid))!.status).toBe('new');
        await app.resume();
        expect(await app.wait(second.uuid, { timeout: 10_000 })).toMatchObject({ status: 'success' });
        await expect(app.pause('no-such-task')).rejects.toMatchObject({ code: 'UNKNOWN_TASK' });
      } finally {
        await app.stop();
      }
    });

    it('keeps the maxRunning of a task through QueueTasks: no more run at once, whatever the worker has free', async () => {
      const app = new QueueTasks({ ...factory.appOptions(), config: { maxTasksProcess: 6 } });
      let running = 0;
      let mostAtOnce = 0;
      app.task({ name: 'export', maxRunning: 2 }, async (n: number) => {
        mostAtOnce = Math.max(mostAtOnce, ++running);
        await sleep(60);
        running--;
        return n;
      });
      app.task('quick', async (n: number) => n);
      await app.start();
      try {
        const exports = await Promise.all([1, 2, 3, 4, 5, 6].map((n) => app.add('export', [n])));
        const quick = await app.add('quick', [7]);
        // The quick task does not wait behind the held exports.
        const quickDone = await app.wait(quick.uuid, { timeout: 10_000 });
        const done = await Promise.all(exports.map(({ uuid }) => app.wait(uuid, { timeout: 10_000 })));
        expect(done.map((record) => [record.status, record.returning])).toEqual([1, 2, 3, 4, 5, 6].map((n) => ['success', n]));
        expect(mostAtOnce).toBe(2);
        expect(quickDone.finishedAt!.getTime()).toBeLessThan(done[4]!.startedAt!.getTime());
      } finally {
        await app.stop();
      }
    });

    it('runs tasks end to end through QueueTasks: result, error, wait', async () => {
      const app = new QueueTasks({ ...factory.appOptions(), config: { maxTasksProcess: 2 } });
      app.task('double', async (n: number) => n * 2);
      app.task('fail', async () => {
        throw new RangeError('out of range');
      });
      await app.start();
      try {
        expect(await app.run('double', [21], { timeout: 10_000 })).toMatchObject({ status: 'success', returning: 42 });
        const failed = await app.run('fail', [], { timeout: 10_000 });
        expect(failed.status).toBe('error');
        expect(failed.traceback).toMatch(/^RangeError: out of range/);
        const records = await Promise.all([3, 1, 2].map((n) => app.run('double', [n], { timeout: 10_000 })));
        expect(records.map((r) => r.returning)).toEqual([6, 2, 4]);
      } finally {
        await app.stop();
      }
    });

    it('requeues a failed task through QueueTasks once its cause is fixed; typed errors for the rest', async () => {
      const app = new QueueTasks(factory.appOptions());
      let broken = true;
      app.task('flaky', async (n: number) => {
        if (broken) throw new Error('upstream down');
        return n + 1;
      });
      await app.start();
      try {
        const failed = await app.run('flaky', [1], { timeout: 10_000 });
        expect(failed.status).toBe('error');
        broken = false;
        expect(await app.requeue(failed.uuid)).toMatchObject({ uuid: failed.uuid, status: 'new', attempt: 1 });
        const rerun = await app.wait(failed.uuid, { timeout: 10_000 });
        expect(rerun).toMatchObject({ status: 'success', returning: 2, attempt: 1 });
        expect(rerun.errors).toHaveLength(1);
        expect(rerun.errors![0]).toMatch(/^Error: upstream down/);
        await expect(app.requeue(failed.uuid)).rejects.toMatchObject({
          code: 'INVALID_TASK_STATE',
          message: `Task ${failed.uuid} is success; only a task that ended error or cancel can be requeued.`,
        });
        await expect(app.requeue('no-such-task')).rejects.toMatchObject({ code: 'TASK_NOT_FOUND' });
      } finally {
        await app.stop();
      }
    });

    it('keeps the rate limit of a task through QueueTasks: the worker waits for each window and runs them all', async () => {
      const app = new QueueTasks({ ...factory.appOptions(), config: { maxTasksProcess: 10 } });
      app.task({ name: 'mail', rateLimit: { max: 2, windowMs: 300 } }, async (n: number) => n);
      await app.start();
      try {
        const records = await Promise.all([1, 2, 3, 4, 5].map((n) => app.run('mail', [n], { timeout: 10_000 })));
        expect(records.map((r) => r.returning)).toEqual([1, 2, 3, 4, 5]);
        expect(startsPerWindow(records.map((r) => r.startedAt!.getTime()), 300)).toEqual([2, 2, 1]);
      } finally {
        await app.stop();
      }
    });

    it("reads a schedule for a timer's tick in one call: published with its run state, or marked removed until published again", async () => {
      const app = new QueueTasks({ name: 'conformance-app', ...factory.appOptions() });
      await app.start();
      try {
        const globalConfig = app.globalConfig!;
        const name = `tick-read-${randomUUID()}`;
        const definition = { name, taskName: 'mail', every: 60_000, args: ['ann'], catchUp: false };
        expect(await globalConfig.scheduleAtTick(name)).toEqual({ removed: false, published: undefined });
        await globalConfig.publishSchedule(definition, new Date(3_000));
        await globalConfig.recordScheduleRun(name, new Date(1_000), 'its-task', new Date(2_000));
        const published = { ...definition, lastRun: new Date(1_000), lastTaskUuid: 'its-task', nextRun: new Date(2_000) };
        expect(await globalConfig.scheduleAtTick(name)).toEqual({ removed: false, published });
        await globalConfig.removeSchedule(name);
        expect(await globalConfig.scheduleAtTick(name)).toEqual({ removed: true, published: undefined });
        await globalConfig.publishSchedule(definition, new Date(4_000));
        expect(await globalConfig.scheduleAtTick(name)).toEqual({ removed: false, published: { ...definition, nextRun: new Date(4_000) } });
      } finally {
        await app.stop();
      }
    });

    it("refuses GlobalConfig calls made directly once the app stopped with AppStoppedError naming the app; a new start makes them work again", async () => {
      const app = new QueueTasks({ name: 'conformance-app', ...factory.appOptions() });
      app.task('mail', async (to: string) => `sent to ${to}`);
      await app.start();
      const globalConfig = app.globalConfig!;
      await globalConfig.set('region', 'eu');
      await app.stop();
      const calls = {
        set: () => globalConfig.set('region', 'us'),
        get: () => globalConfig.get('region'),
        getAll: () => globalConfig.getAll(),
        workers: () => globalConfig.workers(),
        catalog: () => globalConfig.catalog(),
        schedules: () => globalConfig.schedules(),
        removeSchedule: () => globalConfig.removeSchedule('nightly'),
        scheduleAtTick: () => globalConfig.scheduleAtTick('nightly'),
      };
      for (const [name, call] of Object.entries(calls)) {
        const error = await call().then(() => undefined, (e: unknown) => e);
        expect(error, name).toBeInstanceOf(AppStoppedError);
        expect((error as Error).message, name).toMatch(new RegExp(`^App "${app.name}" is stopped `));
      }
      await app.start();
      try {
        expect(await globalConfig.get('region')).toBe('eu');
      } finally {
        await app.stop();
      }
    });

    it('cancels a running task through QueueTasks: its worker hears it and stores cancel', async () => {
      const app = new QueueTasks(factory.appOptions());
      let started!: () => void;
      const running = new Promise<void>((resolve) => (started = resolve));
      app.task('forever', () => {
        started();
        return new Promise(() => undefined);
      });
      await app.start();
      try {
        const record = await app.add('forever');
        await running;
        expect(await app.cancel(record.uuid, 'enough')).toMatchObject({ status: 'process', cancelReason: 'enough' });
        expect(await app.wait(record.uuid, { timeout: 10_000 })).toMatchObject({ status: 'cancel', cancelReason: 'enough' });
      } finally {
        await app.stop();
      }
    });
  });
}
