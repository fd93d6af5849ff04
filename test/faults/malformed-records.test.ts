import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { MalformedKeyError, MalformedRecordError, RedisBroker, type NewTask, type QTasksLogger, type QueueTasks, type Retention } from '../../lib/index.js';
import { RedisKeys } from '../../lib/redis/keys.js';
import { eventually } from '../helpers/eventually.js';
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

  it('get, wait, cancel and requeue of a record key holding another Redis type throw MalformedRecordError naming it and the type, and change nothing', async () => {
    const { app, keys } = await producer('wrong-type');
    await redis.hset(keys.record('hashed'), 'field', 'value');
    await redis.rpush(keys.record('listed'), 'item');
    for (const [uuid, type] of [
      ['hashed', 'hash'],
      ['listed', 'list'],
    ] as const) {
      for (const call of [() => app.get(uuid), () => app.wait(uuid, { timeout: 500 }), () => app.cancel(uuid), () => app.requeue(uuid)]) {
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

  it('cancel and requeue of a record the codec refuses throw MalformedRecordError naming it and why, before changing anything', async () => {
    const { app, keys } = await producer('malformed-text');
    const cases: [uuid: string, raw: string, why: string][] = [
      ['queued-args', '{"s":"new","n":"double","a":"{not json","c":1}', 'its arguments are not JSON'],
      ['failed-args', '{"s":"error","n":"double","a":"{x","c":1,"e":"Error: boom"}', 'its arguments are not JSON'],
      ['failed-result', '{"s":"cancel","n":"double","a":"[1]","c":1,"r":"{bad"}', 'its result is not JSON'],
      ['string-args', '{"s":"new","n":"double","a":"\\"abc\\"","c":1}', 'its arguments are not a JSON list: "abc"'],
      ['object-args', '{"s":"error","n":"double","a":"{}","c":1}', 'its arguments are not a JSON list: {}'],
      ['number-args', '{"s":"cancel","n":"double","a":5,"c":1}', 'its arguments are not a JSON list: 5'],
      ['empty', '', 'not JSON: '],
      ['not-json', 'garbage{', 'not JSON: garbage{'],
      ['array', '[1,2]', 'no task name'],
      ['bogus-status', '{"s":"bogus","n":"double","a":"[1]","c":1}', 'unknown status "bogus"'],
    ];
    for (const [uuid, raw] of cases) await redis.set(keys.record(uuid), raw);
    await redis.rpush(keys.queue(0), 'queued-args');
    await redis.zadd(keys.priorities, 0, 0);
    for (const [uuid, raw, why] of cases) {
      for (const call of [() => app.cancel(uuid), () => app.requeue(uuid)]) {
        const error = await rejection(call());
        expect(error).toBeInstanceOf(MalformedRecordError);
        expect(error).toMatchObject({ uuid, message: `Task record ${uuid} in storage is malformed: ${why}.` });
      }
      expect(await redis.get(keys.record(uuid))).toBe(raw);
    }
    // Still queued as it was, and no finished total moved.
    expect(await redis.lrange(keys.queue(0), 0, -1)).toEqual(['queued-args']);
    expect(await redis.hgetall(keys.finishedCounts)).toEqual({});
  });

  it('a record whose fields hold the wrong types is malformed: get and cancel name the field and change nothing', async () => {
    const { app, keys } = await producer('wrong-field-types');
    const cases: [uuid: string, stored: object, why: string][] = [
      ['no-created', { s: 'new', n: 'double', a: '[1]' }, 'it has no creation time ("c")'],
      ['text-priority', { s: 'new', n: 'double', a: '[1]', c: 1, p: 'high' }, 'its priority ("p") is not a number'],
      ['text-attempt', { s: 'new', n: 'double', a: '[1]', c: 1, t: 'x' }, 'its attempt ("t") is not a number'],
      ['number-traceback', { s: 'error', n: 'double', a: '[1]', c: 1, e: 5 }, 'its traceback ("e") is not a string'],
      ['object-errors', { s: 'error', n: 'double', a: '[1]', c: 1, h: { first: 'Error' } }, 'its list of earlier tracebacks ("h") is not a list'],
    ];
    for (const [uuid, stored, why] of cases) {
      const raw = JSON.stringify(stored);
      await redis.set(keys.record(uuid), raw);
      for (const call of [() => app.get(uuid), () => app.cancel(uuid)]) {
        expect(await rejection(call())).toMatchObject({ code: 'MALFORMED_RECORD', uuid, message: `Task record ${uuid} in storage is malformed: ${why}.` });
      }
      expect(await redis.get(keys.record(uuid))).toBe(raw);
    }
    // An empty list of earlier tracebacks is what the scripts' JSON encoder writes as {}.
    await redis.set(keys.record('empty-errors'), JSON.stringify({ s: 'error', n: 'double', a: '[1]', c: 1, h: {} }));
    expect(await app.get('empty-errors')).toMatchObject({ status: 'error' });
  });

  it('a record whose fields hold the wrong types ends error where a worker meets it, and stops no script for the other tasks', async () => {
    const { app, keys } = await producer('wrong-field-types-worker');
    const bad = {
      // Promoted by a claim: its priority would stop the claim at the queue's ZADD, the task left in a queue no claim reads.
      delayed: { s: 'new', n: 'double', a: '[1]', c: 1, d: 1, p: 'high' },
      // Its failed attempt's retry would stop the call storing the worker's outcomes, for ever, at attempt + 1.
      retried: { s: 'new', n: 'flaky', a: '[]', c: 1, t: 'x' },
      // In a dead worker's batch: its stall count would stop every recovery sweep, at stalls + 1.
      stalled: { s: 'process', u: 1, k: '7:1', n: 'double', a: '[1]', c: 1, l: 'x' },
    };
    for (const [uuid, stored] of Object.entries(bad)) await redis.set(keys.record(uuid), JSON.stringify(stored));
    await redis.zadd(keys.delayed, 1, 'delayed');
    await redis.rpush(keys.queue(0), 'retried');
    await redis.zadd(keys.priorities, 0, 0);
    await redis.set(keys.record('recovered'), '{"s":"process","u":1,"k":"8:1","n":"double","a":"[5]","c":1}');
    await redis.rpush(keys.batch('7'), 'stalled');
    await redis.rpush(keys.batch('8'), 'recovered');
    await redis.zadd(keys.active, 1, '7', 1, '8');

    const registerWorkerTasks = (registered: QueueTasks) =>
      registered.task('double', (n: number) => n * 2).task({ name: 'flaky', retry: 1 }, () => {
        throw new Error('boom');
      });
    await apps.start('wrong-field-types-worker', registerWorkerTasks, { name: app.name, globalConfig: null, config: { leaseMs: 1000 }, logger: recordingLogger() });
    expect(await app.wait('recovered', { timeout: 10_000 })).toMatchObject({ status: 'success', returning: 10, stalls: 1 });
    expect(await app.run('double', [21], { timeout: 10_000 })).toMatchObject({ status: 'success', returning: 42 });
    await eventually('the malformed records ended error', async () => {
      const records = await Promise.all(Object.keys(bad).map((uuid) => app.get(uuid)));
      return records.every((record) => record?.status === 'error');
    });
    for (const uuid of Object.keys(bad)) {
      expect((await app.get(uuid))!.traceback).toMatch(/^MalformedRecordError: the stored record is not a valid task record: /);
    }
    expect(await redis.exists(keys.queue('high'))).toBe(0);
  });

  it('finished totals that cannot be counted (a field holding no integer, or a key of another Redis type) fail no cancel, outcome or requeue', async () => {
    for (const [label, spoil] of [
      ['text-total', (key: string) => redis.hset(key, 'success', 'lots', 'cancel', '1.5')],
      ['string-totals', (key: string) => redis.set(key, 'not a hash')],
    ] as const) {
      const { app, keys } = await producer(label);
      await spoil(keys.finishedCounts);
      const delayed = await app.add('double', [1], { delay: 60_000 });
      expect(await app.cancel(delayed.uuid)).toMatchObject({ status: 'cancel' });
      const requeued = await app.requeue(delayed.uuid);
      expect(requeued).toMatchObject({ status: 'new' });
      const worker = await apps.start(`${label}-worker`, (registered) => registered.task('double', (n: number) => n * 2), { name: app.name, globalConfig: null });
      expect(await app.wait(delayed.uuid, { timeout: 10_000 })).toMatchObject({ status: 'success', returning: 2 });
      expect(await app.run('double', [21], { timeout: 10_000 })).toMatchObject({ status: 'success', returning: 42 });
      await worker.stop();
    }
  });

  it('cancel and requeue meeting a queue key of another Redis type throw MalformedKeyError naming it, before changing anything', async () => {
    const { app, keys } = await producer('wrong-type-cancel');
    const delayed = await app.add('double', [1], { delay: 60_000 });
    const failed = await app.add('double', [2], { delay: 60_000 });
    await app.cancel(failed.uuid);
    await redis.hset(keys.queue(0), 'field', 'value');
    for (const call of [() => app.cancel(delayed.uuid), () => app.requeue(failed.uuid)]) {
      expect(await rejection(call())).toMatchObject({ code: 'MALFORMED_KEY', key: keys.queue(0), type: 'hash', expected: 'list' });
    }
    // The delayed task still waits for its time, and the cancelled one is still cancelled: none is left in no queue.
    expect(await app.get(delayed.uuid)).toMatchObject({ status: 'new' });
    expect(await redis.zscore(keys.delayed, delayed.uuid)).not.toBeNull();
    expect(await app.get(failed.uuid)).toMatchObject({ status: 'cancel' });
    expect(await redis.hgetall(keys.queue(0))).toEqual({ field: 'value' });
  });

  it('pause and resume meeting a key of another Redis type throw MalformedKeyError naming it, before changing anything', async () => {
    const { app, keys } = await producer('wrong-type-pause');
    for (const [foreign, expected] of [
      [keys.pauses, 'set'],
      [keys.waitingLineReopens, 'zset'],
    ] as const) {
      await redis.set(foreign, 'by hand');
      for (const call of [() => app.pause('double'), () => app.resume('double')]) {
        expect(await rejection(call())).toMatchObject({ code: 'MALFORMED_KEY', key: foreign, type: 'string', expected });
      }
      expect(await redis.get(foreign)).toBe('by hand');
      await redis.del(foreign);
    }
    expect(await redis.exists(keys.pauses)).toBe(0);
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

  it('recovery of expired leases names a record of another Redis type, leaves it as it is, and recovers the rest, older batches too', async () => {
    const { app, keys, broker } = await producer('wrong-type-recover');
    const [older, a, b] = await app.addBulk([1, 2, 3].map((n) => ({ name: 'double', args: [n] })));
    await broker.claim({ workerId: 'dead-1', max: 1, leaseMs: 50, retention: KEEP });
    await broker.claim({ workerId: 'dead-2', max: 2, leaseMs: 50, retention: KEEP });
    await redis.del(keys.record(b!.uuid));
    await redis.hset(keys.record(b!.uuid), 'field', 'value');
    await sleep(150);

    expect(await broker.recover(3, KEEP)).toEqual({
      requeued: 2,
      failed: 1,
      malformed: [{ uuid: b!.uuid, reason: 'the key holds a Redis hash, not a task record; left as it is' }],
    });
    for (const { uuid } of [older!, a!]) expect(await app.get(uuid)).toMatchObject({ status: 'new', stalls: 1 });
    expect(await redis.hgetall(keys.record(b!.uuid))).toEqual({ field: 'value' });
    expect(await redis.zcard(keys.active)).toBe(0);
    expect(await broker.recover(3, KEEP)).toEqual({ requeued: 0, failed: 0 });
  });

  it('a claim meeting a due delayed task whose record key holds another Redis type claims the rest', async () => {
    const { app, keys, broker } = await producer('wrong-type-delayed');
    await redis.hset(keys.record('hashed'), 'field', 'value');
    await redis.zadd(keys.delayed, Date.now() - 1000, 'hashed');
    const good = await app.add('double', [1]);
    const { tasks } = await broker.claim({ workerId: 'w1', max: 5, leaseMs: 10_000, retention: KEEP });
    expect(tasks.map(({ record }) => record.uuid)).toEqual([good.uuid]);
    expect(await redis.zcard(keys.delayed)).toBe(0);
    expect(await redis.hgetall(keys.record('hashed'))).toEqual({ field: 'value' });
  });

  /** A logger keeping what is logged as errors and warnings. */
  function recordingLogger(): QTasksLogger & { errors: string[]; warnings: string[] } {
    const errors: string[] = [];
    const warnings: string[] = [];
    return { errors, warnings, log: () => undefined, warn: (message: string) => void warnings.push(message), error: (message: string) => void errors.push(message) };
  }

  it('a worker starting beside a dead worker\'s batch holding such a record starts, runs the batch\'s other task and logs the record as malformed', async () => {
    const { app, keys, broker } = await producer('wrong-type-dead-batch');
    const [a, b] = await app.addBulk([{ name: 'double', args: [1] }, { name: 'double', args: [2] }]);
    await broker.claim({ workerId: 'dead', max: 2, leaseMs: 50, retention: KEEP });
    await redis.del(keys.record(b!.uuid));
    await redis.hset(keys.record(b!.uuid), 'field', 'value');
    await sleep(150);

    const logger = recordingLogger();
    await apps.start('wrong-type-dead-batch-worker', (registered) => registered.task('double', (n: number) => n * 2), { name: app.name, logger, globalConfig: null });
    expect(await app.wait(a!.uuid, { timeout: 10_000 })).toMatchObject({ status: 'success', returning: 2, stalls: 1 });
    expect(logger.errors).toEqual([
      expect.stringContaining(`MalformedRecordError: Task record ${b!.uuid} in storage is malformed: the key holds a Redis hash, not a task record; left as it is.`),
    ]);
  });

  it('a worker whose first recovery sweep fails starts all the same, logs it, and runs tasks', async () => {
    const { app, keys } = await producer('recover-fails');
    // The lease set holding another type: every recovery sweep fails until it is gone.
    await redis.set(keys.active, 'not a sorted set');
    const logger = recordingLogger();
    const worker = await apps.start('recover-fails-worker', (registered) => registered.task('double', (n: number) => n * 2), {
      name: app.name,
      logger,
      globalConfig: null,
      config: { leaseMs: 1000 },
    });
    expect(worker.worker).not.toBeNull();
    // The sweeps every 500 ms after it may fail too, until the key is gone.
    expect(logger.errors[0]).toMatch(/could not recover expired leases, trying again every 500 ms: WRONGTYPE/);
    await redis.del(keys.active);
    expect(await app.run('double', [21], { timeout: 10_000 })).toMatchObject({ status: 'success', returning: 42 });
  });
});

describe('an add that Redis refuses part-way (a key holding another Redis type) stores none of its tasks', () => {
  const { redis, apps } = appsOnTestRedis();

  async function producer(label: string): Promise<{ app: QueueTasks; keys: RedisKeys; broker: RedisBroker }> {
    const app = await apps.start(label, (registered) => registered.task('double', (n: number) => n * 2), { worker: false, globalConfig: null });
    return { app, keys: new RedisKeys(app.name), broker: app.broker as RedisBroker };
  }

  /** A new task for broker.enqueue. */
  function newTask(overrides: Partial<NewTask> = {}): NewTask {
    return { uuid: randomUUID(), taskName: 'double', priority: 0, argsJson: '[1]', createdAt: Date.now(), delayMs: 0, ...overrides };
  }

  /** The app's keys in Redis, each with its type. */
  async function keyTypes(keys: RedisKeys): Promise<Record<string, string>> {
    const found = await redis.keys(`${keys.prefix.replace(/[{}]/g, '\\$&')}*`);
    return Object.fromEntries(await Promise.all(found.map(async (key) => [key.slice(keys.prefix.length), await redis.type(key)] as const)));
  }

  it('a bulk add meeting a queue, the delayed set, the wake-up marker or a unique key of another type stores nothing and rejects with MalformedKeyError naming it', async () => {
    const { app, keys, broker } = await producer('enqueue-wrong-type');
    const cases: [foreign: string, expected: string, tasks: () => NewTask[]][] = [
      [keys.queue(5), 'list', () => [newTask(), newTask(), newTask({ priority: 5 })]],
      [keys.delayed, 'zset', () => [newTask(), newTask({ delayMs: 60_000 })]],
      [keys.marker, 'list', () => [newTask(), newTask({ priority: 3 })]],
      [`${keys.prefix}u:once`, 'string', () => [newTask(), newTask({ uniqueKey: 'taken', uniqueTtlMs: 60_000 }), newTask({ uniqueKey: 'once', uniqueTtlMs: 60_000 })]],
    ];
    for (const [foreign, expected, tasks] of cases) {
      await redis.hset(foreign, 'field', 'value');
      const before = await keyTypes(keys);
      const refused = await rejection(broker.enqueue(tasks()));
      expect(refused).toBeInstanceOf(MalformedKeyError);
      expect(refused).toMatchObject({ code: 'MALFORMED_KEY', key: foreign, type: 'hash', expected });
      expect(await keyTypes(keys)).toEqual(before);
      await redis.del(foreign);
    }
    // The priorities' sorted set, met by a task the call queues first at its priority; through add too.
    await redis.set(keys.priorities, 'not a sorted set');
    expect(await rejection(app.add('double', [1], { priority: 7 }))).toMatchObject({ code: 'MALFORMED_KEY', key: keys.priorities, type: 'string', expected: 'zset' });
    expect(await redis.exists(keys.queue(7))).toBe(0);
    await redis.del(keys.priorities);
    // With the foreign keys gone, the same adds go through.
    const records = await app.addBulk([{ name: 'double', args: [1] }, { name: 'double', args: [2], priority: 5 }, { name: 'double', args: [3], delay: 60_000 }]);
    expect(await Promise.all(records.map(({ uuid }) => app.get(uuid)))).toMatchObject([{ status: 'new' }, { status: 'new' }, { status: 'new' }]);
  });

  it('a call sent again that fails part-way keeps the tasks its first run stored, and unique keys others hold', async () => {
    const { keys, broker } = await producer('enqueue-wrong-type-again');
    const [first, holder] = [newTask(), newTask({ uniqueKey: 'held', uniqueTtlMs: 60_000 })];
    await broker.enqueue([first, holder]);
    const before = await keyTypes(keys);
    await redis.hset(keys.queue(5), 'field', 'value');
    // The first task again (its record stored already), a duplicate of the held key, and one that fails.
    await expect(broker.enqueue([first, newTask({ uniqueKey: 'held', uniqueTtlMs: 60_000 }), newTask({ priority: 5 })])).rejects.toBeInstanceOf(MalformedKeyError);
    await redis.del(keys.queue(5));
    expect(await keyTypes(keys)).toEqual(before);
    expect(await redis.lrange(keys.queue(0), 0, -1)).toEqual([first.uuid, holder.uuid]);
    expect(await redis.get(`${keys.prefix}u:held`)).toBe(holder.uuid);
  });
});

describe('a claim meeting a key it cannot use passes it over, names it, and takes what it safely can', () => {
  const { redis, apps } = appsOnTestRedis();
  const double = (registered: QueueTasks) => registered.task('double', (n: number) => n * 2);

  /** A producer (no worker) knowing `double` and `limited` (maxRunning 1), its keys and broker. */
  async function producer(label: string): Promise<{ app: QueueTasks; keys: RedisKeys; broker: RedisBroker }> {
    const app = await apps.start(label, (registered) => {
      double(registered);
      registered.task({ name: 'limited', maxRunning: 1 }, (n: number) => n);
    }, { worker: false, globalConfig: null });
    return { app, keys: new RedisKeys(app.name), broker: app.broker as RedisBroker };
  }

  /** A logger keeping what is logged as errors. */
  function errorLog(): QTasksLogger & { errors: string[] } {
    const errors: string[] = [];
    return { errors, log: () => undefined, warn: () => undefined, error: (message: string) => void errors.push(message) };
  }

  const claimAll = (broker: RedisBroker, runningLimits?: Map<string, number>) => broker.claim({ workerId: 'w1', max: 10, leaseMs: 10_000, retention: KEEP, runningLimits });

  it('a queue list of another Redis type: the worker runs the other priorities\' tasks and logs the key once, over many claims', async () => {
    const { app, keys } = await producer('claim-foreign-queue');
    await app.add('double', [0], { priority: 5 });
    await redis.del(keys.queue(5));
    await redis.hset(keys.queue(5), 'field', 'value');
    const logger = errorLog();
    await apps.start('claim-foreign-queue-worker', double, { name: app.name, logger, globalConfig: null });
    // Before and after the foreign list's priority, one by one: a claim each.
    for (const [n, priority] of [[1, 1], [2, 10], [3, 10], [4, 1]]) {
      expect(await app.run('double', [n], { priority, timeout: 10_000 })).toMatchObject({ status: 'success', returning: n * 2 });
    }
    expect(logger.errors).toEqual([
      expect.stringContaining(`MalformedKeyError: Key ${keys.queue(5)} holds a Redis hash where this version keeps a list`),
    ]);
    expect(await redis.hgetall(keys.queue(5))).toEqual({ field: 'value' });
    expect(await redis.zrange(keys.priorities, '0', '-1')).toEqual(['5']);
  });

  it('a priorities or delayed set of another Redis type: the claim names it and still stores outcomes and starts what it can reach', async () => {
    const { app, keys, broker } = await producer('claim-foreign-sets');
    const queued = await app.add('double', [1]);
    await redis.set(keys.delayed, 'not a sorted set');
    let batch = await claimAll(broker);
    expect(batch.tasks.map(({ record }) => record.uuid)).toEqual([queued.uuid]);
    expect(batch.malformedKeys).toMatchObject([{ code: 'MALFORMED_KEY', key: keys.delayed, type: 'string', expected: 'zset' }]);
    await redis.del(keys.delayed);

    await redis.set(keys.priorities, 'not a sorted set');
    const [claimed] = batch.tasks;
    batch = await broker.claim({ workerId: 'w1', max: 10, leaseMs: 10_000, retention: KEEP }, [
      { uuid: queued.uuid, token: claimed!.token, status: 'success', payload: '2' },
    ]);
    expect(batch).toMatchObject({ tasks: [], stored: [true], malformedKeys: [{ key: keys.priorities, type: 'string', expected: 'zset' }] });
    expect(await app.get(queued.uuid)).toMatchObject({ status: 'success', returning: 2 });
  });

  it('a pauses set of another Redis type: the claim stores its outcomes and starts nothing, as while the queue is paused', async () => {
    const { app, keys, broker } = await producer('claim-foreign-pauses');
    const [first, second] = await app.addBulk([1, 2].map((n) => ({ name: 'double', args: [n] })));
    const { tasks: [claimed] } = await broker.claim({ workerId: 'w1', max: 1, leaseMs: 10_000, retention: KEEP });
    await redis.set(keys.pauses, 'by hand');
    const batch = await broker.claim({ workerId: 'w1', max: 10, leaseMs: 10_000, retention: KEEP }, [
      { uuid: first!.uuid, token: claimed!.token, status: 'success', payload: '2' },
    ]);
    expect(batch).toMatchObject({ tasks: [], stored: [true], nextDueInMs: null, malformedKeys: [{ key: keys.pauses, type: 'string', expected: 'set' }] });
    expect(await app.get(first!.uuid)).toMatchObject({ status: 'success', returning: 2 });
    expect(await app.get(second!.uuid)).toMatchObject({ status: 'new' });
    await redis.del(keys.pauses);
    expect((await claimAll(broker)).tasks.map(({ record }) => record.uuid)).toEqual([second!.uuid]);
  });

  it('a batch counter holding no integer: nothing is claimed, every task stays queued in order, and a worker logs it once and runs them once it is mended', async () => {
    const { app, keys, broker } = await producer('claim-batch-counter');
    const tasks = await app.addBulk([1, 2, 3].map((n) => ({ name: 'double', args: [n] })));
    const uuids = tasks.map(({ uuid }) => uuid);
    for (const [spoil, type] of [
      [() => redis.set(`${keys.prefix}bn`, 'lots'), 'string'],
      [() => redis.hset(`${keys.prefix}bn`, 'n', '1'), 'hash'],
    ] as const) {
      await spoil();
      const batch = await claimAll(broker);
      expect(batch).toMatchObject({ tasks: [], malformedKeys: [{ key: `${keys.prefix}bn`, type, expected: 'integer' }] });
      expect(batch.malformedKeys![0]!.message).toMatch(`Key ${keys.prefix}bn holds a Redis ${type} where this version keeps an integer`);
      // Emptied by the claim and filled again: its priority is back too.
      expect(await redis.lrange(keys.queue(0), 0, -1)).toEqual(uuids);
      expect(await redis.zrange(keys.priorities, '0', '-1')).toEqual(['0']);
      await redis.del(`${keys.prefix}bn`);
    }

    await redis.set(`${keys.prefix}bn`, 'lots');
    const logger = errorLog();
    await apps.start('claim-batch-counter-worker', double, { name: app.name, logger, globalConfig: null });
    // Several claims meet it (each add wakes the worker), one line is logged.
    await app.addBulk([4, 5].map((n) => ({ name: 'double', args: [n] })));
    await app.add('double', [6]);
    await eventually('the fault logged', async () => logger.errors.length > 0, 5_000);
    await sleep(300);
    expect(logger.errors).toEqual([expect.stringContaining(`MalformedKeyError: Key ${keys.prefix}bn holds a Redis string where this version keeps an integer`)]);
    expect(await app.get(uuids[0]!)).toMatchObject({ status: 'new' });
    await redis.set(`${keys.prefix}bn`, '100');
    expect(await app.run('double', [21], { timeout: 10_000 })).toMatchObject({ status: 'success', returning: 42 });
    const done = await Promise.all(uuids.map((uuid) => app.wait(uuid, { timeout: 10_000 })));
    expect(done.map(({ returning }) => returning)).toEqual([2, 4, 6]);
  });

  it('finished totals that cannot be counted are named by the claim that stores outcomes, which are stored all the same', async () => {
    for (const [label, spoil, fault] of [
      ['claim-total-text', (key: string) => redis.hset(key, 'success', 'lots'), { type: 'string', expected: 'integer', field: 'success' }],
      ['claim-total-type', (key: string) => redis.set(key, 'not a hash'), { type: 'string', expected: 'hash', field: undefined }],
    ] as const) {
      const { app, keys, broker } = await producer(label);
      await spoil(keys.finishedCounts);
      const task = await app.add('double', [1]);
      const { tasks: [claimed] } = await claimAll(broker);
      const batch = await broker.claim({ workerId: 'w1', max: 10, leaseMs: 10_000, retention: KEEP }, [
        { uuid: task.uuid, token: claimed!.token, status: 'success', payload: '2' },
      ]);
      expect(batch).toMatchObject({ stored: [true], malformedKeys: [{ key: keys.finishedCounts, ...fault }] });
      expect(await app.get(task.uuid)).toMatchObject({ status: 'success', returning: 2 });
    }
  });

  it('a claim of more tasks than Lua unpacks at once puts them all back in order when it can make no batch', async () => {
    const { app, keys, broker } = await producer('claim-batch-counter-many');
    const uuids = (await app.addBulk(Array.from({ length: 9000 }, (_, n) => ({ name: 'double', args: [n] })))).map(({ uuid }) => uuid);
    await redis.set(`${keys.prefix}bn`, 'lots');
    const batch = await broker.claim({ workerId: 'w1', max: 9000, leaseMs: 10_000, retention: KEEP });
    expect(batch).toMatchObject({ tasks: [], malformedKeys: [{ key: `${keys.prefix}bn` }] });
    expect(await redis.lrange(keys.queue(0), 0, -1)).toEqual(uuids);
  });

  it('a lease set of another Redis type: nothing is claimed (no task held with no lease to recover it), every task stays queued in order', async () => {
    const { app, keys, broker } = await producer('claim-foreign-leases');
    const uuids = (await app.addBulk([1, 2].map((n) => ({ name: 'double', args: [n] })))).map(({ uuid }) => uuid);
    await redis.set(keys.active, 'not a sorted set');
    expect(await claimAll(broker)).toMatchObject({ tasks: [], malformedKeys: [{ key: keys.active, type: 'string', expected: 'zset' }] });
    expect(await redis.lrange(keys.queue(0), 0, -1)).toEqual(uuids);
    expect(await Promise.all(uuids.map((uuid) => app.get(uuid)))).toMatchObject([{ status: 'new' }, { status: 'new' }]);
    await redis.del(keys.active);
    expect((await claimAll(broker)).tasks.map(({ record }) => record.uuid)).toEqual(uuids);
    expect(await redis.zcard(keys.active)).toBe(1);
  });

  it('a wake-up marker of another Redis type: the claim keeps its tasks and names it rather than failing once it has held them', async () => {
    const { app, keys, broker } = await producer('claim-foreign-marker');
    const [first] = await app.addBulk([1, 2].map((n) => ({ name: 'double', args: [n] })));
    await redis.del(keys.marker);
    await redis.hset(keys.marker, 'field', 'value');
    // A full claim with work left behind wakes the next idle worker.
    const batch = await broker.claim({ workerId: 'w1', max: 1, leaseMs: 10_000, retention: KEEP });
    expect(batch).toMatchObject({ tasks: [{ record: { uuid: first!.uuid } }], malformedKeys: [{ key: keys.marker, type: 'hash', expected: 'list' }] });
  });

  it('a claim or wait that still fails on a key of another Redis type is logged once, as MalformedKeyError naming it, not every 250 ms', async () => {
    const { app, keys } = await producer('claim-fails-named');
    const queued = await app.addBulk([1, 2].map((n) => ({ name: 'double', args: [n] })));
    // The wake-up marker an idle worker waits on: every wait for work fails, and is tried again.
    await redis.del(keys.marker);
    await redis.hset(keys.marker, 'field', 'value');
    const logger = errorLog();
    await apps.start('claim-fails-named-worker', double, { name: app.name, logger, globalConfig: null });
    const done = await Promise.all(queued.map(({ uuid }) => app.wait(uuid, { timeout: 10_000 })));
    expect(done.map(({ returning }) => returning)).toEqual([2, 4]);
    await sleep(1_000);
    expect(logger.errors).toEqual([
      expect.stringContaining(`could not claim tasks (logged again once it fails otherwise): Key ${keys.marker} holds a Redis hash where this version keeps a list`),
    ]);
  });

  it('waiting-line and slot keys of another Redis type: the claim holds back only what needs them, and every task stays in its place', async () => {
    const limits = new Map([['limited', 1]]);
    const uuidsOf = (batch: { tasks: { record: { uuid: string } }[] }) => batch.tasks.map(({ record }) => record.uuid);

    // The lines' schedule: with a limit declared, a task met may have to wait in a line, so the queues are left alone.
    const schedule = await producer('claim-foreign-schedule');
    const queued = await schedule.app.add('double', [1]);
    await redis.set(schedule.keys.waitingLineReopens, 'by hand');
    expect(await claimAll(schedule.broker, limits)).toMatchObject({ tasks: [], malformedKeys: [{ key: schedule.keys.waitingLineReopens, type: 'string', expected: 'zset' }] });
    expect(uuidsOf(await claimAll(schedule.broker))).toEqual([queued.uuid]);

    // A rate window: its task waits in its line, the others start.
    const window = await producer('claim-foreign-window');
    const [rated, plain] = await window.app.addBulk([{ name: 'limited', args: [1] }, { name: 'double', args: [2] }]);
    await redis.set(`${window.keys.prefix}rl:limited`, 'by hand');
    const batch = await window.broker.claim({ workerId: 'w1', max: 10, leaseMs: 10_000, retention: KEEP, rateLimits: new Map([['limited', { max: 5, windowMs: 60_000 }]]) });
    expect(uuidsOf(batch)).toEqual([plain!.uuid]);
    expect(batch.malformedKeys).toMatchObject([{ key: `${window.keys.prefix}rl:limited`, type: 'string', expected: 'hash' }]);
    expect(await redis.lrange(window.keys.waitingLine('limited'), 0, -1)).toEqual([rated!.uuid]);

    // A paused task's line: a task of it met in the queue cannot join it, so it and those after it stay queued.
    const line = await producer('claim-foreign-line');
    const [first, paused, after] = await line.app.addBulk([{ name: 'double', args: [1] }, { name: 'limited', args: [2] }, { name: 'double', args: [3] }]);
    await line.app.pause('limited');
    await redis.set(line.keys.waitingLine('limited'), 'by hand');
    expect(await claimAll(line.broker)).toMatchObject({ tasks: [{ record: { uuid: first!.uuid } }], malformedKeys: [{ key: line.keys.waitingLine('limited'), type: 'string', expected: 'list' }] });
    expect(await redis.lrange(line.keys.queue(0), 0, -1)).toEqual([paused!.uuid, after!.uuid]);

    // The slot holders: a task with maxRunning cannot take a slot, so it and those after it stay queued.
    const slots = await producer('claim-foreign-slots');
    const [before, held, later] = await slots.app.addBulk([{ name: 'double', args: [1] }, { name: 'limited', args: [2] }, { name: 'double', args: [3] }]);
    await redis.set(`${slots.keys.prefix}rs`, 'by hand');
    expect(await claimAll(slots.broker, limits)).toMatchObject({ tasks: [{ record: { uuid: before!.uuid } }], malformedKeys: [{ key: `${slots.keys.prefix}rs`, type: 'string', expected: 'hash' }] });
    expect(await redis.lrange(slots.keys.queue(0), 0, -1)).toEqual([held!.uuid, later!.uuid]);
    // Met first, it leaves no lease behind: the batch made for it holds nothing.
    const leases = await redis.zcard(slots.keys.active);
    expect(await claimAll(slots.broker, limits)).toMatchObject({ tasks: [], malformedKeys: [{ key: `${slots.keys.prefix}rs` }] });
    expect(await redis.zcard(slots.keys.active)).toBe(leases);
    expect(await redis.lrange(slots.keys.queue(0), 0, -1)).toEqual([held!.uuid, later!.uuid]);
    await redis.del(`${slots.keys.prefix}rs`);
    const mended = await claimAll(slots.broker, limits);
    expect(uuidsOf(mended)).toEqual([held!.uuid, later!.uuid]);
    // Spoiled while the task holds its slot: its outcome is stored all the same.
    await redis.set(`${slots.keys.prefix}rs`, 'by hand');
    expect(await slots.broker.complete([{ uuid: held!.uuid, token: mended.tasks[0]!.token, status: 'success', payload: '2' }], KEEP)).toEqual([true]);
    expect(await slots.app.get(held!.uuid)).toMatchObject({ status: 'success', returning: 2 });
  });

  it('a running count that cannot be read holds its task back (no slot taken past an unknown count) and not the others; an outcome is still stored', async () => {
    const { app, keys, broker } = await producer('claim-running-count');
    const limits = new Map([['limited', 1]]);
    for (const [spoil, fault] of [
      [() => redis.hset(keys.runningCounts, 'limited', 'x'), { type: 'string', expected: 'integer', field: 'limited' }],
      [() => redis.set(keys.runningCounts, 'not a hash'), { type: 'string', expected: 'hash', field: undefined }],
    ] as const) {
      await spoil();
      const limited = await app.add('limited', [1]);
      const other = await app.add('double', [2]);
      const batch = await claimAll(broker, limits);
      expect(batch.tasks.map(({ record }) => record.uuid)).toEqual([other.uuid]);
      expect(batch.malformedKeys).toMatchObject([{ key: keys.runningCounts, ...fault }]);
      expect(await app.get(limited.uuid)).toMatchObject({ status: 'new' });
      expect(await redis.lrange(keys.waitingLine('limited'), 0, -1)).toEqual([limited.uuid]);
      // Mended: the next claim starts it.
      await redis.del(keys.runningCounts);
      const mended = await claimAll(broker, limits);
      expect(mended.tasks.map(({ record }) => record.uuid)).toEqual([limited.uuid]);
      expect(mended.malformedKeys).toBeUndefined();
      // Spoiled while it runs: its outcome is stored all the same, the count left as it is.
      await spoil();
      const stored = await broker.complete([{ uuid: limited.uuid, token: mended.tasks[0]!.token, status: 'success', payload: '1' }], KEEP);
      expect(stored).toEqual([true]);
      expect(await app.get(limited.uuid)).toMatchObject({ status: 'success' });
      await broker.complete([{ uuid: other.uuid, token: batch.tasks[0]!.token, status: 'success', payload: '4' }], KEEP);
      await redis.del(keys.runningCounts);
    }
  });
});
