import { afterAll, describe, expect, inject, it } from 'vitest';
import { TaskCancelledError, TaskTimeoutError, type QueueTasks, type TaskContext } from '../../lib/index.js';
import { Gate } from '../helpers/gate.js';
import { uniqueAppName } from '../helpers/names.js';
import { plainApps } from '../helpers/plain-app.js';

const apps = plainApps(inject('redisUrl'));
afterAll(() => apps.stopAll());

/** Resolves with the reason once the signal aborts. */
function abortReason(signal: AbortSignal): Promise<unknown> {
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(signal.reason), { once: true }));
}

describe('time limit (maxTime)', () => {
  it('aborts the signal, ends the task error "timed out", and frees the slot even if the task ignores the signal', async () => {
    const release = new Gate();
    let aborted: Promise<unknown> | undefined;
    const app = await apps.start(
      'maxtime',
      (a: QueueTasks) => {
        a.task({ name: 'stubborn', maxTime: 150, echo: true }, async (ctx: TaskContext) => {
          aborted = abortReason(ctx.signal);
          await release.pass(); // ignores the signal on purpose
          return 'too late';
        });
        a.task('quick', () => 'ran in the freed slot');
      },
      { config: { maxTasksProcess: 1 } },
    );
    const stubborn = await app.run('stubborn', [], { timeout: 15_000 });
    expect(stubborn.status).toBe('error');
    expect(stubborn.traceback).toMatch(/^TaskTimeoutError: Task "stubborn" timed out after 150 ms/);
    expect(await aborted).toBeInstanceOf(TaskTimeoutError);
    // With one slot, this runs only because the timed-out task gave its slot back.
    const quick = await app.run('quick', [], { timeout: 15_000 });
    expect(quick.returning).toBe('ran in the freed slot');
    release.open();
    expect((await app.get(stubborn.uuid))!.status).toBe('error');
  });

  it('a task that finishes in time is not affected', async () => {
    const app = await apps.start('maxtime', (a: QueueTasks) => a.task({ name: 'fast', maxTime: 5000 }, async () => 'done'));
    expect((await app.run('fast', [], { timeout: 15_000 })).returning).toBe('done');
  });
});

describe('cancel of a running task', () => {
  it('client.cancel aborts the signal on the worker holding the task (another app instance); it ends cancel with the reason', async () => {
    const running = new Gate();
    let signalled: Promise<unknown> | undefined;
    const name = uniqueAppName('cancel');
    const worker = await apps.start('cancel', (a: QueueTasks) =>
      a.task({ name: 'long', echo: true }, async (ctx: TaskContext) => {
        signalled = abortReason(ctx.signal);
        void running.pass();
        await signalled;
        return 'ignored';
      }),
    { name },
    );
    const client = await apps.start('cancel', (a: QueueTasks) => a.task({ name: 'long' }, () => undefined), { name, worker: false });
    const added = await client.add('long');
    await running.reached;
    expect((await client.get(added.uuid))!.status).toBe('process');
    await client.cancel(added.uuid, 'user pressed stop');
    const record = await client.wait(added.uuid, { timeout: 15_000 });
    expect(record.status).toBe('cancel');
    expect(record.cancelReason).toBe('user pressed stop');
    const reason = await signalled;
    expect(reason).toBeInstanceOf(TaskCancelledError);
    expect((reason as TaskCancelledError).reason).toBe('user pressed stop');
    expect(worker.worker!.running).toBe(0);
  });

  it('ctx.cancel(reason) ends the task cancel at once', async () => {
    const app = await apps.start('cancel', (a: QueueTasks) =>
      a.task({ name: 'self-cancel', echo: true }, (ctx: TaskContext) => {
        ctx.cancel('nothing to do');
      }),
    );
    const record = await app.run('self-cancel', [], { timeout: 15_000 });
    expect(record.status).toBe('cancel');
    expect(record.cancelReason).toBe('nothing to do');
  });
});
