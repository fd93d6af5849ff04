import { randomUUID } from 'node:crypto';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, expect, it } from 'vitest';
import { TaskAbort } from '../../lib/core/task-abort.js';
import { ThreadStartError } from '../../lib/core/errors.js';
import { ThreadPool } from '../../lib/workers/thread-pool.js';

const ENTRY = new URL('../fixtures/thread-pool-entry.mjs', import.meta.url);
const TARGET = { url: 'file:///unused.js', exportName: 'default' };
// Read by the entry in each thread as it starts (a thread gets this process's environment).
const gate = join(tmpdir(), `qtasks-thread-gate-${randomUUID()}`);
process.env.QTASKS_TEST_THREAD_GATE = gate;
const slowStart = join(tmpdir(), `qtasks-thread-slow-${randomUUID()}`);
process.env.QTASKS_TEST_THREAD_SLOW = slowStart;
const doomed = join(tmpdir(), `qtasks-thread-doomed-${randomUUID()}`);
process.env.QTASKS_TEST_THREAD_DOOMED = doomed;
const slowStartEntered = `${slowStart}.entered`;
const slowStartHeld = `${slowStart}.held`;

const pools: ThreadPool[] = [];
afterAll(async () => {
  await Promise.all(pools.map((pool) => pool.close()));
  delete process.env.QTASKS_TEST_THREAD_GATE;
  delete process.env.QTASKS_TEST_THREAD_SLOW;
  delete process.env.QTASKS_TEST_THREAD_DOOMED;
  rmSync(gate, { force: true });
  rmSync(doomed, { force: true });
  rmSync(slowStart, { force: true });
  rmSync(slowStartEntered, { force: true });
  rmSync(slowStartHeld, { force: true });
});

const call = (pool: ThreadPool, arg: string) => pool.run('task', TARGET, [arg], new TaskAbort());

/**
 * From now on a thread starts only after a native call, which terminating it cannot cut short,
 * lasting until the test removes `slowStartHeld`: the test, not the machine's load, decides when
 * a start a close gave up on ends.
 */
function slowStarts(): void {
  rmSync(slowStartEntered, { force: true });
  writeFileSync(slowStartHeld, '');
  writeFileSync(slowStart, '');
}


/** Resolves once a thread is in that slow call. */
const slowStartReached = () => expect.poll(() => existsSync(slowStartEntered), { timeout: 10_000 }).toBe(true);

/** A started pool of `size` threads that records each failed replacement's pause; from now on no thread can start. */
async function startPoolThenCloseGate(size: number) {
  const pauses: number[] = [];
  const pool = new ThreadPool(ENTRY, { size, execArgv: [], onReplaceFailed: (_error, retryInMs) => pauses.push(retryInMs) });
  pools.push(pool);
  await pool.start();
  writeFileSync(gate, '');
  return { pool, pauses };
}

it('a thread that cannot be replaced is tried again, said each time, until one starts: the pool runs calls again', async () => {
  const failures: string[] = [];
  const pool = new ThreadPool(ENTRY, { size: 1, execArgv: [], onReplaceFailed: (error, retryInMs) => failures.push(`${retryInMs}: ${error.message}`) });
  pools.push(pool);
  await pool.start();
  writeFileSync(gate, '');
  await expect(call(pool, 'exit')).rejects.toThrow('crashed (exit code 3)');
  await expect.poll(() => failures, { timeout: 10_000 }).toHaveLength(1);
  expect(failures[0]).toMatch(/^1000: A worker thread could not start .*the gate is closed/);
  // No thread at all meanwhile: a call fails at once rather than wait for one.
  await expect(call(pool, 'refused')).rejects.toThrow('the gate is closed');
  rmSync(gate);
  await expect.poll(() => call(pool, 'back').catch((error: Error) => error.message), { timeout: 10_000, interval: 250 }).toBe('"back"');
});

it('a thread that dies of what its start left behind, before any call, is replaced as one that cannot start: after a pause, then longer ones', async () => {
  const failures: string[] = [];
  const strayCrashes: string[] = [];
  const pool = new ThreadPool(ENTRY, {
    size: 1,
    execArgv: [],
    onStrayCrash: (how) => strayCrashes.push(how),
    onReplaceFailed: (error, retryInMs) => failures.push(`${retryInMs}: ${error.message}`),
  });
  pools.push(pool);
  writeFileSync(doomed, '');
  try {
    await pool.start();
    await expect.poll(() => failures.length, { timeout: 10_000 }).toBeGreaterThanOrEqual(2);
  } finally {
    rmSync(doomed);
  }
  expect(failures.slice(0, 2)).toEqual([
    expect.stringMatching(/^1000: A worker thread could not start \S+ \(it died before any call: uncaught Error: left behind by a module load\)/),
    expect.stringMatching(/^2000: /),
  ]);
  expect(strayCrashes).toEqual([]);
  await expect.poll(() => call(pool, 'back').catch((error: Error) => error.message), { timeout: 10_000, interval: 250 }).toBe('"back"');
});

it('a pool started again tries a failed replacement after the first pause, not after the last run\'s longest', async () => {
  const { pool, pauses } = await startPoolThenCloseGate(1);
  await expect(call(pool, 'exit')).rejects.toThrow('crashed (exit code 3)');
  await expect.poll(() => pauses, { timeout: 10_000 }).toEqual([1000, 2000]);
  await pool.close();
  rmSync(gate);
  await pool.start();
  writeFileSync(gate, '');
  await expect(call(pool, 'exit')).rejects.toThrow('crashed (exit code 3)');
  await expect.poll(() => pauses.length, { timeout: 10_000 }).toBe(3);
  expect(pauses[2]).toBe(1000);
  rmSync(gate);
});

it('a replacement thread a close gave up on while it started adds no thread to the pool started again', async () => {
  const failures: string[] = [];
  const pool = new ThreadPool(ENTRY, { size: 1, execArgv: [], onReplaceFailed: (error) => failures.push(error.message) });
  pools.push(pool);
  await pool.start();
  // The replacement of the thread that exits below starts slowly.
  slowStarts();
  await expect(call(pool, 'exit')).rejects.toThrow('crashed (exit code 3)');
  await slowStartReached();
  expect(await pool.close(100)).toBe(1);
  // The new run's thread starts at once; the old replacement leaves its slow call once it has.
  rmSync(slowStart);
  await pool.start();
  rmSync(slowStartHeld);
  // Cells: calls running, and the release of the held ones.
  const cells = new Int32Array(new SharedArrayBuffer(8));
  const held = [0, 1].map(() => pool.run('task', TARGET, ['hold', cells.buffer], new TaskAbort()));
  try {
    await expect.poll(() => Atomics.load(cells, 0), { timeout: 10_000 }).toBe(1);
    // Long enough for the old replacement to fail and one more to be tried after the first pause (1 s).
    for (const deadline = Date.now() + 3_000; Date.now() < deadline; await sleep(100)) expect(Atomics.load(cells, 0)).toBe(1);
  } finally {
    Atomics.store(cells, 1, 1);
    Atomics.notify(cells, 1);
  }
  expect(await Promise.all(held)).toEqual(['"hold"', '"hold"']);
  expect(failures).toEqual([]);
});

it('a start a close gave up on, failing late, leaves the pool started again running', async () => {
  const pool = new ThreadPool(ENTRY, { size: 1, execArgv: [] });
  pools.push(pool);
  slowStarts();
  // Caught at once: it may fail while the pool starts again, before it is awaited.
  const firstFailure = pool.start().then(
    () => expect.unreachable('the first start succeeded'),
    (error: unknown) => error,
  );
  await slowStartReached();
  expect(await pool.close(100)).toBe(1);
  rmSync(slowStart);
  await pool.start();
  rmSync(slowStartHeld);
  expect(await firstFailure).toBeInstanceOf(ThreadStartError);
  expect(await call(pool, 'still running')).toBe('"still running"');
});

it('threads that end together and cannot be replaced each try again after the first pause, not after one another\'s', async () => {
  const { pool, pauses } = await startPoolThenCloseGate(3);
  const exits = await Promise.allSettled([0, 1, 2].map(() => call(pool, 'exit')));
  expect(exits.map((exit) => exit.status)).toEqual(['rejected', 'rejected', 'rejected']);
  await expect.poll(() => pauses.length, { timeout: 10_000 }).toBeGreaterThanOrEqual(3);
  expect(pauses.slice(0, 3)).toEqual([1000, 1000, 1000]);
  rmSync(gate);
  await expect.poll(() => call(pool, 'back').catch((error: Error) => error.message), { timeout: 10_000, interval: 250 }).toBe('"back"');
});

it('at stop, a call sent to a thread still busy with what its last call left running is aborted at once, and the thread never begins it', async () => {
  const pool = new ThreadPool(ENTRY, { size: 1, execArgv: [] });
  pools.push(pool);
  await pool.start();
  // Cells: calls begun, the release, calls taken back.
  const lingering = new Int32Array(new SharedArrayBuffer(12));
  const next = new Int32Array(new SharedArrayBuffer(12));
  Atomics.store(next, 1, 1); // should it begin, it counts itself and returns at once
  const abort = new TaskAbort();
  const first = pool.run('task', TARGET, ['linger', lingering.buffer], new TaskAbort());
  const sent = pool.run('task', TARGET, ['hold', next.buffer], abort);
  const outcome = sent.catch((error: unknown) => error);
  try {
    // Its reply freed the thread for the pool, which sent it the next call; it is still busy.
    expect(await first).toBe('"linger"');
    const stopping = new Error('the worker stops');
    pool.stopStarting(stopping);
    expect(abort.signal.reason).toBe(stopping);
    Atomics.store(lingering, 1, 1);
    Atomics.notify(lingering, 1);
    expect(await outcome).toBe(stopping);
    // Once free, the thread finds the call taken back and does not run it.
    await expect.poll(() => Atomics.load(next, 2), { timeout: 10_000 }).toBe(1);
    expect(Atomics.load(next, 0)).toBe(0);
  } finally {
    Atomics.store(lingering, 1, 1);
    Atomics.notify(lingering, 1);
  }
});
