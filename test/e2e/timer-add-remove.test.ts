import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { QTasksTimer, QueueTasks, RedisUnavailableError } from '../../lib/index.js';
import { eventually } from '../helpers/eventually.js';
import { uniqueAppName } from '../helpers/names.js';
import { startRedisServer } from '../helpers/redis-server.js';
import { nextTickEvent } from '../helpers/ticks.js';

const quiet = { log: () => undefined, warn: () => undefined, error: () => undefined };

describe('timer.add while Redis is briefly down', () => {
  it("with whenRedisDown 'fail' it fails as RedisUnavailableError and keeps nothing: the same schedule can be added once Redis is back, and fires", async () => {
    const server = await startRedisServer();
    const redis = new Redis(server.url).on('error', () => undefined); // down on purpose for a while
    const name = uniqueAppName('timer-add-down');
    const app = new QueueTasks({ name, url: server.url, whenRedisDown: 'fail', worker: false, logger: quiet });
    app.task('report', () => 'report');
    const timer = new QTasksTimer(app);
    try {
      await app.start();
      await server.stop();
      await expect(timer.add('report', { name: 'nightly', every: 1000 })).rejects.toThrow(RedisUnavailableError);
      expect(await timer.list()).toEqual([]);

      await server.restart();
      await redis.ping();
      // The app's own client reconnects by itself; until it has, a 'fail' call fails at once.
      await eventually('the app reconnected', () => app.get('none').then(() => true, () => false), 10_000, 50);
      expect(await timer.add('report', { name: 'nightly', every: 1000 })).toMatchObject({ name: 'nightly', every: 1000 });
      const event = await nextTickEvent(timer, (tick) => tick.schedule === 'nightly');
      expect(event.added).toBe(true);
      expect((await timer.list()).map((schedule) => schedule.name)).toEqual(['nightly']);
    } finally {
      await app.stop();
      await redis.quit();
      await server.destroy();
    }
  });
});
