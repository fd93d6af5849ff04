import { describe, expect, it } from 'vitest';
import { MalformedRecordError, RedisBroker, type QueueTasks, type Retention } from '../../lib/index.js';
import { RedisKeys } from '../../lib/redis/keys.js';
import { appsOnTestRedis } from '../helpers/plain-app.js';

const KEEP: Retention = { deleteFinishedTasks: false, resultTtlMs: 0, keepFinishedTasks: 0 };

/** The error a promise rejects with (fails the test when it resolves). */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    (value) => expect.fail(`expected a rejection, got ${JSON.stringify(value)}`),
    (error: unknown) => error,
  );
}

describe('records in Redis that are no task records: a typed error naming the record, nothing else lost or changed', () => {
  const { redis, apps } = appsOnTestRedis();

  /** A producer (no worker) knowing the task `double`, and its keys. */
  async function producer(label: string): Promise<{ app: QueueTasks; keys: RedisKeys; broker: RedisBroker }> {
    const app = await apps.start(label, (registered) => registered.task('double', (n: number) => n * 2), { worker: false, globalConfig: null });
    return { app, keys: new RedisKeys(app.name), broker: app.broker as RedisBroker };
  }

  it('wait, cancel and requeue of a record key holding another Redis type throw MalformedRecordError naming it and the type, and change nothing', async () => {
    const { app, keys } = await producer('wrong-type');
    await redis.hset(keys.record('hashed'), 'field', 'value');
    await redis.rpush(keys.record('listed'), 'item');
    for (const [uuid, type] of [
      ['hashed', 'hash'],
      ['listed', 'list'],
    ] as const) {
      for (const call of [() => app.wait(uuid, { timeout: 500 }), () => app.cancel(uuid), () => app.requeue(uuid)]) {
        const error = await rejection(call());
        expect(error).toBeInstanceOf(MalformedRecordError);
        expect(error).toMatchObject({ uuid, message: `Task record ${uuid} in storage is malformed: the key holds a Redis ${type}, not a task record.` });
      }
    }
    expect(await redis.hgetall(keys.record('hashed'))).toEqual({ field: 'value' });
    expect(await redis.lrange(keys.record('listed'), 0, -1)).toEqual(['item']);
    // The refused wait marked nothing: no completion is published for it.
    expect(await redis.exists(keys.waiter('hashed'), keys.waiter('listed'), keys.waiting)).toBe(0);
    // The app goes on: an ordinary task is stored and queued.
    expect(await app.get((await app.add('double', [1])).uuid)).toMatchObject({ status: 'new' });
  });

  it('a held task whose record key came to hold another Redis type: release and progress treat it as lost, for the other tasks too', async () => {
    const { app, keys, broker } = await producer('wrong-type-held');
    const [a, b] = await app.addBulk([{ name: 'double', args: [1] }, { name: 'double', args: [2] }]);
    const claimed = (await broker.claim({ workerId: 'w1', max: 2, leaseMs: 10_000, retention: KEEP })).tasks;
    const leases = claimed.map(({ record, token }) => ({ uuid: record.uuid, token }));
    await redis.del(keys.record(b!.uuid));
    await redis.hset(keys.record(b!.uuid), 'field', 'value');

    expect(await broker.progress(leases[1]!, '50')).toBe(false);
    // The other task goes back to the queue; the foreign key is left as it is.
    expect(await broker.release(leases, KEEP)).toBe(1);
    expect(await app.get(a!.uuid)).toMatchObject({ status: 'new' });
    expect(await redis.hgetall(keys.record(b!.uuid))).toEqual({ field: 'value' });
  });
});
