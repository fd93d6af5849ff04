import { createHook } from 'node:async_hooks';
import { Injectable, Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { describe, expect, inject, it } from 'vitest';
import { QTasksClient, QTasksModule, Task, type QTasksModuleOptions } from '../../lib/index.js';
import { raceTimeout } from '../../lib/core/timing.js';
import { QTasksTesting, QTasksTestingModule } from '../../lib/testing/index.js';
import { startChildApp } from '../helpers/child-app.js';
import { uniqueAppName } from '../helpers/names.js';

/** Resource types that can keep a process alive or fire after close (unref'd timers included). */
const WATCHED = new Set(['Timeout', 'TCPWRAP', 'TCPCONNECTWRAP', 'PIPEWRAP', 'PROCESSWRAP', 'TLSWRAP']);

/**
 * Runs `scenario` and returns the watched resources it created that are still alive after it
 * (and after the event loop had a few turns to run close callbacks).
 */
async function leftOpen(scenario: () => Promise<void>): Promise<string[]> {
  const alive = new Map<number, string>();
  const hook = createHook({
    init: (id, type) => void (WATCHED.has(type) && alive.set(id, type)),
    destroy: (id) => void alive.delete(id),
  });
  hook.enable();
  try {
    await scenario();
    for (let turn = 0; turn < 5; turn++) await new Promise((resolve) => setImmediate(resolve));
  } finally {
    hook.disable();
  }
  return [...alive.values()];
}

@Injectable()
class Jobs {
  @Task()
  square(n: number) {
    return n * n;
  }
}

const quiet = { log: () => undefined, warn: () => undefined, error: () => undefined };

/** Boots an app, runs tasks, leaves a wait pending (on a delayed task) and the worker idle, closes. */
async function bootRunClose(root: ReturnType<typeof QTasksModule.forRoot>, useTesting: boolean): Promise<void> {
  @Module({ imports: [root], providers: [Jobs] })
  class AppUnderTest {}
  const app = await Test.createTestingModule({ imports: [AppUnderTest] }).compile();
  await app.init();
  const client = app.get(QTasksClient);
  expect((await client.run('square', [7], { timeout: 10_000 })).returning).toBe(49);
  const delayed = await client.add('square', [3], { delay: 60_000 });
  const pendingWait = client.wait(delayed.uuid, { timeout: 60_000 }).catch((error: unknown) => error);
  if (useTesting) await app.get(QTasksTesting).drain();
  await app.close();
  expect(await pendingWait).toMatchObject({ code: 'STOPPED' });
}

describe('closing the app leaves no open handles (in process)', () => {
  it('the detector sees a leaked timer, even an unref()ed one', async () => {
    let leaked: NodeJS.Timeout | undefined;
    const left = await leftOpen(async () => {
      leaked = setTimeout(() => undefined, 60_000).unref();
    });
    clearTimeout(leaked);
    expect(left).toEqual(['Timeout']);
  });

  it('memory backend through QTasksTestingModule', async () => {
    const left = await leftOpen(() => bootRunClose(QTasksTestingModule.forRoot({ logger: quiet }) as never, true));
    expect(left).toEqual([]);
  });

  it('Redis backend through QTasksModule', async () => {
    const options: QTasksModuleOptions = { url: inject('redisUrl'), name: uniqueAppName('handles'), logger: quiet };
    const left = await leftOpen(() => bootRunClose(QTasksModule.forRoot(options), false));
    expect(left).toEqual([]);
  });
});

describe('a process that closes its app exits by itself', () => {
  it('memory backend through QTasksTestingModule', async () => {
    const child = startChildApp('testing-app.ts', {});
    try {
      await child.waitFor('closed: 5, pending wait stopped');
      const outcome = await raceTimeout(child.exited, 15_000, () => 'still running');
      expect(outcome).toEqual({ code: 0, signal: null });
    } finally {
      child.kill('SIGKILL');
    }
  }, 90_000);
});
