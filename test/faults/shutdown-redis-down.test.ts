import { afterAll, describe, expect, it } from 'vitest';
import { QTasksError, QueueTasks, type WhenRedisDown } from '../../lib/index.js';
import { raceTimeout } from '../../lib/core/timing.js';
import { CuttableLink } from '../helpers/cuttable-link.js';
import { uniqueAppName } from '../helpers/names.js';
import { startRedisServer, type RedisServerHandle } from '../helpers/redis-server.js';

const quiet = { log: () => undefined, warn: () => undefined, error: () => undefined };

describe('shutting down while Redis is gone', () => {
  const servers: RedisServerHandle[] = [];
  afterAll(async () => Promise.all(servers.map((server) => server.destroy())));

  for (const whenRedisDown of ['wait', 'fail'] as WhenRedisDown[]) {
    it(`stop() finishes (whenRedisDown '${whenRedisDown}') instead of waiting for Redis forever`, async () => {
      const server = await startRedisServer();
      servers.push(server);
      const app = new QueueTasks({
        name: uniqueAppName('down-stop'),
        url: server.url,
        whenRedisDown,
        logger: quiet,
        config: { shutdownGraceMs: 500 },
      });
      let release!: () => void;
      app.task('hold', () => new Promise<void>((resolve) => (release = resolve)));
      await app.start();
      const held = await app.add('hold');
      while (!release) await new Promise((resolve) => setTimeout(resolve, 10));
      const waiting = app.wait(held.uuid).catch((error: unknown) => error);
      await server.stop();
      const stopped = await raceTimeout(app.stop().then(() => 'stopped'), 10_000, () => 'still stopping after 10 s', true);
      release();
      expect(stopped).toBe('stopped');
      // The pending wait ends too, with an error rather than silence.
      expect(await waiting).toBeInstanceOf(Error);
    });
  }

  for (const whenRedisDown of ['wait', 'fail'] as WhenRedisDown[]) {
    it(`an app stopped while Redis was down starts again once Redis is back (whenRedisDown '${whenRedisDown}')`, async () => {
      const server = await startRedisServer();
      servers.push(server);
      const app = new QueueTasks({ name: uniqueAppName('down-restart'), url: server.url, whenRedisDown, logger: quiet, config: { shutdownGraceMs: 100 } });
      app.task('echo', (value: number) => value);
      await app.start();
      await server.stop();
      await app.stop();
      await server.restart();
      // Within a connectTimeout (10 s): a start that only waits for the stopped client's reconnect fails at it.
      const started = await raceTimeout(app.start().then(() => 'started'), 5_000, () => 'still starting after 5 s', true).catch((error: unknown) => error);
      expect(started).toBe('started');
      expect((await app.run('echo', [7], { timeout: 5_000 })).returning).toBe(7);
      await app.stop();
    });
  }

  it('a stop that could not store a finished result before its grace ran out stores it once Redis is back, rather than handing the task back to run again', async () => {
    const server = await startRedisServer();
    servers.push(server);
    const link = await CuttableLink.open({ host: '127.0.0.1', port: server.port });
    const name = uniqueAppName('down-unsent');
    // Reconnects every 50 ms, so Redis answers the stop's last calls once the link is mended.
    const worker = new QueueTasks({ name, url: link.url, redis: { retryStrategy: () => 50 }, logger: quiet, config: { maxTasksProcess: 3, shutdownGraceMs: 100 } });
    const producer = new QueueTasks({ name, url: server.url, worker: false, logger: quiet });
    const gates = new Map<string, () => void>();
    const runs: string[] = [];
    const gated = (id: string) => {
      runs.push(id);
      return new Promise<string>((resolve) => gates.set(id, () => resolve(id)));
    };
    worker.task('gated', gated);
    producer.task('gated', gated);
    await producer.start();
    await worker.start();
    try {
      const first = await producer.add('gated', ['first']);
      const second = await producer.add('gated', ['second']);
      for (let tries = 0; gates.size < 2 && tries < 500; tries++) await new Promise((resolve) => setTimeout(resolve, 10));
      // The first result's call is lost with the link: it holds the worker's storing of results,
      // so the second result is still waiting to be sent when the stop gives up on them.
      const cut = link.cutWhenSent('EVALSHA', first.uuid);
      gates.get('first')!();
      await cut;
      gates.get('second')!();
      const stopping = worker.stopWork();
      // Past the stop's wait for its claim loop (at most 2 s) and for the results (1 s at least):
      // its last calls are on their way, held until Redis answers again.
      await new Promise((resolve) => setTimeout(resolve, 3_500));
      await link.mend();
      await stopping;
      expect(await producer.get(second.uuid)).toMatchObject({ status: 'success', returning: 'second' });
      expect(runs.filter((id) => id === 'second')).toHaveLength(1);
    } finally {
      await worker.stop();
      await producer.stop();
      link.cut();
    }
  });

  /** A producer ('wait' mode) reaching its own redis-server through a link the test can cut, with one queued task. */
  async function producerBehindLink(label: string) {
    const server = await startRedisServer();
    servers.push(server);
    const link = await CuttableLink.open({ host: '127.0.0.1', port: server.port });
    const app = new QueueTasks({ name: uniqueAppName(label), url: link.url, whenRedisDown: 'wait', worker: false, logger: quiet });
    app.task('never', () => undefined);
    await app.start();
    return { app, link, queued: await app.add('never') };
  }

  it("stop() finishes, and the wait fails, when Redis went away while a wait's mark was on its way", async () => {
    const { app, link, queued } = await producerBehindLink('down-mark');
    // A first wait opens the subscription and loads the watch script, so the next one sends only its mark.
    await app.wait(queued.uuid, { timeout: 50, returnOnTimeout: true });
    const cut = link.cutWhenSent('EVALSHA');
    const waiting = app.wait(queued.uuid).catch((error: unknown) => error);
    await cut;
    // With 'wait', ioredis keeps that mark for a reconnect that never comes; stop must end the wait.
    const stopped = await raceTimeout(app.stop().then(() => 'stopped'), 5_000, () => 'still stopping after 5 s', true);
    expect(stopped).toBe('stopped');
    expect(await raceTimeout(waiting, 5_000, () => 'wait still pending after 5 s', true)).toBeInstanceOf(QTasksError);
  });

  it("stop() finishes when Redis went away while a wait's subscription was on its way", async () => {
    const { app, link, queued } = await producerBehindLink('down-sub');
    const cut = link.cutWhenSent('SUBSCRIBE');
    const waiting = app.wait(queued.uuid).catch((error: unknown) => error);
    await cut;
    // With 'wait', ioredis keeps that SUBSCRIBE for a reconnect that never comes.
    const stopped = await raceTimeout(app.stop().then(() => 'stopped'), 5_000, () => 'still stopping after 5 s', true);
    expect(stopped).toBe('stopped');
    expect(await waiting).toBeInstanceOf(Error);
  });
});
