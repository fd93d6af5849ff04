// Redis memory over a long run, with and without keepFinishedTasks: `npm run bench:retention`.
// Starts its own redis-server, runs TASKS no-op tasks through one in-process worker per setting,
// and prints used_memory every SAMPLE_EVERY finished tasks.
import { Redis } from 'ioredis';
import { QueueTasks } from '../lib/index.js';
import { RedisKeys } from '../lib/redis/keys.js';
import { startRedisServer } from '../test/helpers/redis-server.js';

const TASKS = Number(process.env.TASKS ?? 50_000);
const KEEP = Number(process.env.KEEP ?? 1000);
const BATCH = 1000;
const SAMPLE_EVERY = 5000;

const quiet = { log: () => undefined, warn: () => undefined, error: (message: string) => console.error(message) };

async function usedMemory(redis: Redis): Promise<number> {
  const info = await redis.info('memory');
  return Number(/used_memory:(\d+)/.exec(info)![1]);
}

/** Runs all tasks with one retention setting; returns used_memory samples (bytes) by tasks done. */
async function run(keepFinishedTasks: number): Promise<Map<number, number>> {
  const server = await startRedisServer();
  const redis = new Redis(server.url);
  const name = `retention-${keepFinishedTasks}`;
  const app = new QueueTasks({ name, url: server.url, logger: quiet, globalConfig: null, config: { keepFinishedTasks, maxTasksProcess: 100 } });
  app.task('noop', (i: number) => i);
  const keys = new RedisKeys(name);
  const samples = new Map<number, number>([[0, await usedMemory(redis)]]);
  await app.start();
  try {
    for (let done = 0; done < TASKS; ) {
      const batch = await app.addBulk(Array.from({ length: BATCH }, (_, i) => ({ name: 'noop', args: [done + i] })));
      // The newest record is kept by either setting, so waiting on it is safe.
      await Promise.all(batch.slice(-1).map((task) => app.wait(task.uuid, { timeout: 60_000 })));
      await untilIdle(redis, keys);
      done += BATCH;
      if (done % SAMPLE_EVERY === 0) samples.set(done, await usedMemory(redis));
    }
  } finally {
    await app.stop();
    redis.disconnect();
    await server.destroy();
  }
  return samples;
}

/** Waits until nothing is queued or running (a batch's tasks may finish out of order). */
async function untilIdle(redis: Redis, keys: RedisKeys): Promise<void> {
  for (let i = 0; i < 3000; i++) {
    const [queued, running] = await Promise.all([redis.zcard(keys.priorities), redis.zcard(keys.active)]);
    if (queued === 0 && running === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error('the worker did not drain the queue within 30 s');
}

const megabytes = (bytes: number | undefined) => (bytes === undefined ? '-' : (bytes / 1024 / 1024).toFixed(2));

const limited = await run(KEEP);
const unlimited = await run(0);
console.log(`Redis used_memory (MB) while ${TASKS} tasks finish, one worker, ${BATCH} per batch`);
console.log(['tasks done', `keepFinishedTasks=${KEEP}`, 'keepFinishedTasks=0 (keep all)'].join('\t'));
for (const [done, bytes] of limited) console.log([done, megabytes(bytes), megabytes(unlimited.get(done))].join('\t'));
