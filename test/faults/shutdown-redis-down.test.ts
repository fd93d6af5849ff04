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
