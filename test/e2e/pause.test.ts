import { Injectable } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { QTasksClient, QueueInspector, Task } from '../../lib/index.js';
import { uniqueAppName } from '../helpers/names.js';
import { startNestApp } from '../helpers/nest-app.js';
import { qtasks } from '../helpers/qtasks-cli.js';

@Injectable()
class MailService {
  @Task()
  send(to: string) {
    return `sent to ${to}`;
  }

  @Task()
  audit(what: string) {
    return `audited ${what}`;
  }
}

describe('pausing a task and the whole queue, from the client and from the CLI', () => {
  const name = uniqueAppName('pause');
  let app: Awaited<ReturnType<typeof startNestApp>>;
  let client: QTasksClient;
  let inspector: QueueInspector;

  beforeAll(async () => {
    app = await startNestApp({ name, url: inject('redisUrl') }, [MailService]);
    client = app.get(QTasksClient);
    inspector = new QueueInspector({ name, url: inject('redisUrl') });
    await inspector.start();
  });
  afterAll(async () => {
    await inspector?.stop();
    await app?.close();
  });

  it('holds a paused task while the others run, shows it held, and runs it in order once resumed', async () => {
    await client.pause('send');
    const sends = [];
    for (const to of ['ann', 'bob', 'cid']) sends.push(await client.add('send', [to]));
    // Queued after them, and still run: only the paused task waits.
    expect(await client.run('audit', ['login'], { timeout: 10_000 })).toMatchObject({ status: 'success' });
    for (const { uuid } of sends) expect((await client.get(uuid))!.status).toBe('new');

    const overview = await inspector.overview();
    expect(overview).toMatchObject({ paused: false, pausedTasks: ['send'], waitingLines: [{ task: 'send', waiting: 3, reopensAt: null }] });
    expect(overview.counts.queued).toBe(3);
    const status = await qtasks('status', '--app', name);
    expect(status.out).toContain('paused tasks: send');
    expect(status.out).toContain('waiting: 3 of send until it is resumed');

    expect(await qtasks('resume', 'send', '--app', name)).toMatchObject({ code: 0, out: `resumed task send of ${name}\n` });
    const done = await Promise.all(sends.map(({ uuid }) => client.wait(uuid, { timeout: 10_000 })));
    expect(done.map((record) => record.returning)).toEqual(['sent to ann', 'sent to bob', 'sent to cid']);
    const starts = done.map((record) => record.startedAt!.getTime());
    expect([...starts].sort((a, b) => a - b)).toEqual(starts);
    expect(await inspector.overview()).toMatchObject({ pausedTasks: [], waitingLines: [] });
  });

  it('a paused queue starts nothing until resumed; the CLI refuses to pause a task the app does not have', async () => {
    expect(await qtasks('pause', '--app', name)).toMatchObject({ code: 0, out: `paused the queue of ${name}\n` });
    expect((await inspector.overview()).paused).toBe(true);
    expect((await qtasks('status', '--app', name)).out).toContain('PAUSED: no task starts until `qtasks resume`');
    const { uuid } = await client.add('audit', ['export']);
    await sleep(300);
    expect((await client.get(uuid))!.status).toBe('new');
    await client.resume();
    expect(await client.wait(uuid, { timeout: 10_000 })).toMatchObject({ status: 'success', returning: 'audited export' });

    const typo = await qtasks('pause', 'sned', '--app', name);
    expect(typo.code).toBe(2);
    expect(typo.err).toBe(`qtasks: app ${name} has no task "sned"; its tasks: send, audit.\n`);
    expect((await inspector.overview()).pausedTasks).toEqual([]);
  });
});
