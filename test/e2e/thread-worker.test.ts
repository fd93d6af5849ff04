import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { threadId as mainThreadId } from 'node:worker_threads';
import { Injectable } from '@nestjs/common';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  InvalidOptionError,
  NotSerializableError,
  QTasksClient,
  QueueTasks,
  Task,
  ThreadModuleError,
  ThreadStartError,
  ThreadWorker,
  type TaskInterceptor,
  type Worker,
} from '../../lib/index.js';
import { raceTimeout } from '../../lib/core/timing.js';
import { QTasksTesting } from '../../lib/testing/index.js';
import { RedisKeys } from '../../lib/redis/keys.js';
import { whereAmI } from '../fixtures/thread-tasks.js';
import { uniqueAppName } from '../helpers/names.js';
import { startNestApp } from '../helpers/nest-app.js';
import { plainApps } from '../helpers/plain-app.js';
import { sourceThreadWorker } from '../helpers/thread-worker.js';

const TASKS = new URL('../fixtures/thread-tasks.ts', import.meta.url);
const MISSING = new URL('../fixtures/no-such-module.mjs', import.meta.url);
/** Takes 500 ms to import. */
const SLOW_LOAD = new URL('../fixtures/slow-load-thread-tasks.ts', import.meta.url);
/** Never finishes its import. */
const NEVER_LOADED = new URL('../fixtures/never-loaded-thread-tasks.ts', import.meta.url);
const WAIT = { timeout: 10_000 };

const redisUrl = inject('redisUrl');
const apps = plainApps(redisUrl);
const scratch: string[] = [];
afterAll(async () => {
  await apps.stopAll();
  for (const path of scratch) rmSync(path, { force: true });
});

/** A path in the temp directory, removed after the run. */
function scratchPath(): string {
  const path = join(tmpdir(), `qtasks-thread-${randomUUID()}`);
  scratch.push(path);
  return path;
}

/**
 * Resolves once a thread has begun a `sayThenSpinUntil` call (it wrote `begun`): a call handed to a
 * thread that has not begun it yet goes back to the queue at stop instead of running in the grace.
 */
const threadBegun = (begun: string) => expect.poll(() => existsSync(begun), WAIT).toBe(true);

/** Resolves when the executor calls the handler of `taskName` (a thread task's: hands it to the pool). */
function handlerCalled(app: QueueTasks, taskName: string): Promise<void> {
  const called = new Promise<void>((resolve) =>
    app.addPlugin({
      name: `called-${taskName}`,
      handlers: { task_executor_run_task: ({ record }) => void (record.taskName === taskName && resolve()) },
    }),
  );
  return raceTimeout(called, WAIT.timeout, () => {
    throw new Error(`the handler of ${taskName} was not called within ${WAIT.timeout} ms`);
  });
}

const thread = (exported: string) => ({ module: TASKS, export: exported });

const WORKERS: { name: string; worker: () => Worker | undefined; onThread: boolean }[] = [
  { name: 'a ThreadWorker', worker: () => sourceThreadWorker(2), onThread: true },
  { name: 'a plain AsyncWorker (inline)', worker: () => undefined, onThread: false },
];

describe.each(WORKERS)('thread tasks on $name', ({ worker, onThread }) => {
  const start = (register: (app: QueueTasks) => void) => apps.start('thread', register, { worker: worker() });

  it('stores the export’s result, on a thread only with the ThreadWorker', async () => {
    const app = await start((a) => {
      a.task({ name: 'sum', thread: thread('sumSquares') });
      a.task({ name: 'double', thread: { module: TASKS } });
      a.task({ name: 'where', thread: thread('whereAmI') });
    });
    expect(await app.run('sum', [1000], WAIT)).toMatchObject({ status: 'success', returning: 333_833_500 });
    expect((await app.run('double', [21], WAIT)).returning).toBe(42);
    const { returning } = await app.run('where', ['here'], WAIT);
    expect(returning).toMatchObject({ label: 'here' });
    const ranOn = (returning as { threadId: number }).threadId;
    if (onThread) expect(ranOn).not.toBe(mainThreadId);
    else expect(ranOn).toBe(mainThreadId);
  });

  it('an export that throws ends the task error with its stack; retry runs it again', async () => {
    const app = await start((a) => {
      a.task({ name: 'fail', thread: thread('fail') });
      a.task({ name: 'flaky', thread: thread('flaky'), retry: 2 });
    });
    const failed = await app.run('fail', ['bad input 7'], WAIT);
    expect(failed.status).toBe('error');
    expect(failed.traceback).toMatch(/^TypeError: bad input 7\n\s+at fail \(.*thread-tasks\.ts/);
    const retried = await app.run('flaky', [scratchPath(), 1], WAIT);
    expect(retried).toMatchObject({ status: 'success', returning: 'succeeded on call 2', attempt: 2 });
    expect(retried.errors?.[0]).toMatch(/^Error: flaky call 1 failed/);
  });

  it('an export that throws a value neither JSON nor String() can show ends error showing its type', async () => {
    const app = await start((a) => a.task({ name: 'opaque', thread: thread('throwOpaque') }));
    const record = await app.run('opaque', [], WAIT);
    expect(record).toMatchObject({ status: 'error', traceback: 'Error: task threw a non-Error value: [object Object]' });
  });

  it('a NonRetryableError thrown by the export ends the task at once, whatever its retry', async () => {
    const app = await start((a) => a.task({ name: 'refuse', thread: thread('refuse'), retry: 3 }));
    const record = await app.run('refuse', ['not today'], WAIT);
    expect(record).toMatchObject({ status: 'error', attempt: 1 });
    expect(record.traceback).toMatch(/^NonRetryableError: not today\n/);
  });

  it('a module that cannot be loaded, a missing export or a non-function export ends error naming module and export', async () => {
    const app = await start((a) => {
      a.task({ name: 'no-module', thread: { module: MISSING } });
      a.task({ name: 'no-export', thread: thread('nope') });
      a.task({ name: 'not-function', thread: thread('notAFunction') });
    });
    const noModule = await app.run('no-module', [], WAIT);
    expect(noModule.status).toBe('error');
    expect(noModule.traceback).toMatch(
      /^ThreadModuleError: Cannot run export "default" of thread module file:\/\/\S+\/no-such-module\.mjs: the module cannot be loaded \(/,
    );
    const noExport = await app.run('no-export', [], WAIT);
    expect(noExport.traceback).toMatch(
      /^ThreadModuleError: Cannot run export "nope" of thread module file:\/\/\S+\/thread-tasks\.ts: the module has no such export \(it exports: .*sumSquares/,
    );
    const notFunction = await app.run('not-function', [], WAIT);
    expect(notFunction.traceback).toMatch(/^ThreadModuleError: Cannot run export "notAFunction" of .*: the export is not a function but number\./);
  });

  it('a module or export that cannot be loaded is not retried: the task ends error at once with ThreadModuleError, its retries unspent', async () => {
    const seen: unknown[] = [];
    const app = await start((a) => {
      a.task({ name: 'no-module', thread: { module: MISSING }, retry: 2 });
      a.task({ name: 'no-export', thread: thread('nope'), retry: 2, retryOn: [ThreadModuleError] });
      a.addPlugin({ name: 'errors', handlers: { worker_task_error_retry: ({ error }) => void seen.push(error) } });
    });
    for (const name of ['no-module', 'no-export']) {
      const record = await app.run(name, [], WAIT);
      expect(record).toMatchObject({ status: 'error', attempt: 1 });
      expect(record.errors ?? []).toEqual([]);
      expect(record.traceback).toMatch(/^ThreadModuleError: Cannot run export "\w+" of thread module file:\/\/\S+\/(no-such-module\.mjs|thread-tasks\.ts): /);
    }
    expect(seen).toHaveLength(2);
    for (const error of seen) expect(error).toMatchObject({ name: 'ThreadModuleError', code: 'THREAD_MODULE', moduleUrl: expect.stringMatching(/^file:/) });
    for (const error of seen) expect(error).toBeInstanceOf(ThreadModuleError);
  });
});

describe('ThreadWorker', () => {
  it('runs a CPU-bound export on a thread while the event loop goes on running other tasks', async () => {
    const app = await apps.start(
      'thread-busy',
      (a) => {
        a.task({ name: 'spin', thread: thread('spinUntil') });
        a.task('quick', async () => 'done on the event loop');
      },
      { worker: sourceThreadWorker(2) },
    );
    const release = scratchPath();
    const spin = await app.add('spin', [release]);
    // Enqueued after the spinning task, and finished while it still spins: the loop is not blocked.
    const quick = await app.run('quick', [], WAIT);
    expect(quick.returning).toBe('done on the event loop');
    expect((await app.get(spin.uuid))!.status).toBe('process');
    writeFileSync(release, '');
    const spun = await app.wait(spin.uuid, WAIT);
    expect(spun.status).toBe('success');
    expect(spun.returning).not.toBe(mainThreadId);
    expect(quick.finishedAt!.getTime()).toBeLessThanOrEqual(spun.finishedAt!.getTime());
  });

  it('tasks beyond the free threads wait for one: four tasks on one thread all run there', async () => {
    const app = await apps.start('thread-fifo', (a) => a.task({ name: 'where', thread: thread('whereAmI') }), {
      worker: sourceThreadWorker(1),
      config: { maxTasksProcess: 4 },
    });
    const added = await app.addBulk(['a', 'b', 'c', 'd'].map((label) => ({ name: 'where', args: [label] })));
    const done = await Promise.all(added.map((task) => app.wait(task.uuid, WAIT)));
    const { threadId } = done[0]!.returning as { threadId: number };
    expect(threadId).not.toBe(mainThreadId);
    expect(done.map((record) => record.returning)).toEqual(['a', 'b', 'c', 'd'].map((label) => ({ label, threadId })));
  });

  it('a thread that dies ends its task error naming the crash; a new thread runs the next task', async () => {
    const app = await apps.start(
      'thread-crash',
      (a) => {
        a.task({ name: 'exit', thread: thread('exitThread') });
        a.task({ name: 'crash', thread: thread('crashLater') });
        a.task({ name: 'where', thread: thread('whereAmI') });
      },
      { worker: sourceThreadWorker(1) },
    );
    const exited = await app.run('exit', [3], WAIT);
    expect(exited.status).toBe('error');
    expect(exited.traceback).toMatch(
      /^ThreadCrashedError: The thread running export "exitThread" of file:\/\/\S+\/thread-tasks\.ts crashed \(exit code 3\); it was replaced\./,
    );
    const crashed = await app.run('crash', ['late failure'], WAIT);
    expect(crashed.traceback).toMatch(/^ThreadCrashedError: The thread running export "crashLater" of .* crashed \(uncaught Error: late failure\)/);
    expect(await app.run('where', ['after'], WAIT)).toMatchObject({ status: 'success', returning: { label: 'after' } });
  });

  it('a thread over its resourceLimits heap ends its task error, out of memory; the task beside it and the next run on', async () => {
    const app = await apps.start(
      'thread-oom',
      (a) => {
        a.task({ name: 'hog', thread: thread('fillHeap') });
        a.task({ name: 'beside', thread: thread('spinUntil') });
        a.task({ name: 'where', thread: thread('whereAmI') });
      },
      { worker: sourceThreadWorker(2, { resourceLimits: { maxOldGenerationSizeMb: 32 } }) },
    );
    const release = scratchPath();
    const called = handlerCalled(app, 'beside');
    const beside = await app.add('beside', [release]);
    await called;
    // 512 MB of arrays: the thread dies at its 32 MB heap limit, the process lives on.
    const hog = await app.run('hog', [512], WAIT);
    expect(hog.status).toBe('error');
    expect(hog.traceback).toMatch(/^ThreadCrashedError: The thread running export "fillHeap" of .* crashed \(out of memory: its heap reached its limit\); it was replaced\./);
    writeFileSync(release, '');
    expect((await app.wait(beside.uuid, WAIT)).status).toBe('success');
    expect(await app.run('where', ['after'], WAIT)).toMatchObject({ status: 'success', returning: { label: 'after' } });
  });

  it('maxTime stops a never-yielding export: the task ends error (timed out) and its thread is replaced', async () => {
    const warnings: string[] = [];
    const app = await apps.start(
      'thread-maxtime',
      (a) => {
        a.task({ name: 'forever', thread: thread('spinUntil'), maxTime: 200 });
        a.task({ name: 'where', thread: thread('whereAmI') });
      },
      { worker: sourceThreadWorker(1), logger: { log: () => undefined, warn: (line) => warnings.push(line), error: console.error } },
    );
    // Never released: only terminating its thread stops it.
    const timedOut = await app.run('forever', [scratchPath()], WAIT);
    expect(timedOut.status).toBe('error');
    expect(timedOut.traceback).toMatch(/^TaskTimeoutError: Task "forever" timed out after 200 ms/);
    expect(await app.run('where', ['after'], WAIT)).toMatchObject({ status: 'success', returning: { label: 'after' } });
    // Threads terminated on purpose (the time limit, then the pool closing) are no crash.
    await app.stop();
    expect(warnings).toEqual([]);
  });

  it('maxTime counts from when a thread starts the task, not while it waits for a free thread', async () => {
    const app = await apps.start(
      'thread-maxtime-wait',
      (a) => {
        a.task({ name: 'hold', thread: thread('spinUntil') });
        a.task({ name: 'limited', thread: thread('whereAmI'), maxTime: 300 });
      },
      { worker: sourceThreadWorker(1), config: { maxTasksProcess: 2 } },
    );
    const release = scratchPath();
    const handedOver = handlerCalled(app, 'limited');
    const hold = await app.add('hold', [release]);
    const limited = await app.add('limited', ['waited']);
    await handedOver;
    // Waiting for the only thread, twice its limit.
    await sleep(600);
    writeFileSync(release, '');
    expect((await app.wait(hold.uuid, WAIT)).status).toBe('success');
    expect(await app.wait(limited.uuid, WAIT)).toMatchObject({ status: 'success', returning: { label: 'waited' } });
  });

  it('maxTime is one clock over the thread and the triggers after it: their time counts with the thread\'s', async () => {
    const app = await apps.start('thread-maxtime-after', (a) => a.task({ name: 'limited', thread: thread('spinUntil'), maxTime: 1_000 }), {
      worker: sourceThreadWorker(1),
    });
    // 600 ms in the thread, then 600 ms in a trigger after it: 1.2 s of a 1 s limit.
    const slowAfter = () => sleep(600).then(() => undefined);
    app.addPlugin({ name: 'SlowAudit', handlers: { task_executor_after_execute: slowAfter } }, { triggers: ['task_executor_after_execute'] });
    const release = scratchPath();
    const handedOver = handlerCalled(app, 'limited');
    const limited = await app.add('limited', [release]);
    await handedOver;
    await sleep(600);
    writeFileSync(release, '');
    const final = await app.wait(limited.uuid, WAIT);
    expect(final.status).toBe('error');
    expect(final.traceback).toMatch(/^TaskTimeoutError: Task "limited" timed out after 1000 ms/);
  });

  it('a module’s import does not count against maxTime: a task whose limit is shorter than its module’s load succeeds on its first run', async () => {
    const app = await apps.start('thread-preload', (a) => a.task({ name: 'quick', thread: { module: SLOW_LOAD, export: 'quick' }, maxTime: 200 }), {
      worker: sourceThreadWorker(1),
    });
    expect(await app.run('quick', ['first'], WAIT)).toMatchObject({ status: 'success', returning: { label: 'first' } });
  });

  it('a thread replacing one a time limit ended loads the module before it takes a call: the next task runs within its maxTime', async () => {
    const app = await apps.start(
      'thread-preload-replaced',
      (a) => {
        a.task({ name: 'spin', thread: { module: SLOW_LOAD, export: 'spinFor' }, maxTime: 200 });
        a.task({ name: 'quick', thread: { module: SLOW_LOAD, export: 'quick' }, maxTime: 200 });
      },
      { worker: sourceThreadWorker(1) },
    );
    const timedOut = await app.run('spin', [10_000], WAIT);
    expect(timedOut.traceback).toMatch(/^TaskTimeoutError: Task "spin" timed out after 200 ms/);
    expect(await app.run('quick', ['after'], WAIT)).toMatchObject({ status: 'success', returning: { label: 'after' } });
  });

  it('a module whose import never ends keeps no thread from starting: its task times out, the others run', async () => {
    const app = await apps.start(
      'thread-preload-stuck',
      (a) => {
        a.task({ name: 'stuck', thread: { module: NEVER_LOADED, export: 'unreachable' }, maxTime: 300 });
        a.task({ name: 'where', thread: thread('whereAmI'), maxTime: 300 });
      },
      { worker: sourceThreadWorker(1) },
    );
    expect(await app.run('where', ['loaded'], WAIT)).toMatchObject({ status: 'success', returning: { label: 'loaded' } });
    const stuck = await app.run('stuck', [], WAIT);
    expect(stuck.traceback).toMatch(/^TaskTimeoutError: Task "stuck" timed out after 300 ms/);
  });

  it('a thread killed by an error its last task left behind fails no other task: the next one runs on a new thread', async () => {
    const warnings: string[] = [];
    const app = await apps.start(
      'thread-stray',
      (a) => {
        a.task({ name: 'leak', thread: thread('leaveRejection') });
        a.task({ name: 'where', thread: thread('whereAmI') });
      },
      { worker: sourceThreadWorker(1), logger: { log: () => undefined, warn: (line) => warnings.push(line), error: console.error } },
    );
    const [leak, next] = await app.addBulk([
      { name: 'leak', args: ['left behind'] },
      { name: 'where', args: ['next'] },
    ]);
    expect(await app.wait(leak!.uuid, WAIT)).toMatchObject({ status: 'success', returning: 'returned' });
    expect(await app.wait(next!.uuid, WAIT)).toMatchObject({ status: 'success', returning: { label: 'next' } });
    expect(warnings.join('\n')).toMatch(/a thread died of an error an earlier task left behind \(uncaught Error: left behind\); it was replaced/);
    // Threads ended on purpose (the pool closing) are no crash.
    await app.stop();
    expect(warnings.filter((line) => line.includes('a thread died'))).toHaveLength(1);
  });

  it('cancel of a running thread task ends it cancel and frees its thread', async () => {
    const app = await apps.start(
      'thread-cancel',
      (a) => {
        a.task({ name: 'forever', thread: thread('spinUntil') });
        a.task({ name: 'where', thread: thread('whereAmI') });
      },
      { worker: sourceThreadWorker(1) },
    );
    const called = handlerCalled(app, 'forever');
    const task = await app.add('forever', [scratchPath()]);
    await called;
    await app.cancel(task.uuid, 'enough spinning');
    expect(await app.wait(task.uuid, WAIT)).toMatchObject({ status: 'cancel', cancelReason: 'enough spinning' });
    expect(await app.run('where', ['after'], WAIT)).toMatchObject({ status: 'success', returning: { label: 'after' } });
  });

  it('stop hands a thread task still running after the grace back to the queue, and ends its thread', async () => {
    const name = uniqueAppName('thread-stop');
    const register = (a: QueueTasks) => a.task({ name: 'forever', thread: thread('sayThenSpinUntil') });
    const app = await apps.start('thread-stop', register, { name, worker: sourceThreadWorker(1), config: { shutdownGraceMs: 100 } });
    const reader = await apps.start('thread-stop', register, { name, worker: false });
    const begun = scratchPath();
    const task = await reader.add('forever', [begun, scratchPath()]);
    await threadBegun(begun);
    await app.stop();
    expect(app.worker!.running).toBe(0);
    expect((await reader.get(task.uuid))!).toMatchObject({ status: 'new', attempt: 1, stalls: 0 });
  });

  it('a thread task still waiting for a thread when stop begins goes back to the queue at once, and does not start in the grace', async () => {
    const name = uniqueAppName('thread-stop-waiting');
    const register = (a: QueueTasks) => {
      a.task({ name: 'hold', thread: thread('sayThenSpinUntil') });
      a.task({ name: 'where', thread: thread('whereAmI') });
    };
    const app = await apps.start('thread-stop-waiting', register, {
      name,
      worker: sourceThreadWorker(1),
      config: { maxTasksProcess: 2, shutdownGraceMs: 10_000 },
    });
    const reader = await apps.start('thread-stop-waiting', register, { name, worker: false });
    const [begun, release] = [scratchPath(), scratchPath()];
    const hold = await reader.add('hold', [begun, release]);
    await threadBegun(begun);
    const waiting = handlerCalled(app, 'where');
    const queued = await reader.add('where', ['too late']);
    // Claimed, and waiting for the only thread.
    await waiting;
    const stopped = app.stop();
    // Back in the queue while the thread's task still runs, well inside the grace.
    await expect.poll(async () => (await reader.get(queued.uuid))!.status, WAIT).toBe('new');
    expect((await reader.get(hold.uuid))!.status).toBe('process');
    writeFileSync(release, '');
    await stopped;
    expect((await reader.get(hold.uuid))!.status).toBe('success');
    expect((await reader.get(queued.uuid))!).toMatchObject({ status: 'new', attempt: 1, stalls: 0 });
  });

  it('a thread task sent to a thread still busy with what its last task left running goes back to the queue at once at stop, and never starts', async () => {
    const name = uniqueAppName('thread-stop-sent');
    const register = (a: QueueTasks) => {
      a.task({ name: 'linger', thread: thread('returnThenSpinUntil') });
      a.task({ name: 'where', thread: thread('whereAmI') });
    };
    // One task at a time: no claim of this worker is under way as the stop begins.
    const app = await apps.start('thread-stop-sent', register, {
      name,
      worker: sourceThreadWorker(1),
      config: { maxTasksProcess: 1, shutdownGraceMs: 20_000 },
    });
    const reader = await apps.start('thread-stop-sent', register, { name, worker: false });
    const release = scratchPath();
    const linger = await reader.add('linger', [release]);
    // Done, and its thread free in the pool's eyes, but still busy with what the task left running.
    expect((await reader.wait(linger.uuid, WAIT)).status).toBe('success');
    const sent = handlerCalled(app, 'where');
    const queued = await reader.add('where', ['too late']);
    await sent;
    const stopped = app.stop();
    // Back in the queue while the thread is still busy, well inside the grace (which would hand it back too).
    await expect.poll(async () => (await reader.get(queued.uuid))!.status, { timeout: 5_000 }).toBe('new');
    writeFileSync(release, '');
    await stopped;
    expect((await reader.get(queued.uuid))!).toMatchObject({ status: 'new', attempt: 1, stalls: 0 });
  });

  it('warns that a thread task the stop kept from starting could not be given back, not that it had no slot', async () => {
    const name = uniqueAppName('thread-stop-give-back');
    const warnings: string[] = [];
    const logger = { log: () => undefined, warn: (line: string) => warnings.push(line), error: () => undefined };
    const register = (a: QueueTasks) => {
      a.task({ name: 'hold', thread: thread('sayThenSpinUntil') });
      a.task({ name: 'where', thread: thread('whereAmI') });
    };
    const app = await apps.start('thread-stop-give-back', register, {
      name,
      logger,
      worker: sourceThreadWorker(1),
      config: { maxTasksProcess: 2, shutdownGraceMs: 10_000 },
    });
    const reader = await apps.start('thread-stop-give-back', register, { name, worker: false });
    const [begun, release] = [scratchPath(), scratchPath()];
    await reader.add('hold', [begun, release]);
    await threadBegun(begun);
    const waiting = handlerCalled(app, 'where');
    await reader.add('where', ['too late']);
    await waiting;
    // Its waiting line's key of another type: giving the task back to the queue fails there.
    const redis = new Redis(redisUrl);
    try {
      await redis.set(new RedisKeys(name).waitingLine('where'), 'not a list');
    } finally {
      await redis.quit();
    }
    const stopped = app.stop();
    await expect.poll(() => warnings.join('\n'), WAIT).toContain('could not give back 1 task(s) the stop kept from starting on a thread; trying again: ');
    writeFileSync(release, '');
    await stopped;
    expect(warnings.join('\n')).not.toContain('no slot');
  });

  /** The same tasks on a ThreadWorker and on a plain AsyncWorker (inline), to compare what each stores. */
  async function threadedAndInline(label: string, register: (app: QueueTasks) => void): Promise<[QueueTasks, QueueTasks]> {
    return Promise.all([apps.start(`${label}-thread`, register, { worker: sourceThreadWorker(1) }), apps.start(`${label}-inline`, register)]);
  }

  describe('store a result as an inline run does: JSON is made in the thread, with the value’s class at hand', () => {
    const cases = [
      { name: 'price', args: [1234], stored: '$12.34', what: 'a #private field shown by toJSON()' },
      { name: 'link', args: ['https://example.com/x'], stored: 'https://example.com/x', what: 'a URL' },
      { name: 'bytes', args: ['hi'], stored: { type: 'Buffer', data: [104, 105] }, what: 'a Buffer' },
      { name: 'invoice', args: [], stored: { total: '12.34' }, what: 'a nested class whose toJSON() hides its fields' },
      { name: 'proxied', args: [], stored: { a: 1 }, what: 'a Proxy' },
      { name: 'nothing', args: [], stored: null, what: 'undefined' },
    ];
    let threaded: QueueTasks;
    let inline: QueueTasks;
    beforeAll(async () => {
      [threaded, inline] = await threadedAndInline('thread-json', (a) => {
        for (const { name } of cases) a.task({ name, thread: thread(name) });
      });
    });

    it.each(cases)('$what', async ({ name, args, stored }) => {
      const [onThread, onLoop] = await Promise.all([threaded.run(name, args, WAIT), inline.run(name, args, WAIT)]);
      expect(onLoop).toMatchObject({ status: 'success' });
      expect(onLoop.returning).toEqual(stored);
      expect(onThread).toMatchObject({ status: 'success' });
      expect(onThread.returning).toEqual(stored);
    });
  });

  it('an interceptor around a thread task gets its result as JSON gives it back; what it returns is stored as inline', async () => {
    const wrap: TaskInterceptor = { intercept: async (_context, next) => ({ wrapped: await next.handle() }) };
    const [threaded, inline] = await threadedAndInline('thread-json-intercepted', (a) =>
      a.task({ name: 'price', thread: thread('price'), interceptors: [wrap] }),
    );
    for (const app of [threaded, inline]) {
      expect(await app.run('price', [1234], WAIT)).toMatchObject({ status: 'success', returning: { wrapped: '$12.34' } });
    }
  });

  it('a result JSON cannot store ends the task with the NotSerializableError an inline run throws, naming where', async () => {
    const thrown = new Map<string, unknown>();
    const [threaded, inline] = await threadedAndInline('thread-json-refused', (a) => {
      a.task({ name: 'with-function', thread: thread('withFunction'), retry: 1, retryOn: [NotSerializableError] });
      a.addPlugin({ name: 'errors', handlers: { worker_task_error_retry: ({ error }) => void thrown.set(a.name, error) } });
    });
    const message = 'The result of task "with-function" cannot be stored as JSON: $.f is a function.';
    for (const app of [threaded, inline]) {
      const record = await app.run('with-function', [], WAIT);
      // retryOn tells the class: the thread's error kept it.
      expect(record).toMatchObject({ status: 'error', attempt: 2 });
      expect(record.traceback!.startsWith(`NotSerializableError: ${message}\n`)).toBe(true);
      const error = thrown.get(app.name);
      expect(error).toBeInstanceOf(NotSerializableError);
      expect(error).toMatchObject({ name: 'NotSerializableError', code: 'NOT_SERIALIZABLE', path: '$.f', message });
    }
  });

  it('an export that returns a generator ends the task error, naming the export, on a thread and inline alike (runInline too)', async () => {
    const [threaded, inline] = await threadedAndInline('thread-generator', (a) => a.task({ name: 'count', thread: thread('countTo') }));
    const records = [await threaded.run('count', [3], WAIT), await inline.run('count', [3], WAIT), await new QTasksTesting(inline).runInline('count', [3])];
    for (const record of records) {
      expect(record.status).toBe('error');
      expect(record.traceback).toMatch(/^TypeError: Export "countTo" of file:\/\/\S+\/thread-tasks\.ts returned a generator, which cannot leave its thread/);
    }
  });

  it('threads that cannot start fail the app’s start, naming why', async () => {
    const worker = new ThreadWorker({ threads: 2, execArgv: ['--import', fileURLToPath(MISSING)] });
    const started = apps.start('thread-broken', (a) => a.task({ name: 'where', thread: thread('whereAmI') }), { worker });
    await expect(started).rejects.toThrow(ThreadStartError);
    await expect(started).rejects.toThrow(
      /^A worker thread could not start file:\/\/\S+\/thread-entry\.ts \(uncaught Error: Cannot find module '\S+\/no-such-module\.mjs'/,
    );
  });

  it.each(['--expose-gc', '--stack-size=100', '--title=qtasks', '--prof', '--abort-on-uncaught-exception'])(
    'Node options refused in threads (%s) fail the app’s start with ThreadStartError, naming the option',
    async (option) => {
      const worker = new ThreadWorker({ threads: 2, execArgv: [option] });
      const started = apps.start('thread-refused', (a) => a.task({ name: 'where', thread: thread('whereAmI') }), { worker });
      const error = await started.then(
        () => expect.unreachable('the start succeeded'),
        (thrown: unknown) => thrown,
      );
      expect(error).toBeInstanceOf(ThreadStartError);
      expect(error).toMatchObject({
        code: 'THREAD_START',
        message: expect.stringMatching(/^A worker thread could not start file:\/\/\S+\/thread-entry\.ts \(Node refused to create it: .*invalid execArgv/),
        cause: expect.objectContaining({ code: 'ERR_WORKER_INVALID_EXEC_ARGV' }),
      });
      expect((error as Error).message).toContain(option);
    },
  );

  it('in Nest, @Task({ thread }) runs the module’s export on the ThreadWorker; the typed handle follows the method', async () => {
    @Injectable()
    class ReportsService {
      @Task({ name: 'nest-where', thread: thread('whereAmI') })
      whereAmI(label: string): { label: string; threadId: number } {
        return whereAmI(label); // a direct call runs here; the queue runs the export on a thread
      }
    }
    const app = await startNestApp({ name: uniqueAppName('thread-nest'), url: redisUrl, worker: sourceThreadWorker(1) }, [ReportsService]);
    try {
      const result = await app.get(QTasksClient).task(ReportsService, 'whereAmI').with(WAIT).run('nest');
      expect(result.label).toBe('nest');
      expect(result.threadId).not.toBe(mainThreadId);
    } finally {
      await app.close();
    }
  });
});

describe('thread task options', () => {
  const app = () => new QueueTasks({ backend: 'memory' });

  it('take a URL or an absolute path; a relative path, a handler as well, or a task context are refused', () => {
    const qtasks = app().task({ name: 'by-path', thread: { module: fileURLToPath(TASKS), export: 'sumSquares' } });
    expect(qtasks.registry.get('by-path')!.thread).toEqual({ url: TASKS.href, exportName: 'sumSquares' });
    expect(() => app().task({ name: 'relative', thread: { module: './thread-tasks.js' } })).toThrow(
      /thread.module of task at thread module .\/thread-tasks.js must be a URL .* or an absolute path, got ".\/thread-tasks.js"/,
    );
    expect(() => app().task({ name: 'both', thread: { module: TASKS } }, () => 1)).toThrow(
      /Task "both" has a handler and a thread module/,
    );
    expect(() => app().task({ name: 'echo', echo: true, thread: { module: TASKS } })).toThrow(InvalidOptionError);
    expect(() => new ThreadWorker({ threads: 0 })).toThrow(/threads of ThreadWorker must be a whole number of 1 or more, got 0/);
  });
});
