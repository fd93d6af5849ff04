import { Injectable } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { QTasksClient, QueueInspector, Task, type QueueTasks } from '../../lib/index.js';
import { uniqueAppName } from '../helpers/names.js';
import { startNestApp } from '../helpers/nest-app.js';
import { appsOnTestRedis } from '../helpers/plain-app.js';
import { qtasks } from '../helpers/qtasks-cli.js';

@Injectable()
class MailService {
  readonly sentTo: string[] = [];

  @Task()
  send(to: string) {
    this.sentTo.push(to);
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
    expect(overview).toMatchObject({ paused: false, pausedTasks: ['send'], waitingLines: [{ task: 'send', waiting: 3, paused: true, reopensAt: null }] });
    expect(overview.counts.queued).toBe(3);
    const status = await qtasks('status', '--app', name);
    expect(status.out).toContain('paused tasks: send');
    expect(status.out).toContain('waiting: 3 of send until it is resumed');

    expect(await qtasks('resume', 'send', '--app', name)).toMatchObject({ code: 0, out: `resumed task send of ${name}\n` });
    const done = await Promise.all(sends.map(({ uuid }) => client.wait(uuid, { timeout: 10_000 })));
    expect(done.map((record) => record.status)).toEqual(['success', 'success', 'success']);
    expect(app.get(MailService).sentTo).toEqual(['ann', 'bob', 'cid']);
    expect(await inspector.overview()).toMatchObject({ pausedTasks: [], waitingLines: [] });
  });

  it('says when a resumed task waits only for the next claim (the queue still paused)', async () => {
    await client.pause('send');
    const held = [await client.add('send', ['dan']), await client.add('send', ['eve'])];
    await client.run('audit', ['meet them'], { timeout: 10_000 });
    await client.pause();
    await client.resume('send');
    expect((await inspector.overview()).waitingLines).toEqual([{ task: 'send', waiting: 2, paused: false, reopensAt: null, waitsForSlot: false, running: 0 }]);
    expect((await qtasks('status', '--app', name)).out).toContain('waiting: 2 of send due now (the next claim starts them)');
    await client.resume();
    for (const { uuid } of held) expect((await client.wait(uuid, { timeout: 10_000 })).status).toBe('success');
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
    expect(await qtasks('resume', '', '--app', name)).toMatchObject({
      code: 2,
      err: 'qtasks: setPaused takes a task name, or none for the whole queue; got an empty one.\n',
    });
  });

  it('the CLI refuses to pause an app that publishes nothing here (a mistyped --app) unless forced, and prints JSON', async () => {
    const typo = `${name}-typo`;
    expect(await qtasks('pause', '--app', typo)).toMatchObject({
      code: 2,
      err: `qtasks: app ${typo} publishes no task catalogue here (a mistyped --app?); nothing was paused. Give --force to pause it all the same.\n`,
    });
    expect((await qtasks('status', '--app', typo)).out).toContain(`nothing is stored for app "${typo}"`);
    const forced = await qtasks('pause', 'send', '--app', typo, '--force', '--json');
    expect(forced.code).toBe(0);
    expect(JSON.parse(forced.out)).toEqual({ paused: true, task: 'send' });
    // Paused, the app is no longer "nothing stored".
    expect((await qtasks('status', '--app', typo)).out).not.toContain('nothing is stored');
    expect(JSON.parse((await qtasks('resume', 'send', '--app', typo, '--json')).out)).toEqual({ paused: false, task: 'send' });
  });
});

describe('a resumed task on two idle workers', () => {
  const { apps } = appsOnTestRedis();

  it('wakes both: the worker that takes the first of the held tasks wakes the next for the rest', async () => {
    const register = (queue: QueueTasks) =>
      queue.task('slow', async (n: number) => {
        await sleep(300);
        return n;
      });
    const first = await apps.start('pause-wake', register, { config: { maxTasksProcess: 1 } });
    await apps.start('pause-wake', register, { name: first.name, config: { maxTasksProcess: 1 } });
    await first.pause('slow');
    const held = [];
    for (const n of [1, 2, 3, 4]) held.push(await first.add('slow', [n]));
    // Both workers are idle and asleep: the tasks wait in the line the first claim put them in.
    await sleep(200);
    await first.resume('slow');
    const done = await Promise.all(held.map(({ uuid }) => first.wait(uuid, { timeout: 10_000 })));
    expect(new Set(done.map((record) => record.worker)).size).toBe(2);
  });
});
