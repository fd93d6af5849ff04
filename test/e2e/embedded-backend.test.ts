import { connect } from 'node:net';
import type { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { afterEach, describe, expect, it } from 'vitest';
import { AsyncWorker, QTasksClient, QueueTasks } from '../../lib/index.js';
import { AppModule } from '../../sample/app.module.js';
import { chooseBackend, EmbeddedBackendHost, type EmbeddedBackend } from '../../sample/embedded-backend.js';
import { uniqueAppName } from '../helpers/names.js';

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

function captureLog() {
  const lines: string[] = [];
  return { lines, logger: { log: (line: string) => void lines.push(line) } };
}

async function bootSample(backend: EmbeddedBackend): Promise<INestApplicationContext> {
  const root = AppModule.register(
    // A plain worker: this file starts the sample twice, and threads running the tests' TypeScript
    // loader cannot be started again in one process on Node 20 (see helpers/thread-worker.ts).
    { name: uniqueAppName('embedded'), ...backend.options, worker: new AsyncWorker() },
    false,
  );
  return NestFactory.createApplicationContext(EmbeddedBackendHost.wrap(root, backend), { logger: false });
}

describe('the sample chooses an embedded backend when no Redis URL is configured', () => {
  let app: INestApplicationContext | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  it('uses QTASKS_URL when it is set', async () => {
    const { lines, logger } = captureLog();
    const backend = await chooseBackend({ env: { QTASKS_URL: 'redis://127.0.0.1:6390' }, logger });
    expect(backend).toMatchObject({ kind: 'configured', options: { url: 'redis://127.0.0.1:6390' } });
    expect(lines).toEqual(['tasks in Redis at redis://127.0.0.1:6390 (QTASKS_URL)']);
  });

  it('starts a private redis-server when the binary is on PATH, and stops it after the tasks module closed', async () => {
    const { lines, logger } = captureLog();
    const backend = await chooseBackend({ env: {}, logger });
    expect(backend.kind).toBe('private-redis');
    const port = Number(new URL(backend.options.url!).port);
    expect(lines[0]).toMatch(/^QTASKS_URL is not set: started a private redis-server at redis:\/\/127\.0\.0\.1:\d+/);
    app = await bootSample(backend);
    expect(await app.get(QTasksClient).run('test', [3], { timeout: 10_000 })).toMatchObject({ returning: 'User 3 recorded' });
    let aliveWhileTasksStopped: boolean | undefined;
    app.get(QueueTasks).starter.addHook({
      start: async () => undefined,
      stop: async () => void (aliveWhileTasksStopped = await canConnect(port)),
    });
    await app.close();
    app = undefined;
    expect(aliveWhileTasksStopped).toBe(true);
    expect(await canConnect(port)).toBe(false);
  });

  it('falls back to the memory backend when redis-server is not on PATH', async () => {
    const { lines, logger } = captureLog();
    const backend = await chooseBackend({ env: {}, redisBinary: 'no-such-redis-server', logger });
    expect(backend).toMatchObject({ kind: 'memory', options: { backend: 'memory' } });
    expect(lines).toEqual(["QTASKS_URL is not set and no-such-redis-server is not on PATH: tasks are kept in this process's memory"]);
    app = await bootSample(backend);
    expect(await app.get(QTasksClient).run('test', [4], { timeout: 10_000 })).toMatchObject({ returning: 'User 4 recorded' });
  });
});
