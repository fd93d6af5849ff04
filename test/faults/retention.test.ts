import { Redis } from 'ioredis';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { InvalidOptionError, QueueTasks } from '../../lib/index.js';
import { RedisKeys } from '../../lib/redis/keys.js';
import { uniqueAppName } from '../helpers/names.js';
import { quietLogger } from './support.js';

const KEEP = 20;

describe('keepFinishedTasks', () => {
  const redis = new Redis(inject('redisUrl'));
  afterAll(() => redis.quit());

  it('keeps only the newest N finished records per status, so the record count stays bounded', async () => {
    const name = uniqueAppName('keep');
    // One slot: tasks finish in the order they were queued, so "newest" is known.
    const app = new QueueTasks({ name, url: inject('redisUrl'), logger: quietLogger, config: { keepFinishedTasks: KEEP, maxTasksProcess: 1 } })
      .task('ok', (i: number) => i)
      .task('fail', (i: number) => {
        throw new Error(`failure ${i}`);
      });
    await app.start();
    try {
      const items = Array.from({ length: 7 * KEEP }, (_, i) => ({ name: i % 3 === 0 ? 'fail' : 'ok', args: [i] }));
      const records = await app.addBulk(items);
      const last = await app.wait(records.at(-1)!.uuid, { timeout: 20_000 });
      expect(last.status).toBe('success');

      const keys = new RedisKeys(name);
      const recordKeys: string[] = [];
      for await (const batch of redis.scanStream({ match: `${keys.prefix}t:*`, count: 500 })) recordKeys.push(...(batch as string[]));
      expect(recordKeys).toHaveLength(2 * KEEP);
      expect(await redis.zcard(keys.finished('success'))).toBe(KEEP);
      expect(await redis.zcard(keys.finished('error'))).toBe(KEEP);

      const newestOk = records.filter((record) => record.taskName === 'ok').slice(-KEEP);
      const newestFailed = records.filter((record) => record.taskName === 'fail').slice(-KEEP);
      expect(new Set(recordKeys)).toEqual(new Set([...newestOk, ...newestFailed].map((record) => keys.record(record.uuid))));
      expect(await app.get(records[1]!.uuid)).toBeNull();
    } finally {
      await app.stop();
    }
  });
});

describe('resultTtlMs', () => {
  const redis = new Redis(inject('redisUrl'));
  afterAll(() => redis.quit());

  it('is refused past the safe integers, which Redis could not take as a TTL (no task would finish); up to them, records expire', async () => {
    const name = uniqueAppName('ttl');
    const tooLong = () => new QueueTasks({ name, url: inject('redisUrl'), logger: quietLogger, config: { resultTtlMs: 1e17 } });
    expect(tooLong).toThrow(InvalidOptionError);
    expect(tooLong).toThrow('config.resultTtlMs must be at most 9007199254740991 ms, got 100000000000000000.');
    const app = new QueueTasks({ name, url: inject('redisUrl'), logger: quietLogger, config: { resultTtlMs: Number.MAX_SAFE_INTEGER } }).task('ok', () => 'done');
    await app.start();
    try {
      const record = await app.run('ok', [], { timeout: 10_000 });
      expect(record).toMatchObject({ status: 'success', returning: 'done' });
      expect(await redis.pttl(new RedisKeys(name).record(record.uuid))).toBeGreaterThan(2 ** 52);
    } finally {
      await app.stop();
    }
  });
});
