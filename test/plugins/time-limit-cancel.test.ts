import { afterAll, describe, expect, inject, it } from 'vitest';
import { TaskCancelledError, TaskTimeoutError, type QueueTasks, type TaskContext } from '../../lib/index.js';
import { plainApps } from '../helpers/plain-app.js';

const apps = plainApps(inject('redisUrl'));
afterAll(() => apps.stopAll());

/** A promise with its resolve handle, to let tests and tasks wait on each other. */
function gate<T = void>() {
  let open!: (value: T) => void;
  const opened = new Promise<T>((resolve) => (open = resolve));
  return { open, opened };
}

describe('time limit (maxTime)', () => {
  it('aborts the signal, ends the task error "timed out", and frees the slot even if the task ignores the signal', async () => {
    const release = gate();
    const aborted = gate<unknown>();
    const app = await apps.start(
      'maxtime',
      (a: QueueTasks) => {
        a.task({ name: 'stubborn', maxTime: 150, echo: true }, async (ctx: TaskContext) => {
          ctx.signal.addEventListener('abort', () => aborted.open(ctx.signal.reason));
          await release.opened; // ignores the signal on purpose
          return 'too late';
        });
        a.task('quick', () => 'ran in the freed slot');
      },
      { config: { maxTasksProcess: 1 } },
    );
    const stubborn = await app.run('stubborn', [], { timeout: 5000 });
    expect(stubborn.status).toBe('error');
    expect(stubborn.traceback).toMatch(/^TaskTimeoutError: Task "stubborn" timed out after 150 ms/);
    expect(await aborted.opened).toBeInstanceOf(TaskTimeoutError);
    // With one slot, this runs only because the timed-out task gave its slot back.
    const quick = await app.run('quick', [], { timeout: 5000 });
    expect(quick.returning).toBe('ran in the freed slot');
    release.open();
    expect((await app.get(stubborn.uuid))!.status).toBe('error');
  });

  it('a task that finishes in time is not affected', async () => {
    const app = await apps.start('maxtime', (a: QueueTasks) => a.task({ name: 'fast', maxTime: 5000 }, async () => 'done'));
    expect((await app.run('fast', [], { timeout: 5000 })).returning).toBe('done');
  });
});

describe('cancel of a running task', () => {
  it('client.cancel aborts the signal on the worker holding the task (another app instance); it ends cancel with the reason', async () => {
    const started = gate();
    const signalled = gate<unknown>();
    const name = `cancel-${Date.now()}`;
    const worker = await apps.start('cancel', (a: QueueTasks) =>
      a.task({ name: 'long', echo: true }, async (ctx: TaskContext) => {
        started.open();
        await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve()));
        signalled.open(ctx.signal.reason);
        return 'ignored';
      }),
    { name },
    );
    const client = await apps.start('cancel', (a: QueueTasks) => a.task({ name: 'long' }, () => undefined), { name, worker: false });
    const added = await client.add('long');
    await started.opened;
    expect((await client.get(added.uuid))!.status).toBe('process');
    await client.cancel(added.uuid, 'user pressed stop');
    const record = await client.wait(added.uuid, { timeout: 5000 });
    expect(record.status).toBe('cancel');
    expect(record.cancelReason).toBe('user pressed stop');
    const reason = await signalled.opened;
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
    const record = await app.run('self-cancel', [], { timeout: 5000 });
    expect(record.status).toBe('cancel');
    expect(record.cancelReason).toBe('nothing to do');
  });
});
