// A stop while a thread task is blocked in a native call, which terminating its thread cannot
// interrupt. In a file of its own: the blocked thread outlives the test, and on Node 20 a thread
// ending while others start beside it under the tests' module hooks can crash the process.
import { randomUUID } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, expect, inject, it } from 'vitest';
import type { QueueTasks } from '../../lib/index.js';
import { uniqueAppName } from '../helpers/names.js';
import { plainApps } from '../helpers/plain-app.js';
import { sourceThreadWorker } from '../helpers/thread-worker.js';

const TASKS = new URL('../fixtures/thread-tasks.ts', import.meta.url);
/** How long the task's native call blocks its thread: longer than stop may take. */
const BLOCKED_S = 8;

const apps = plainApps(inject('redisUrl'));
const started = join(tmpdir(), `qtasks-thread-blocked-${randomUUID()}`);
afterAll(async () => {
  await apps.stopAll();
  rmSync(started, { force: true });
});

it('stop does not wait for a thread blocked in a native call past its termination: it warns and resolves', async () => {
  const name = uniqueAppName('thread-stop-native');
  const warnings: string[] = [];
  const logger = { log: () => undefined, warn: (line: string) => warnings.push(line), error: console.error };
  const register = (a: QueueTasks) => a.task({ name: 'blocked', thread: { module: TASKS, export: 'blockNatively' } });
  const app = await apps.start('thread-stop-native', register, { name, logger, worker: sourceThreadWorker(1), config: { shutdownGraceMs: 100 } });
  const reader = await apps.start('thread-stop-native', register, { name, worker: false });
  const task = await reader.add('blocked', [started, BLOCKED_S]);
  await expect.poll(() => existsSync(started), { timeout: 10_000 }).toBe(true);
  const callReturns = sleep(BLOCKED_S * 1_000).then(() => 'the blocked call returned first');
  expect(await Promise.race([app.stop().then(() => 'stopped'), callReturns])).toBe('stopped');
  expect(warnings.join('\n')).toMatch(/1 thread\(s\) still running after being terminated, blocked in a native call/);
  expect((await reader.get(task.uuid))!).toMatchObject({ status: 'new', attempt: 1 });
});
