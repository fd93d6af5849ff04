import { Injectable } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { QTasksClient, Task, TaskStateError, type QueueTasks, type TaskContext } from '../../lib/index.js';
import { BACKENDS } from '../helpers/backends.js';
import { Gate } from '../helpers/gate.js';
import { uniqueAppName } from '../helpers/names.js';
import { startNestApp } from '../helpers/nest-app.js';
import { plainApps } from '../helpers/plain-app.js';

/** Fails its first `failures` runs (across requeues), then succeeds. */
let failures = 0;
let runs = 0;

@Injectable()
class MailService {
  @Task({ retry: 1 })
  send(to: string) {
    runs++;
    if (failures-- > 0) throw new Error(`smtp refused ${to}`);
    return `sent to ${to}`;
  }
}

describe.each(BACKENDS)('requeue of a failed task on $name', (backend) => {
  let app: Awaited<ReturnType<typeof startNestApp>>;
  let client: QTasksClient;

  beforeAll(async () => {
    app = await startNestApp({ name: uniqueAppName('requeue'), ...backend.connection() }, [MailService]);
    client = app.get(QTasksClient);
  });
  afterAll(async () => app?.close());

  it('runs it again with its full retries, keeping the tracebacks of every failed attempt', async () => {
    [failures, runs] = [3, 0];
    const failed = await client.run('send', ['ann@example.com'], { timeout: 10_000 });
    expect(failed).toMatchObject({ status: 'error', attempt: 2 });
    expect(runs).toBe(2);

    // One more failure left: the requeued run fails once, is retried (attempt 2), and succeeds.
    expect(await client.requeue(failed.uuid)).toMatchObject({ uuid: failed.uuid, status: 'new', attempt: 1 });
    const done = await client.wait(failed.uuid, { timeout: 10_000 });
    expect(done).toMatchObject({ status: 'success', returning: 'sent to ann@example.com', attempt: 2 });
    expect(runs).toBe(4);
    expect(done.errors).toHaveLength(3);
    for (const traceback of done.errors!) expect(traceback).toMatch(/^Error: smtp refused ann@example.com/);
  });

  it('refuses a task that did not end error or cancel, naming its status', async () => {
    [failures, runs] = [0, 0];
    const done = await client.run('send', ['bob@example.com'], { timeout: 10_000 });
    const refused = await client.requeue(done.uuid).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(TaskStateError);
    expect(refused).toMatchObject({ code: 'INVALID_TASK_STATE', uuid: done.uuid, status: 'success' });
    expect(runs).toBe(1);
  });
});

describe('requeue of a task cancelled while it ran, with two workers on one queue', () => {
  const apps = plainApps(inject('redisUrl'));
  afterAll(() => apps.stopAll());

  it('runs it to its end on the other worker: that worker’s note of the old cancel does not abort the new run', async () => {
    const started = new Gate();
    let runs = 0;
    const register = (app: QueueTasks) =>
      app.task({ name: 'sync', echo: true }, async (ctx: TaskContext) => {
        runs++;
        if (runs > 1) {
          // Long enough for a wrongly kept cancel to reach this run.
          await new Promise((resolve) => setTimeout(resolve, 300));
          ctx.signal.throwIfAborted();
          return 'synced';
        }
        void started.pass();
        // The first run ends only when cancelled.
        await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve));
        throw ctx.signal.reason;
      });
    const first = await apps.start('requeue-cancelled', register);
    const { uuid } = await first.add('sync');
    await started.reached;
    // Started now, so it hears the cancel of a task it does not hold, and keeps a note of it.
    const second = await apps.start('requeue-cancelled', register, { name: first.name });
    await second.cancel(uuid, 'operator');
    expect(await second.wait(uuid, { timeout: 15_000 })).toMatchObject({ status: 'cancel', cancelReason: 'operator' });
    await first.stop();

    await second.requeue(uuid);
    expect(await second.wait(uuid, { timeout: 15_000 })).toMatchObject({ status: 'success', returning: 'synced' });
    expect(runs).toBe(2);
  });
});
