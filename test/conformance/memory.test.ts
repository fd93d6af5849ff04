import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { AppStoppedError, MalformedRecordError, MemoryBroker, MemoryGlobalConfig, QueueTasks } from '../../lib/index.js';
import { describeBackendConformance } from './backend.conformance.js';

describeBackendConformance('memory', {
  async broker() {
    const broker = new MemoryBroker();
    await broker.start();
    return broker;
  },
  appOptions: () => ({ backend: 'memory' }),
});

describe('a MemoryGlobalConfig shared by the apps of one process', () => {
  it('stays open while one of them runs, and refuses calls once the last one stopped', async () => {
    const globalConfig = new MemoryGlobalConfig({ name: 'shared' });
    const [first, second] = [1, 2].map(() => new QueueTasks({ backend: 'memory', name: 'shared', globalConfig, worker: false }));
    await first!.start();
    await second!.start();
    await first!.stop();
    await globalConfig.set('region', 'eu');
    expect(await globalConfig.get('region')).toBe('eu');
    await second!.stop();
    await expect(globalConfig.get('region')).rejects.toThrow(new AppStoppedError('shared'));
  });

  it("stays open for a running app when another app's start is stopped while under way, and closes once the running one stops", async () => {
    const globalConfig = new MemoryGlobalConfig({ name: 'shared' });
    const [running, interrupted] = [1, 2].map(() => new QueueTasks({ backend: 'memory', name: 'shared', globalConfig, worker: false }));
    await running!.start();
    const started = interrupted!.start().then(() => 'started', (error: unknown) => error);
    await interrupted!.stop();
    expect(await started).toBeInstanceOf(AppStoppedError);
    await globalConfig.set('region', 'eu');
    expect(await globalConfig.get('region')).toBe('eu');
    await running!.stop();
    await expect(globalConfig.get('region')).rejects.toThrow(new AppStoppedError('shared'));
  });
});

describe('the memory broker alone', () => {
  it('refuses cancel and requeue of a record the codec refuses with MalformedRecordError, before changing anything', async () => {
    const broker = new MemoryBroker();
    const keep = { deleteFinishedTasks: false, resultTtlMs: 0, keepFinishedTasks: 0 };
    const task = (argsJson: string) => ({ uuid: randomUUID(), taskName: 'job', priority: 0, argsJson, createdAt: Date.now(), delayMs: 0 });
    const [queued, failed] = [task('{not json'), task('{not json')];
    await broker.enqueue([failed]);
    // Claimed, it fails as malformed: status error, its arguments still no JSON.
    expect((await broker.claim({ workerId: 'w1', max: 1, leaseMs: 10_000, retention: keep })).tasks).toEqual([]);
    await broker.enqueue([queued]);
    for (const { uuid } of [queued, failed]) {
      const before = broker.storage.read(uuid);
      for (const call of [() => broker.cancel(uuid, 'no', keep), () => broker.requeue(uuid)]) {
        await expect(call()).rejects.toThrow(new MalformedRecordError(uuid, 'its arguments are not JSON'));
      }
      expect(broker.storage.read(uuid)).toEqual(before);
    }
    expect(broker.storage.read(failed.uuid)!.s).toBe('error');
    // The queued one was not cancelled: a claim still meets it (and fails it).
    expect((await broker.claim({ workerId: 'w1', max: 1, leaseMs: 10_000, retention: keep })).tasks).toEqual([]);
    expect(broker.storage.read(queued.uuid)!.s).toBe('error');
    await broker.stop();
  });

  it('recovers an expired lease whose record lost its task name by failing it and reporting it, as Redis does', async () => {
    const broker = new MemoryBroker();
    const keep = { deleteFinishedTasks: false, resultTtlMs: 0, keepFinishedTasks: 0 };
    const held = { uuid: randomUUID(), taskName: 'job', priority: 0, argsJson: '[1]', createdAt: Date.now(), delayMs: 0 };
    await broker.enqueue([held]);
    expect((await broker.claim({ workerId: 'gone', max: 1, leaseMs: 20, retention: keep })).tasks).toHaveLength(1);
    const stored = broker.storage.read(held.uuid)!;
    delete (stored as Partial<typeof stored>).n;
    broker.storage.write(held.uuid, stored);
    await new Promise((resolve) => setTimeout(resolve, 40));
    expect(await broker.recover(3, keep)).toEqual({
      requeued: 0,
      failed: 1,
      malformed: [{ uuid: held.uuid, reason: 'not a valid task record; it ended error, keeping its text' }],
    });
    expect(broker.storage.read(held.uuid)).toMatchObject({ s: 'error', e: expect.stringMatching(/^MalformedRecordError: the stored record is not a valid task record/) });
    // Not given back: no claim meets it again.
    expect((await broker.claim({ workerId: 'w1', max: 1, leaseMs: 10_000, retention: keep })).tasks).toEqual([]);
    await broker.stop();
  });

  it('claims with 200,000 delayed tasks stored (more than one call takes arguments)', async () => {
    const broker = new MemoryBroker();
    const now = Date.now();
    const tasks = Array.from({ length: 200_000 }, () => ({ uuid: randomUUID(), taskName: 'later', priority: 0, argsJson: '[]', createdAt: now, delayMs: 60_000 }));
    await broker.enqueue(tasks);
    const batch = await broker.claim({ workerId: 'w1', max: 10, leaseMs: 10_000, retention: { deleteFinishedTasks: false, resultTtlMs: 0, keepFinishedTasks: 0 } });
    expect(batch.tasks).toEqual([]);
    expect(batch.nextDueInMs).toBeGreaterThan(50_000);
    await broker.stop();
  });
});
