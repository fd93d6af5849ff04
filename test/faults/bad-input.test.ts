import { createServer, type AddressInfo, type Socket } from 'node:net';
import { Injectable } from '@nestjs/common';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  MalformedRecordError,
  NotSerializableError,
  PayloadTooLargeError,
  QTasksClient,
  QTasksError,
  RedisUnavailableError,
  Task,
  InvalidOptionError,
  QueueTasks,
  UnknownTaskError,
  type WhenRedisDown,
} from '../../lib/index.js';
import { raceTimeout } from '../../lib/core/timing.js';
import { RedisKeys } from '../../lib/redis/keys.js';
import { eventually } from '../helpers/eventually.js';
import { uniqueAppName } from '../helpers/names.js';
import { startNestApp } from '../helpers/nest-app.js';
import { startRedisServer } from '../helpers/redis-server.js';
import { startProducer } from './support.js';

@Injectable()
class OddTasks {
  @Task()
  double(n: number) {
    return n * 2;
  }

  @Task()
  throwValue(value: unknown) {
    throw value;
  }

  @Task()
  returnNothing() {
    return undefined;
  }

  @Task()
  returnBigInt() {
    return { total: 10n };
  }

  @Task()
  returnFunction() {
    return () => 1;
  }

  @Task()
  returnToJsonUndefined() {
    return { toJSON: () => undefined };
  }

  /** Neither JSON nor String() can show it: no prototype, and a cycle. */
  @Task({ retry: 1 })
  throwOpaque() {
    const opaque = Object.create(null) as Record<string, unknown>;
    opaque.self = opaque;
    throw opaque;
  }

  @Task()
  *yieldNothing() {
    yield;
    yield 1;
  }
}

describe('bad input: a clear typed error, nothing else lost, the worker keeps running', () => {
  const url = inject('redisUrl');
  const name = uniqueAppName('bad-input');
  const keys = new RedisKeys(name);
  const redis = new Redis(url);
  let app: Awaited<ReturnType<typeof startNestApp>>;
  let client: QTasksClient;

  beforeAll(async () => {
    app = await startNestApp({ name, url, config: { maxPayloadBytes: 1024 } }, [OddTasks]);
    client = app.get(QTasksClient);
  });
  // The proof that the worker survived each case: an ordinary task still runs.
  afterEach(async () => {
    const record = await client.run('double', [21], { timeout: 10_000 });
    expect(record.status).toBe('success');
    expect(record.returning).toBe(42);
  });
  afterAll(async () => {
    await app?.close();
    await redis.quit();
  });

  it('an unknown task name at enqueue throws UnknownTaskError and stores nothing', async () => {
    const recordsBefore = (await redis.keys(`${keys.prefix}t:*`)).length;
    const error = await client.add('nope', [1]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnknownTaskError);
    expect((error as QTasksError).code).toBe('UNKNOWN_TASK');
    expect((error as Error).message).toMatch(/^Unknown task "nope"\. Registered tasks: "double", /);
    // In a bulk add, the known tasks beside it are not stored either: all or none.
    const bulk = await client.addBulk([{ name: 'double', args: [1] }, { name: 'nope' }]).catch((e: unknown) => e);
    expect(bulk).toBeInstanceOf(UnknownTaskError);
    expect(await redis.keys(`${keys.prefix}t:*`)).toHaveLength(recordsBefore);
    expect(await redis.llen(`${keys.prefix}q:0`)).toBe(0);
  });

  it('a task no live worker knows (enqueued by another app version) ends error saying there is no handler', async () => {
    let producer: QueueTasks | undefined;
    try {
      producer = await startProducer({ name, url }, ['double', 'ghost']);
      const record = await producer.run('ghost', [1], { timeout: 10_000 });
      expect(record.status).toBe('error');
      expect(record.traceback).toMatch(/^NoHandlerError: no handler for task "ghost" in this worker \(it knows: double, /);
    } finally {
      await producer?.stop();
    }
  });

  it('arguments that are not JSON are refused with NotSerializableError naming the path', async () => {
    const cycle: Record<string, unknown> = { name: 'loop' };
    cycle.self = cycle;
    const cases: [unknown[], RegExp][] = [
      [[1n], /\$\[0\] is a BigInt/],
      [[{ callback: () => 1 }], /\$\[0\]\.callback is a function/],
      [[cycle], /\$\[0\]\.self is a circular reference/],
      [[new Map([[1, 2]])], /\$\[0\] is a Map/],
      // JSON would turn the hole into null: the task would see other arguments than were passed.
      [[{ list: [1, , 3] }], /\$\[0\]\.list\[1\] is undefined/],
      // JSON would drop the property: the task would see no `at` at all.
      [[{ at: { toJSON: () => undefined } }], /\$\[0\]\.at has a toJSON\(\) whose value is undefined/],
      [[{ at: { toJSON: () => 1n } }], /\$\[0\]\.at has a toJSON\(\) whose value is a BigInt/],
      // JSON would keep none of what these hold: an Error's message, a buffer's bytes, a Date's validity.
      [[1, { cause: new TypeError('bad id') }], /\$\[1\]\.cause is an Error, which JSON turns into \{\}/],
      [[{ bytes: new ArrayBuffer(4) }], /\$\[0\]\.bytes is an ArrayBuffer, which JSON turns into \{\}/],
      [[{ at: new Date('not a date') }], /\$\[0\]\.at is an invalid Date, which JSON turns into null/],
      [[new Number(Number.NaN)], /\$\[0\] is NaN/],
      [[{ total: Object(10n) }], /\$\[0\]\.total is a BigInt/],
    ];
    for (const [args, message] of cases) {
      const error = await client.add('double', args).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(NotSerializableError);
      expect((error as QTasksError).code).toBe('NOT_SERIALIZABLE');
      expect((error as Error).message).toMatch(message);
    }
    expect(await redis.llen(`${keys.prefix}q:0`)).toBe(0);
  });

  it('arguments that throw when read, or nest too deep, are refused with NotSerializableError naming the path', async () => {
    const getter = {
      get total(): number {
        throw new Error('getter boom');
      },
    };
    const proxy = new Proxy({}, {
      ownKeys() {
        throw new Error('proxy boom');
      },
    });
    let deep: unknown[] = [];
    for (let level = 0; level < 20_000; level++) deep = [deep];
    const cases: [unknown[], string, RegExp][] = [
      [[1, { items: [getter] }], '$[1].items[0].total', /: \$\[1\]\.items\[0\]\.total threw when read \(getter boom\)\.$/],
      [[{ options: proxy }], '$[0].options', /: \$\[0\]\.options threw when its keys were listed \(proxy boom\)\.$/],
      // The walk would overflow the stack (a RangeError naming nothing); the path is shown by its ends.
      [[deep], `$${'[0]'.repeat(1000)}`, /: \$(\[0\]){26}\[…(\[0\]){10} is nested deeper than 1000 levels\.$/],
    ];
    for (const [args, path, message] of cases) {
      const error = await client.add('double', args).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(NotSerializableError);
      expect(error).toMatchObject({ code: 'NOT_SERIALIZABLE', path });
      expect((error as Error).message).toMatch(message);
    }
    expect(await redis.llen(`${keys.prefix}q:0`)).toBe(0);
  });

  it('a delay over 100 years is refused with InvalidOptionError, instead of storing runAt Invalid Date', async () => {
    const error = await client.add('double', [1], { delay: 1e16 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect((error as Error).message).toBe('delay of task "double" must be from 0 to 3155760000000 milliseconds (100 years), got 10000000000000000.');
    // The longest one allowed is kept to the millisecond.
    const longest = await client.add('double', [1], { delay: 3_155_760_000_000 });
    const stored = await client.get(longest.uuid);
    expect(stored!.runAt!.getTime()).toBe(longest.createdAt.getTime() + 3_155_760_000_000);
    await client.cancel(longest.uuid);
  });

  it('trailing undefined arguments are optional parameters left out; one in the middle is refused', async () => {
    expect((await client.run('double', [21, undefined, undefined], { timeout: 10_000 })).returning).toBe(42);
    const error = await client.add('double', [undefined, 2]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotSerializableError);
    expect((error as Error).message).toMatch(/\$\[0\] is undefined/);
  });

  it('arguments over maxPayloadBytes are refused with PayloadTooLargeError', async () => {
    const error = await client.add('double', ['x'.repeat(2000)]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PayloadTooLargeError);
    expect((error as QTasksError).code).toBe('PAYLOAD_TOO_LARGE');
    expect((error as Error).message).toBe('Arguments of task "double" take 2004 bytes, over the limit of 1024.');
  });

  it('a malformed record written by hand into Redis fails that task only', async () => {
    const before = await client.add('double', [1]);
    const broken = ['not json {', '{"s":"new"}', '[1,2]'].map((raw, i) => ({ uuid: `hand-written-${i}`, raw }));
    for (const { uuid, raw } of broken) {
      await redis.set(keys.record(uuid), raw);
      await redis.rpush(`${keys.prefix}q:0`, uuid);
    }
    await redis.zadd(keys.priorities, 0, 0);
    const after = await client.add('double', [2]);
    for (const { uuid, raw } of broken) {
      const record = await client.wait(uuid, { timeout: 10_000 });
      expect(record.status).toBe('error');
      expect(record.traceback).toBe(`MalformedRecordError: the stored record is not a valid task record: ${raw}`);
    }
    expect((await client.wait(before.uuid, { timeout: 10_000 })).returning).toBe(2);
    expect((await client.wait(after.uuid, { timeout: 10_000 })).returning).toBe(4);
  });

  it('a record whose head looks right but whose arguments are not JSON fails alone, not the batch it was claimed with', async () => {
    const raw = '{"s":"new","n":"double","a":"{not json","c":1}';
    await redis.set(keys.record('hand-written-args'), raw);
    await redis.rpush(`${keys.prefix}q:0`, 'hand-written-args');
    await redis.zadd(keys.priorities, 0, 0);
    // Claimed in one batch with it: the add wakes the worker, which takes all four.
    const good = await client.addBulk([1, 2, 3].map((n) => ({ name: 'double', args: [n] })));
    for (const { uuid } of good) expect(await client.wait(uuid, { timeout: 10_000 })).toMatchObject({ status: 'success', stalls: 0 });
    // Still unreadable as a task (get throws MalformedRecordError), but ended, saying why.
    await expect(client.get('hand-written-args')).rejects.toBeInstanceOf(MalformedRecordError);
    const stored = JSON.parse((await redis.get(keys.record('hand-written-args')))!) as { s: string; e: string };
    expect(stored.s).toBe('error');
    expect(stored.e).toMatch(/^MalformedRecordError: .*arguments are not JSON/);
  });

  it('a record whose arguments are JSON but not a list ends error as malformed, instead of being spread into the handler', async () => {
    // "abc" would run double('a', 'b', 'c'); 5, null and an object would end in a TypeError naming none of it.
    const broken = ['"abc"', '5', 'null', '{"x":1}'].map((args, i) => ({ uuid: `hand-written-non-list-${i}`, args }));
    for (const { uuid, args } of broken) {
      await redis.set(keys.record(uuid), JSON.stringify({ s: 'new', n: 'double', a: args, c: 1 }));
      await redis.rpush(`${keys.prefix}q:0`, uuid);
    }
    await redis.zadd(keys.priorities, 0, 0);
    // Queued behind them: once these ran, the worker has claimed (and ended) the broken ones.
    const good = await client.add('double', [5]);
    expect(await client.wait(good.uuid, { timeout: 10_000 })).toMatchObject({ status: 'success', returning: 10 });
    for (const { uuid, args } of broken) {
      const error = await client.get(uuid).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(MalformedRecordError);
      expect((error as Error).message).toBe(`Task record ${uuid} in storage is malformed: its arguments are not a JSON list: ${args}.`);
      const stored = JSON.parse((await redis.get(keys.record(uuid)))!) as { s: string; e: string; r?: string };
      expect(stored).toMatchObject({ s: 'error', e: (error as Error).toString() });
      expect(stored.r).toBeUndefined();
    }
  });

  it('a task that throws a non-Error value ends error showing that value', async () => {
    const text = await client.run('throwValue', ['plain text'], { timeout: 10_000 });
    expect(text.status).toBe('error');
    expect(text.traceback).toBe('Error: task threw a non-Error value: "plain text"');
    const object = await client.run('throwValue', [{ code: 7 }], { timeout: 10_000 });
    expect(object.traceback).toBe('Error: task threw a non-Error value: {"code":7}');
    // Shown by its type tag, and retried like any failure.
    const opaque = await client.run('throwOpaque', [], { timeout: 10_000 });
    expect(opaque).toMatchObject({ status: 'error', attempt: 2, traceback: 'Error: task threw a non-Error value: [object Object]' });
  });

  it('a task returning undefined ends success with null; a non-JSON result ends error', async () => {
    const nothing = await client.run('returnNothing', [], { timeout: 10_000 });
    expect(nothing.status).toBe('success');
    expect(nothing.returning).toBeNull();
    const big = await client.run('returnBigInt', [], { timeout: 10_000 });
    expect(big.status).toBe('error');
    expect(big.traceback).toMatch(/^NotSerializableError: The result of task "returnBigInt" cannot be stored as JSON: \$\.total is a BigInt/);
    const fn = await client.run('returnFunction', [], { timeout: 10_000 });
    expect(fn.status).toBe('error');
    expect(fn.traceback).toMatch(/^NotSerializableError: .*\$ is a function/);
    // Its record stays readable: what JSON would write ("undefined") is never stored.
    const opaque = await client.run('returnToJsonUndefined', [], { timeout: 10_000 });
    expect(opaque.status).toBe('error');
    expect(opaque.traceback).toMatch(/^NotSerializableError: .*\$ has a toJSON\(\) whose value is undefined/);
    expect((await client.get(opaque.uuid))!.status).toBe('error');
  });

  it('a generator task that yields nothing stores null for that step, as a task returning nothing does', async () => {
    expect(await client.run('yieldNothing', [], { timeout: 10_000 })).toMatchObject({ status: 'success', returning: [null, 1] });
  });
});

describe('reliability options', () => {
  it('refuses a bad whenRedisDown or keepFinishedTasks with InvalidOptionError', () => {
    const url = inject('redisUrl');
    expect(() => new QueueTasks({ url, whenRedisDown: 'never' as WhenRedisDown })).toThrow(
      new InvalidOptionError(`whenRedisDown must be 'wait' or 'fail', got "never".`),
    );
    expect(() => new QueueTasks({ url, config: { keepFinishedTasks: -1 } })).toThrow(
      new InvalidOptionError('config.keepFinishedTasks must be a whole number of 0 or more, got -1.'),
    );
  });
});

describe('bootstrap with an unreachable Redis', () => {
  it('a start that failed while Redis was down succeeds when tried again after Redis is back', async () => {
    const server = await startRedisServer();
    await server.stop();
    const app = new QueueTasks({ name: uniqueAppName('retry-start'), url: server.url, whenRedisDown: 'fail', logger: { log: () => undefined, warn: console.warn, error: console.error } });
    app.task('double', (x: number) => x * 2);
    try {
      await expect(app.start()).rejects.toBeInstanceOf(RedisUnavailableError);
      await server.restart();
      await app.start();
      expect((await app.run('double', [21], { timeout: 10_000 })).returning).toBe(42);
    } finally {
      await app.stop();
      await server.destroy();
    }
  });

  it('rejects with RedisUnavailableError in either whenRedisDown mode, for a URL and for a cluster', async () => {
    // Port 1: nothing listens there (a port found free could be taken by a parallel test's server).
    const port = 1;
    const cases = [
      { url: `redis://127.0.0.1:${port}` },
      { url: `redis://127.0.0.1:${port}`, whenRedisDown: 'fail' as const },
      { cluster: { nodes: [{ host: '127.0.0.1', port }] } },
    ];
    for (const connection of cases) {
      const error = await startNestApp({ name: uniqueAppName('down'), ...connection }, [OddTasks]).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RedisUnavailableError);
      expect((error as Error).message).toMatch(/is not reachable: /);
    }
  });

  it('a server that accepts the connection but never answers fails the start after connectTimeout', async () => {
    const sockets = new Set<Socket>();
    let closed = 0;
    const silent = createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => closed++).resume();
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as AddressInfo;
    const app = new QueueTasks({ name: uniqueAppName('silent'), url: `redis://127.0.0.1:${port}`, redis: { connectTimeout: 300 } });
    try {
      const error = await app.start().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RedisUnavailableError);
      expect((error as Error).message).toMatch(new RegExp(`127\\.0\\.0\\.1:${port}/0 is not reachable: no answer within 300 ms`));
      // Nothing left connected: the server saw its one connection closed.
      await eventually('the connection closed', async () => sockets.size > 0 && closed === sockets.size);
    } finally {
      await app.stop();
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it('a database that is no number fails the start naming it, before any connection (not an unhandled SELECT NaN)', async () => {
    const app = new QueueTasks({ name: uniqueAppName('nan-db'), url: `${inject('redisUrl')}/abc` });
    try {
      const error = await raceTimeout(app.start().catch((e: unknown) => e), 10_000, () => 'start never ended');
      expect(error).toBeInstanceOf(InvalidOptionError);
      expect((error as Error).message).toBe(
        'Redis database "abc" is not a database number: give a whole number, as in redis://127.0.0.1:6379/2 (or none, for database 0).',
      );
    } finally {
      await app.stop();
    }
  });

  it('a database number the server does not have fails the start naming it, instead of using database 0', async () => {
    const app = new QueueTasks({ name: uniqueAppName('no-db'), url: `${inject('redisUrl')}/99` });
    try {
      const error = await app.start().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidOptionError);
      expect((error as Error).message).toMatch(/^Redis database 99 cannot be used at 127\.0\.0\.1:\d+\/99: ERR DB index is out of range\.$/);
    } finally {
      await app.stop();
    }
  });
});
