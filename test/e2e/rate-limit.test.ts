import { Injectable } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { QTasksClient, QueueInspector, Task } from '../../lib/index.js';
import { uniqueAppName } from '../helpers/names.js';
import { startNestApp } from '../helpers/nest-app.js';
import { appsOnTestRedis } from '../helpers/plain-app.js';
import { qtasks } from '../helpers/qtasks-cli.js';
import { startsPerWindow } from '../helpers/rate-windows.js';

const WINDOW_MS = 1_000;

@Injectable()
class MailService {
  // Far shorter than the window: the limit, not the two slots, sets the pace.
  @Task({ rateLimit: { max: 3, windowMs: WINDOW_MS } })
  async send(to: string) {
    await sleep(100);
    return `sent to ${to}`;
  }
}

describe('a rate-limited task on two worker apps sharing one queue', () => {
  const name = uniqueAppName('rate-limit');
  let apps: Awaited<ReturnType<typeof startNestApp>>[] = [];

  beforeAll(async () => {
    const options = { name, url: inject('redisUrl'), config: { maxTasksProcess: 1 } };
    apps = [await startNestApp(options, [MailService]), await startNestApp(options, [MailService])];
  });
  afterAll(async () => Promise.all(apps.map((app) => app.close())));

  it('starts at most max per window across both workers, in order, and runs every one', async () => {
    const client = apps[0]!.get(QTasksClient);
    const recipients = Array.from({ length: 7 }, (_, i) => `user${i}@example.com`);
    const handles = [];
    for (const to of recipients) handles.push(await client.add('send', [to]));
    const records = await Promise.all(handles.map((handle) => client.wait(handle.uuid, { timeout: 15_000 })));

    expect(records.map((record) => record.returning)).toEqual(recipients.map((to) => `sent to ${to}`));
    const starts = records.map((record) => record.startedAt!.getTime());
    // Each window as full as the limit allows, and no fuller.
    expect(startsPerWindow(starts, WINDOW_MS)).toEqual([3, 3, 1]);
    // Queued order is start order: waiting for a window did not shuffle them.
    expect([...starts].sort((a, b) => a - b)).toEqual(starts);
    expect(new Set(records.map((record) => record.worker)).size).toBe(2);
  });
});

describe('tasks waiting for their rate limit, as the inspector and the CLI show them', () => {
  const { url, apps } = appsOnTestRedis();

  it('counts them as queued, lists them after the queue, says until when they wait, and drops a cancelled one', async () => {
    const windowMs = 600_000;
    const app = await apps.start('rate-limit-inspect', (queue) => queue.task({ name: 'mail', rateLimit: { max: 1, windowMs } }, (to: string) => to));
    const [first, second, third] = [await app.add('mail', ['a']), await app.add('mail', ['b']), await app.add('mail', ['c'])];
    expect(await app.wait(first.uuid, { timeout: 10_000 })).toMatchObject({ status: 'success' });
    const inspector = new QueueInspector({ name: app.name, url });
    await inspector.start();
    try {
      // The claim that started the first put the other two in the waiting line until the window reopens.
      await expect.poll(async () => (await inspector.overview()).waitingLines, { timeout: 10_000 }).toMatchObject([{ task: 'mail', waiting: 2 }]);
      const overview = await inspector.overview();
      expect(overview.counts.queued).toBe(2);
      const reopensAt = overview.waitingLines[0]!.reopensAt!.getTime();
      expect(reopensAt).toBeGreaterThan(Date.now() + windowMs - 60_000);
      expect(reopensAt).toBeLessThanOrEqual(Date.now() + windowMs);
      expect((await inspector.tasks('queued')).tasks.map(({ uuid }) => uuid)).toEqual([second.uuid, third.uuid]);

      const status = await qtasks('status', '--app', app.name);
      expect(status.out).toContain(`waiting: 2 of mail for its rate limit, until ${new Date(reopensAt).toISOString()}`);

      await app.cancel(second.uuid, 'not needed');
      expect((await inspector.overview()).waitingLines).toMatchObject([{ task: 'mail', waiting: 1 }]);
      expect((await inspector.tasks('queued')).tasks.map(({ uuid }) => uuid)).toEqual([third.uuid]);
      await app.cancel(third.uuid, 'not needed');
      expect((await inspector.overview()).waitingLines).toEqual([]);
    } finally {
      await inspector.stop();
    }
  });
});
