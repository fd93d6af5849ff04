import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { AddOutcomeUnknownError, QueueTasks, RedisUnavailableError, type RedisStorage, type WhenRedisDown } from '../../lib/index.js';
import { scriptSha, scriptSource } from '../../lib/redis/scripts.js';
import { CuttableLink } from '../helpers/cuttable-link.js';
import { eventually } from '../helpers/eventually.js';
import { freePort } from '../helpers/redis-server.js';
import { uniqueAppName } from '../helpers/names.js';

const quiet = { log: () => undefined, warn: () => undefined, error: () => undefined };

describe('a reply lost on the way back', () => {
  const redisUrl = inject('redisUrl');
  const reader = new Redis(redisUrl);
  const closers: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const close of closers) await close();
    reader.disconnect();
  });

  /** A producer reaching the test Redis through a link that can lose a reply, with one task queued. */
  async function producerOnLink(whenRedisDown: WhenRedisDown) {
    const { hostname, port } = new URL(redisUrl);
    const link = await CuttableLink.open({ host: hostname, port: Number(port) });
    closers.push(async () => link.cut());
    const name = uniqueAppName('lost-reply');
    const app = new QueueTasks({ name, url: link.url, worker: false, whenRedisDown, logger: quiet });
    app.task('note', (text: string) => text);
    await app.start();
    closers.push(() => app.stop());
    // Loads the script first: a dropped NOSCRIPT answer would mean the first call never ran.
    const earlier = await app.add('note', ['earlier']);
    const queueKey = `qtasks:{${name}}:q:0`;
    const enqueueKey = `qtasks:{${name}}:qp`;
    return {
      link,
      app,
      earlier,
      queueKey,
      loseNextEnqueueReply: () => link.dropReplyTo('EVALSHA', enqueueKey),
      // Redis gone right after running it: every connection of the app lost (an add has one of its own).
      loseRedisAfterNextEnqueue: () => link.dropReplyTo('EVALSHA', enqueueKey, { cutAll: true }),
    };
  }

  it("whenRedisDown 'wait': the add is sent again after the reconnect, and its task is queued and stored once", async () => {
    const { app, earlier, queueKey, loseNextEnqueueReply } = await producerOnLink('wait');
    const dropped = loseNextEnqueueReply();
    const record = await app.add('note', ['once']);
    await dropped;
    // The client sent the enqueue again on its new connection; Redis had run the first one.
    expect(await reader.lrange(queueKey, 0, -1)).toEqual([earlier.uuid, record.uuid]);
    expect(await app.get(record.uuid)).toMatchObject({ status: 'new', args: ['once'] });
  });

  it("whenRedisDown 'wait': an addOnce with a deadline whose reply was lost, sent again past the deadline, answers the task Redis stored, not AddTooLateError", async () => {
    const { link, app, loseNextEnqueueReply } = await producerOnLink('wait');
    // Loaded first: a lost NOSCRIPT answer would mean the first call never ran.
    await reader.script('LOAD', scriptSource('enqueue-before'));
    const deadline = Date.now() + 3_000;
    const dropped = loseNextEnqueueReply();
    const adding = app.addOnce('note', ['once'], { uniqueKey: 'resent', uniqueTtlMs: 60_000, deadline });
    await dropped;
    // Kept cut until past the deadline: the client sends the add again only then.
    link.cut();
    const holder = await reader.get(`qtasks:{${app.name}}:u:resent`);
    expect(Date.now()).toBeLessThan(deadline); // the first sending ran in time, and stored its task
    expect(await reader.exists(`qtasks:{${app.name}}:t:${holder}`)).toBe(1);
    await sleep(deadline + 200 - Date.now());
    await link.mend();
    // Redis has the task: the caller is told so, as for an add in time, rather than "nothing was enqueued".
    expect(await adding).toEqual({ uuid: holder, added: true });
    expect(await app.get(holder!)).toMatchObject({ status: 'new', args: ['once'] });
  });

  it("whenRedisDown 'fail': AddOutcomeUnknownError names the task Redis did store; an add refused while down stored nothing", async () => {
    const { link, app, earlier, queueKey, loseRedisAfterNextEnqueue } = await producerOnLink('fail');
    const dropped = loseRedisAfterNextEnqueue();
    const lost = await app.add('note', ['maybe']).catch((error: unknown) => error);
    await dropped;
    expect(lost).toBeInstanceOf(AddOutcomeUnknownError);
    expect(lost).toBeInstanceOf(RedisUnavailableError); // what a handler of "Redis down" already catches
    const [uuid] = (lost as AddOutcomeUnknownError).uuids;
    const message = new RegExp(`^Redis at 127\\.0\\.0\\.1:\\d+/0 is not reachable: .*may have stored task ${uuid}: get\\(uuid\\) tells`);
    expect((lost as Error).message).toMatch(message);
    // It did: the check the error points to finds the task.
    await link.mend();
    await eventually('the producer reconnected', async () => (await app.get(uuid).catch(() => null)) !== null);
    expect(await app.get(uuid)).toMatchObject({ status: 'new', args: ['maybe'] });
    expect(await reader.lrange(queueKey, 0, -1)).toEqual([earlier.uuid, uuid]);

    // A bulk add names all its tasks.
    const droppedAgain = loseRedisAfterNextEnqueue();
    const bulk = ['a', 'b', 'c'].map((text) => ({ name: 'note', args: [text] }));
    const lostBulk = (await app.addBulk(bulk).catch((error: unknown) => error)) as AddOutcomeUnknownError;
    await droppedAgain;
    expect(lostBulk).toBeInstanceOf(AddOutcomeUnknownError);
    expect(lostBulk.message).toContain(`may have stored its 3 tasks (${lostBulk.uuids[0]} and 2 more, all in .uuids)`);
    await link.mend();
    await eventually('the producer reconnected', async () => (await app.get(uuid).catch(() => null)) !== null);
    expect(await reader.lrange(queueKey, 0, -1)).toEqual([earlier.uuid, uuid, ...lostBulk.uuids]);

    link.cut();
    await eventually('the producer saw the link go', async () => (app.storage as RedisStorage).client.status !== 'ready');
    const refused = await app.add('note', ['never']).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(RedisUnavailableError);
    expect(refused).not.toBeInstanceOf(AddOutcomeUnknownError);
    expect(await reader.lrange(queueKey, 0, -1)).toEqual([earlier.uuid, uuid, ...lostBulk.uuids]);
  });
  it("an add made before any connect, Redis unreachable, is a RedisUnavailableError that says nothing may be stored: nothing was sent", async () => {
    for (const whenRedisDown of ['wait', 'fail'] as const) {
      const app = new QueueTasks({ name: uniqueAppName('never-connected'), url: `redis://127.0.0.1:${await freePort()}`, whenRedisDown, logger: quiet });
      app.task('note', (text: string) => text);
      const refused = await app.add('note', ['never']).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(RedisUnavailableError);
      expect(refused).not.toBeInstanceOf(AddOutcomeUnknownError);
      await app.stop();
    }
  });

  /** A producer on the test Redis, and a worker (`nap` tasks) reaching it through a link that can lose a reply. */
  async function workerOnLink(leaseMs: number) {
    const { hostname, port } = new URL(redisUrl);
    const link = await CuttableLink.open({ host: hostname, port: Number(port) });
    closers.push(async () => link.cut());
    const name = uniqueAppName('lost-worker-reply');
    const producer = new QueueTasks({ name, url: redisUrl, worker: false, logger: quiet });
    producer.task('nap', (n: number) => n);
    await producer.start();
    closers.push(() => producer.stop());
    const warnings: string[] = [];
    const logger = { ...quiet, warn: (message: string) => void warnings.push(message) };
    const worker = new QueueTasks({ name, url: link.url, logger, config: { leaseMs, maxTasksProcess: 2 } });
    const runs: number[] = [];
    worker.task('nap', async (n: number) => {
      runs.push(n);
      await new Promise((resolve) => setTimeout(resolve, 20));
      return n;
    });
    await worker.start();
    closers.unshift(() => worker.stop());
    return { link, producer, worker, warnings, runs };
  }

  it("a worker's claim whose reply was lost gets the first run's answer when sent again: no task waits for its lease or counts a stall", async () => {
    const { link, producer, warnings, runs } = await workerOnLink(3000);
    // The worker's next claim (it carries the outcomes of the tasks before it) runs, but its reply
    // is lost; the client library sends it again once reconnected.
    const dropped = link.dropReplyTo('EVALSHA', scriptSha('claim'));
    const records = await producer.addBulk(Array.from({ length: 20 }, (_, n) => ({ name: 'nap', args: [n] })));
    await dropped;
    const finals = await Promise.all(records.map((record) => producer.wait(record.uuid, { timeout: 15_000 })));
    expect(finals.map((record) => [record.status, record.stalls])).toEqual(records.map(() => ['success', 0]));
    expect(runs.sort((a, b) => a - b)).toEqual(records.map((_, n) => n));
    expect(warnings).toEqual([]);
  });

  it('a worker stopped while it waits for work, as a task arrives, hands back what the claim behind its wait took: the task is queued at once, not held until its lease ends', async () => {
    const { link, producer, worker, runs } = await workerOnLink(30_000);
    // Blocked in BLPOP on one of the connections the worker opened through the link.
    const waiting = async () => {
      const clients = (await reader.client('LIST')) as string;
      const blocked = clients.split('\n').filter((line) => line.includes(' flags=b ') && line.includes(' cmd=blpop '));
      return link.upstreamPorts.some((port) => blocked.some((line) => line.includes(`addr=127.0.0.1:${port} `)));
    };
    await eventually('the worker waits for work', waiting);
    // Its stop's close reaches Redis late: Redis may still serve the wait, and run the claim behind
    // it, for a task added meanwhile.
    link.closeLate(1_000);
    const stopping = worker.stop();
    const record = await producer.add('nap', [1]);
    await stopping;
    expect(await producer.get(record.uuid)).toMatchObject({ status: 'new', attempt: 1 });
    expect(runs).toEqual([]);
  });

  it("a worker's complete whose reply was lost gets the first run's answer: the result is stored and not reported discarded", async () => {
    const { link, producer, worker, warnings } = await workerOnLink(10_000);
    // An idle worker hands a lone task's outcome in with a complete call (its next claim waits
    // behind its blocking read); that call runs, and its reply is lost.
    // Loaded first: a lost NOSCRIPT answer would mean the first call never ran.
    await reader.script('LOAD', scriptSource('complete'));
    const dropped = link.dropReplyTo('EVALSHA', scriptSha('complete'));
    const record = await producer.run('nap', [7], { timeout: 10_000 });
    await dropped;
    expect(record).toMatchObject({ status: 'success', returning: 7 });
    // Behind the call sent again on the worker's connection: once this answers, so did that.
    expect(await worker.get(record.uuid)).toMatchObject({ status: 'success' });
    expect(warnings).toEqual([]);
  });
});
