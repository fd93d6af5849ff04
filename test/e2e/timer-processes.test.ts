import { Redis } from 'ioredis';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, describe, expect, inject, it } from 'vitest';
import { startChildApp, stopChild, type ChildApp } from '../helpers/child-app.js';
import { uniqueAppName } from '../helpers/names.js';
import { taskUuids, tickKeys } from '../helpers/ticks.js';

/** Polls `check` until it holds; fails after `timeoutMs`. */
async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not reached within ${timeoutMs} ms`);
    await sleep(200);
  }
}

// Child processes compile the sources at start: slow when the machine is busy, hence the timeouts.
describe('timer across processes', () => {
  const url = inject('redisUrl');
  const redis = new Redis(url);
  const children: ChildApp[] = [];

  const startApp = (name: string, timers: boolean) => {
    const env: Record<string, string> = { QTASKS_URL: url, QTASKS_NAME: name };
    if (timers) env.QTASKS_RUN_FOREVER_TIMERS = 'true';
    const child = startChildApp('timer-app.ts', env);
    children.push(child);
    return child;
  };
  const lastRun = async (name: string) => Number(await redis.hget(`qtasks:{${name}}:tr:beat`, 'l'));

  afterEach(async () => {
    await Promise.all(children.splice(0).map(stopChild));
  });
  afterAll(async () => redis.quit());

  it('three instances running a 1-second schedule for 10 s enqueue 10 ± 1 tasks, never two for one tick', async () => {
    const name = uniqueAppName('timer-x3');
    const apps = [startApp(name, true), startApp(name, true), startApp(name, true)];
    await Promise.all(apps.map((app) => app.waitFor('ready', 60_000)));
    const windowStart = Math.ceil(Date.now() / 1000) * 1000 + 1000;
    const windowEnd = windowStart + 10_000;
    await waitUntil('a tick after the window', async () => (await lastRun(name)) > windowEnd, 30_000);
    for (const app of apps) app.kill('SIGTERM');
    const exits = await Promise.all(apps.map((app) => app.exited));
    expect(exits).toEqual([0, 1, 2].map(() => ({ code: 0, signal: null })));

    const keys = await tickKeys(redis, name, 'beat');
    const attempts = await redis.hgetall(`${name}:attempts`);
    const added = await redis.hgetall(`${name}:added`);
    const windowTicks = [...keys.keys()].filter((tick) => tick >= windowStart && tick < windowEnd).sort();
    expect(windowTicks.length).toBeGreaterThanOrEqual(9);
    expect(windowTicks.length).toBeLessThanOrEqual(11);
    expect(windowTicks.every((tick) => tick % 1000 === 0)).toBe(true);
    // Every tick any instance handled has exactly one task, whoever enqueued it...
    expect(Object.keys(added).sort()).toEqual(Object.keys(attempts).sort());
    expect(Object.values(added).every((count) => count === '1')).toBe(true);
    // ...the instances really raced for the ticks of the window...
    const windowAttempts = windowTicks.reduce((sum, tick) => sum + Number(attempts[String(tick)] ?? 0), 0);
    expect(windowAttempts).toBeGreaterThanOrEqual(2 * windowTicks.length);
    expect(Object.values(attempts).every((count) => Number(count) <= 3)).toBe(true);
    // ...and every task in Redis is the one task of one tick.
    expect((await taskUuids(redis, name)).sort()).toEqual([...keys.values()].sort());
  }, 120_000);

  it('a worker-only process (runForever) fires no schedule unless asked', async () => {
    const name = uniqueAppName('timer-worker-only');
    const workerOnly = startApp(name, false);
    await workerOnly.waitFor('ready', 60_000);
    expect(workerOnly.output()).toContain('timer off in this process (1 schedule(s) known)');
    await sleep(2500);
    expect((await tickKeys(redis, name, 'beat')).size).toBe(0);

    const asked = startApp(name, true);
    await asked.waitFor('ready', 60_000);
    await waitUntil('two ticks enqueued', async () => (await tickKeys(redis, name, 'beat')).size >= 2, 10_000);
  }, 120_000);
});
