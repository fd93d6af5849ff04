import { randomUUID } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { TaskAbort } from '../../lib/core/task-abort.js';
import { ThreadPool } from '../../lib/workers/thread-pool.js';

const ENTRY = new URL('../fixtures/thread-pool-entry.mjs', import.meta.url);
const TARGET = { url: 'file:///unused.js', exportName: 'default' };
// Read by the entry in each thread as it starts (a thread gets this process's environment).
const gate = join(tmpdir(), `qtasks-thread-gate-${randomUUID()}`);
process.env.QTASKS_TEST_THREAD_GATE = gate;

const pools: ThreadPool[] = [];
afterAll(async () => {
  await Promise.all(pools.map((pool) => pool.close()));
  delete process.env.QTASKS_TEST_THREAD_GATE;
  rmSync(gate, { force: true });
});

const call = (pool: ThreadPool, arg: string) => pool.run('task', TARGET, [arg], new TaskAbort());

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

it('a pool started again tries a failed replacement after the first pause, not after the last run\'s longest', async () => {
  const pauses: number[] = [];
  const pool = new ThreadPool(ENTRY, { size: 1, execArgv: [], onReplaceFailed: (_error, retryInMs) => pauses.push(retryInMs) });
  pools.push(pool);
  await pool.start();
  writeFileSync(gate, '');
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
