import { Injectable } from '@nestjs/common';
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, inject, it } from 'vitest';
import { QTasksClient, Task, type TaskRecord } from '../../lib/index.js';
import { startChildApp, stopChild, type ChildApp } from '../helpers/child-app.js';
import { uniqueAppName } from '../helpers/names.js';
import { startNestApp } from '../helpers/nest-app.js';

/** Same task name and signature as the fixture's worker; this process only enqueues. */
@Injectable()
class WorkProducer {
  @Task()
  async work(_label: string, _ms: number): Promise<{ pid: number }> {
    throw new Error('runs only in worker processes');
  }
}

// Each test starts worker processes, which compile the sources as they start: slow on a loaded
// machine, hence the test timeouts.
describe('worker processes', () => {
  const url = inject('redisUrl');
  const redis = new Redis(url);
  const children: ChildApp[] = [];

  const startWorker = async (name: string, env: Record<string, string> = {}) => {
    const child = startChildApp('worker-app.ts', { QTASKS_URL: url, QTASKS_NAME: name, ...env });
    children.push(child);
    await child.waitFor('ready');
    return child;
  };
  const producer = async (name: string) => {
    const app = await startNestApp({ name, url, worker: false }, [WorkProducer]);
    return { app, client: app.get(QTasksClient) };
  };

  afterEach(async () => {
    await Promise.all(children.splice(0).map(stopChild));
  });
  afterAll(async () => redis.quit());

  it('runs 500 tasks across two worker processes exactly once each', async () => {
    const name = uniqueAppName('two-workers');
    await Promise.all([startWorker(name), startWorker(name)]);
    const { app, client } = await producer(name);
    try {
      const labels = Array.from({ length: 500 }, (_, i) => `t${i}`);
      const records = await client.addBulk(labels.map((label) => ({ name: 'work', args: [label, 1] })));
      const finished = await Promise.all(records.map((r) => client.wait(r.uuid, { timeout: 60_000 })));
      expect(finished.every((r) => r.status === 'success')).toBe(true);
      const runs = await redis.hgetall(`${name}:runs`);
      expect(Object.keys(runs).sort()).toEqual([...labels].sort());
      expect(Object.values(runs).every((count) => count === '1')).toBe(true);
      const pids = new Set(finished.map((r) => (r.returning as { pid: number }).pid));
      expect(pids.size).toBe(2);
    } finally {
      await app.close();
    }
  }, 90_000);

  it('a task whose worker is killed mid-run (kill -9) runs again in another worker and succeeds', async () => {
    const name = uniqueAppName('kill9');
    // Short enough that the survivor takes the task over soon after the kill; long enough that
    // the survivor itself, renewing every leaseMs / 3 while the 3 s task runs, keeps its lease on a
    // loaded machine (a stall past its lease would run the task a third time).
    const env = { QTASKS_LEASE_MS: '2000' };
    const doomed = await startWorker(name, env);
    const { app, client } = await producer(name);
    try {
      const task = await client.add('work', ['slow', 3000]);
      await doomed.waitFor('started slow');
      doomed.kill('SIGKILL');
      await doomed.exited;
      const survivor = await startWorker(name, env);
      const done: TaskRecord = await client.wait(task.uuid, { timeout: 20_000 });
      expect(done.status).toBe('success');
      expect(done.stalls).toBe(1);
      expect((done.returning as { pid: number }).pid).toBe(survivor.process.pid);
      expect(await redis.hget(`${name}:runs`, 'slow')).toBe('2');
    } finally {
      await app.close();
    }
  }, 90_000);

  it('SIGTERM lets the running task finish, then the worker exits with code 0', async () => {
    const name = uniqueAppName('sigterm');
    const worker = await startWorker(name);
    const { app, client } = await producer(name);
    try {
      const task = await client.add('work', ['graceful', 1500]);
      await worker.waitFor('started graceful');
      worker.kill('SIGTERM');
      const exit = await worker.exited;
      expect(exit).toEqual({ code: 0, signal: null });
      const record = await client.get(task.uuid);
      expect(record?.status).toBe('success');
      expect((record?.returning as { pid: number }).pid).toBe(worker.process.pid);
    } finally {
      await app.close();
    }
  }, 90_000);
});
