import { Cluster } from 'ioredis';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { QueueTasks } from '../../lib/index.js';
import { RedisKeys } from '../../lib/redis/keys.js';
import { quietLogger } from './support.js';

describe('apps on a Redis Cluster', () => {
  const nodes = inject('redisClusterNodes');
  const admin = new Cluster(nodes);
  afterAll(() => admin.disconnect());

  it('keep all keys of one app in one slot, and two apps with different names in different slots', async () => {
    // Fixed names (only this test uses them) so the slots, and so the assertion, are deterministic.
    const names = ['cluster-orders', 'cluster-mailer'];
    const slots: number[] = [];
    for (const name of names) {
      const app = new QueueTasks({ name, cluster: { nodes }, logger: quietLogger }).task('echo', (value: unknown) => value);
      await app.start();
      try {
        const done = await app.run('echo', [name], { timeout: 10_000 });
        expect(done.returning).toBe(name);
        const keys = new RedisKeys(name);
        const record = keys.record(done.uuid);
        expect(await admin.exists(record)).toBe(1);
        const appSlots = new Set<number>();
        for (const key of [record, keys.priorities, keys.active, keys.waiting, keys.marker, keys.doneChannel]) {
          appSlots.add((await admin.cluster('KEYSLOT', key)) as number);
        }
        expect(appSlots.size).toBe(1);
        slots.push([...appSlots][0]!);
      } finally {
        await app.stop();
      }
    }
    expect(slots[0]).not.toBe(slots[1]);
  });
});
