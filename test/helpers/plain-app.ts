import { Redis } from 'ioredis';
import { afterAll, inject } from 'vitest';
import { QueueTasks, type QTasksLogger, type QueueTasksOptions } from '../../lib/index.js';
import { uniqueAppName } from './names.js';

/** Start-up chatter off, warnings and errors kept. */
const quiet: QTasksLogger = { log: () => undefined, warn: console.warn, error: console.error };

/** A QueueTasks on the test Redis, set up by `register`, started; `stopAll` stops every one made. */
export function plainApps(redisUrl: string) {
  const apps: QueueTasks[] = [];
  return {
    async start(label: string, register: (app: QueueTasks) => void, options: QueueTasksOptions = {}): Promise<QueueTasks> {
      const app = new QueueTasks({ name: uniqueAppName(label), url: redisUrl, logger: quiet, ...options });
      register(app);
      apps.push(app);
      await app.start();
      return app;
    },
    async stopAll(): Promise<void> {
      await Promise.all(apps.splice(0).map((app) => app.stop()));
    },
  };
}

/** The test Redis's URL, a client of it and plainApps on it, closed after the enclosing describe. */
export function appsOnTestRedis() {
  const url = inject('redisUrl');
  const redis = new Redis(url);
  const apps = plainApps(url);
  afterAll(async () => {
    await apps.stopAll();
    redis.disconnect();
  });
  return { url, redis, apps };
}
