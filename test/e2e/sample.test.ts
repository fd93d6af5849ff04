import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { pbkdf2Sync } from 'node:crypto';
import { QTasksClient, WebView, type QueueOverview, type TaskRecord } from '../../lib/index.js';
import { AppModule } from '../../sample/app.module.js';
import { QTasksErrorFilter } from '../../sample/qtasks-error.filter.js';
import { eventually } from '../helpers/eventually.js';
import { uniqueAppName } from '../helpers/names.js';
import { sourceThreadWorker } from '../helpers/thread-worker.js';

describe('the sample app over HTTP', () => {
  let app: INestApplication;
  let base: string;
  const name = uniqueAppName('sample');

  beforeAll(async () => {
    // The dashboard as main.ts starts it, on a free port.
    const options = { name, url: inject('redisUrl'), webview: { port: 0 }, worker: sourceThreadWorker(1) };
    app = await NestFactory.create(AppModule.register(options), { logger: false });
    app.useGlobalFilters(new QTasksErrorFilter());
    await app.listen(0, '127.0.0.1');
    base = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  });
  afterAll(async () => app?.close());

  const post = (path: string, body?: unknown) =>
    fetch(`${base}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });

  it('enqueues on POST and shows the finished record on GET', async () => {
    const created = (await (await post('/users/5/record')).json()) as TaskRecord;
    expect(created.status).toBe('new');
    let shown: TaskRecord | undefined;
    await eventually('the task to show success', async () => {
      shown = (await (await fetch(`${base}/tasks/${created.uuid}`)).json()) as TaskRecord;
      return shown.status === 'success';
    }, 15_000, 50);
    expect(shown).toMatchObject({ status: 'success', returning: 'User 5 recorded' });
  });

  it('runs a task and answers with its result', async () => {
    await post('/users/8/record');
    const report = await post('/report');
    expect(report.status).toBe(201);
    expect(((await report.json()) as { users: number }).users).toBeGreaterThanOrEqual(1);
  });

  it('retries the import task under the same uuid, with progress, and GET /status shows GlobalConfig and the plugin', async () => {
    const created = (await (await post('/users/import', { ids: [1, 2, 3] })).json()) as TaskRecord;
    const app2 = app.get(QTasksClient);
    const done = await app2.wait(created.uuid, { timeout: 10_000 });
    expect(done).toMatchObject({ status: 'success', returning: 3, attempt: 2, progress: 100 });
    expect(done.errors?.[0]).toMatch(/the directory was busy/);
    const status = (await (await fetch(`${base}/status`)).json()) as {
      workers: { pid: number }[];
      tasks: { name: string; maxRunning?: number }[];
      schedules: { name: string; cron?: string }[];
      outcomes: Record<string, number>;
      components: Record<string, string | null>;
    };
    expect(status.workers.map((worker) => worker.pid)).toContain(process.pid);
    expect(status.tasks.map((task) => task.name).sort()).toEqual(['fail', 'hashPassword', 'import', 'invite', 'report', 'test']);
    expect(status.tasks).toContainEqual(expect.objectContaining({ name: 'import', maxRunning: 1 }));
    expect(status.schedules).toContainEqual(expect.objectContaining({ name: 'report', cron: '0 * * * * *' }));
    expect(status.outcomes['import:retry']).toBe(1);
    expect(status.outcomes['import:success']).toBe(1);
    expect(status.components).toEqual({ broker: 'RedisBroker', storage: 'RedisStorage', globalConfig: 'RedisGlobalConfig', worker: 'ThreadWorker' });
  });

  it('validates the invite DTO: a bad body is a 400 naming each broken rule; a good one runs with an InviteDto', async () => {
    const client = app.get(QTasksClient);
    const refused = await post('/users/invite', { email: 'not-an-address', userId: 0 });
    expect(refused.status).toBe(400);
    const problem = (await refused.json()) as { code: string; message: string };
    expect(problem.code).toBe('INVALID_ARGUMENTS');
    expect(problem.message).toMatch(/email/);
    expect(problem.message).toMatch(/userId/);
    const created = (await (await post('/users/invite', { email: 'ada@example.com', userId: 7 })).json()) as TaskRecord;
    const done = await client.wait(created.uuid, { timeout: 10_000 });
    expect(done).toMatchObject({ status: 'success', returning: 'invited ada@example.com for user 7 (validated)' });
  });

  it('hashes a password on the ThreadWorker’s thread and answers with the hash', async () => {
    const answer = await post('/users/9/password', { password: 'correct horse' });
    expect(answer.status).toBe(201);
    expect(await answer.json()).toEqual({ hash: pbkdf2Sync('correct horse', 'user-9', 100_000, 32, 'sha256').toString('hex') });
  });

  it('answers bad input with a 400 naming the problem, and unknown uuids with a 404', async () => {
    const unknown = await post('/tasks', { name: 'nope' });
    expect(unknown.status).toBe(400);
    expect(await unknown.json()).toMatchObject({ code: 'UNKNOWN_TASK' });
    const missing = await fetch(`${base}/tasks/00000000-0000-0000-0000-000000000000`);
    expect(missing.status).toBe(404);
    const noPassword = await fetch(`${base}/users/9/password`, { method: 'POST' }); // no body at all
    expect(noPassword.status).toBe(400);
    expect(await noPassword.json()).toMatchObject({ code: 'NOT_SERIALIZABLE', message: expect.stringContaining('$[0] is undefined') });
  });

  it('requeues a failed task over HTTP; a task that did not fail is a 409', async () => {
    const client = app.get(QTasksClient);
    const created = (await (await post('/tasks', { name: 'fail', args: ['why'] })).json()) as TaskRecord;
    expect((await client.wait(created.uuid, { timeout: 15_000 })).status).toBe('error');
    const requeued = await post(`/tasks/${created.uuid}/requeue`);
    expect(requeued.status).toBe(201);
    expect(await requeued.json()).toMatchObject({ uuid: created.uuid, status: 'new', attempt: 1 });
    const again = await client.wait(created.uuid, { timeout: 15_000 });
    expect(again.status).toBe('error');
    expect(again.errors).toHaveLength(2); // both runs' tracebacks
    const done = (await (await post('/users/5/record')).json()) as TaskRecord;
    await client.wait(done.uuid, { timeout: 15_000 });
    const refused = await post(`/tasks/${done.uuid}/requeue`);
    expect(refused.status).toBe(409);
    expect(await refused.json()).toMatchObject({ code: 'INVALID_TASK_STATE' });
  });

  it('pauses one task over HTTP while the others run, and resumes it; an unknown task is a 400', async () => {
    const client = app.get(QTasksClient);
    expect(await (await post('/queue/pause', { task: 'fail' })).json()).toEqual({ paused: true, task: 'fail' });
    const held = (await (await post('/tasks', { name: 'fail', args: ['later'] })).json()) as TaskRecord;
    const other = (await (await post('/users/6/record')).json()) as TaskRecord;
    expect((await client.wait(other.uuid, { timeout: 15_000 })).status).toBe('success');
    expect((await client.get(held.uuid))!.status).toBe('new');
    expect(await (await post('/queue/resume', { task: 'fail' })).json()).toEqual({ paused: false, task: 'fail' });
    expect((await client.wait(held.uuid, { timeout: 15_000 })).status).toBe('error');
    const unknown = await post('/queue/pause', { task: 'nope' });
    expect(unknown.status).toBe(400);
    expect(await unknown.json()).toMatchObject({ code: 'UNKNOWN_TASK' });
  });

  it('serves the dashboard of the app through the webview option', async () => {
    const overview = (await (await fetch(`${app.get(WebView).address}/api/overview`)).json()) as QueueOverview;
    expect(overview.app).toBe(name);
    expect(overview.catalog.map((task) => task.name).sort()).toEqual(['fail', 'hashPassword', 'import', 'invite', 'report', 'test']);
    expect(overview.catalog.find((task) => task.name === 'invite')!.rateLimit).toEqual({ max: 5, windowMs: 1_000 });
    expect(overview.workers.map((worker) => worker.pid)).toContain(process.pid);
  });
});
