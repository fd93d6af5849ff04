import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { TaskRecord } from '../../lib/index.js';
import { AppModule } from '../../sample/app.module.js';
import { QTasksErrorFilter } from '../../sample/qtasks-error.filter.js';
import { uniqueAppName } from '../helpers/names.js';

describe('the sample app over HTTP', () => {
  let app: INestApplication;
  let base: string;

  beforeAll(async () => {
    app = await NestFactory.create(AppModule.register({ name: uniqueAppName('sample'), url: inject('redisUrl') }), {
      logger: false,
    });
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
    for (let i = 0; i < 50 && shown?.status !== 'success'; i++) {
      shown = (await (await fetch(`${base}/tasks/${created.uuid}`)).json()) as TaskRecord;
      if (shown.status !== 'success') await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(shown).toMatchObject({ status: 'success', returning: 'User 5 recorded' });
  });

  it('runs a task and answers with its result', async () => {
    await post('/users/8/record');
    const report = await post('/report');
    expect(report.status).toBe(201);
    expect(((await report.json()) as { users: number }).users).toBeGreaterThanOrEqual(1);
  });

  it('answers bad input with a 400 naming the problem, and unknown uuids with a 404', async () => {
    const unknown = await post('/tasks', { name: 'nope' });
    expect(unknown.status).toBe(400);
    expect(await unknown.json()).toMatchObject({ code: 'UNKNOWN_TASK' });
    const missing = await fetch(`${base}/tasks/00000000-0000-0000-0000-000000000000`);
    expect(missing.status).toBe(404);
  });
});
