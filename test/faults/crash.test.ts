import { writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it, onTestFinished } from 'vitest';
import type { QueueTasks, RedisConnectionOptions } from '../../lib/index.js';
import { BACKENDS } from '../helpers/backends.js';
import { uniqueAppName } from '../helpers/names.js';
import { stopChild, type ChildApp } from '../helpers/child-app.js';
import { runLine, runsOf, startProducer, startWorkerApp, waitAll } from './support.js';

// Short leases keep these tests short; recovery runs every leaseMs / 2 in each live worker.
const LEASE_MS = 1500;
/** Each test starts worker processes, which compile the sources as they start: slow on a loaded machine. */
const CHILD_TEST_MS = 90_000;

/** Producer and child workers of one test app; everything started is stopped after the file. */
class FaultScene {
  private readonly children: ChildApp[] = [];
  private readonly producers: QueueTasks[] = [];

  async open(connection: RedisConnectionOptions, label: string, config: Record<string, number> = {}) {
    const options = { name: uniqueAppName(label), ...connection, config: { leaseMs: LEASE_MS, ...config } };
    const producer = await startProducer(options);
    this.producers.push(producer);
    const spawnWorker = async (workerLabel: string, maxTasksProcess = 10, awaitReady = true) => {
      const workerOptions = { ...options, config: { ...options.config, maxTasksProcess } };
      const child = await startWorkerApp(workerOptions, workerLabel, awaitReady);
      this.children.push(child);
      return child;
    };
    return { producer, spawnWorker };
  }

  async close(): Promise<void> {
    await Promise.all(this.children.map(stopChild));
    await Promise.all(this.producers.map((producer) => producer.stop()));
  }
}

describe.each(BACKENDS)('a worker process killed with -9, on $name', (backend) => {
  const scene = new FaultScene();
  afterAll(() => scene.close());

  it('kill -9 of a worker holding several tasks: each runs again on another worker and ends success', async () => {
    const { producer, spawnWorker } = await scene.open(backend.connection(), 'crash');
    const doomed = await spawnWorker('A', 4);
    const ids = ['t1', 't2', 't3', 't4'];
    const tasks = await producer.addBulk(ids.map((id) => ({ name: 'hold', args: [id, 'A'] })));
    for (const id of ids) await doomed.waitFor(runLine('started', id));
    await spawnWorker('B');
    const killedAt = Date.now();
    await stopChild(doomed);
    const done = await waitAll(producer, tasks.map((task) => task.uuid), 20_000);
    for (const [index, record] of done.entries()) {
      expect(record.status).toBe('success');
      expect(record.returning).toEqual({ id: ids[index], by: 'B' });
      expect(record.stalls).toBe(1);
      // The run that ended it is the one B started after A was killed (recovered from the expired
      // lease), not a run of A's. How soon recovery comes is not asserted: waitAll bounds it.
      expect(record.startedAt!.getTime()).toBeGreaterThanOrEqual(killedAt);
    }
  }, CHILD_TEST_MS);
});

describe('worker processes that freeze or keep dying', () => {
  const scene = new FaultScene();
  const connection = { url: inject('redisUrl') };
  afterAll(() => scene.close());

  it('a worker that blocks past its lease loses the task; its late result is discarded and logged', async () => {
    const { producer, spawnWorker } = await scene.open(connection, 'stuck');
    const frozen = await spawnWorker('A', 1);
    const releaseFile = join(tmpdir(), `${uniqueAppName('release')}.flag`);
    const task = await producer.add('block', ['s1', 'A', releaseFile]);
    // stdout to a pipe is synchronous on Linux: the line is out before the event loop blocks.
    await frozen.waitFor(runLine('started', 's1'));
    await spawnWorker('B');
    const done = await producer.wait(task.uuid, { timeout: 20_000 });
    expect(done.status).toBe('success');
    expect(done.returning).toEqual({ id: 's1', by: 'B' });
    expect(done.stalls).toBe(1);
    // The frozen worker wakes up, finishes too, and its completion is refused by the token check.
    writeFileSync(releaseFile, '');
    onTestFinished(() => rmSync(releaseFile, { force: true }));
    await frozen.waitFor(runLine('finished', 's1'), 20_000);
    await frozen.waitFor(`task ${task.uuid}: its lease expired`, 10_000);
    expect(frozen.output()).toMatch(/this result was discarded/);
    expect(await producer.get(task.uuid)).toEqual(done);
  }, CHILD_TEST_MS);

  it('kill -9 of the idle worker that alone knew when a delayed task is due: another runs it after a recovery sweep, not its idle block', async () => {
    const { producer, spawnWorker } = await scene.open(connection, 'due-lost');
    const doomed = await spawnWorker('A');
    // Redis serves blocked workers in the order they blocked: A, asleep first, takes the delayed
    // task's wake-up, and so is the only one that learns when it is due.
    await sleep(300);
    await spawnWorker('B');
    await sleep(300);
    const enqueuedAt = Date.now();
    const task = await producer.add('work', ['late', 0], { delay: 1_500 });
    await sleep(300);
    await stopChild(doomed);
    // B sleeps on its 30 s idle block unless woken; its recovery sweeps come every LEASE_MS / 2.
    const record = await producer.wait(task.uuid, { timeout: 15_000 });
    expect(record).toMatchObject({ status: 'success', returning: { id: 'late', by: 'B' } });
    expect(record.startedAt!.getTime() - enqueuedAt).toBeGreaterThanOrEqual(1_500);
    expect(record.startedAt!.getTime() - enqueuedAt).toBeLessThan(1_500 + 4 * LEASE_MS);
  }, CHILD_TEST_MS);

  it('a task that keeps killing its worker ends error after maxStalls instead of looping', async () => {
    const maxStalls = 1;
    const { producer, spawnWorker } = await scene.open(connection, 'stalls', { maxStalls });
    const task = await producer.add('crash', ['c1']);
    // Workers enough for every allowed re-run plus one survivor to record the verdict; each that
    // takes the task dies (maybe before it reports ready), a live one recovers it after the lease.
    const workers = await Promise.all(
      Array.from({ length: maxStalls + 2 }, (_, i) => spawnWorker(`W${i}`, 10, false)),
    );
    const record = await producer.wait(task.uuid, { timeout: 60_000 });
    const victims = workers.filter((worker) => runsOf(worker, 'started').includes('c1'));
    expect(victims).toHaveLength(maxStalls + 1);
    for (const victim of victims) expect((await victim.exited).signal).toBe('SIGKILL');
    expect(workers.filter((worker) => worker.process.exitCode === null && worker.process.signalCode === null)).toHaveLength(1);
    expect(record.status).toBe('error');
    expect(record.stalls).toBe(maxStalls + 1);
    expect(record.traceback).toMatch(/^StalledError: .*stopped answering 2 times \(more than maxStalls = 1\)/);
  }, CHILD_TEST_MS);
});
