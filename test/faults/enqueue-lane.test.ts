import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AddOutcomeUnknownError, AddTooLateError, QueueTasks, type QueueTasksOptions, type RedisStorage, type TaskRecord } from '../../lib/index.js';
import { ScriptLane } from '../../lib/redis/script-lane.js';
import { eventually } from '../helpers/eventually.js';
import { uniqueAppName } from '../helpers/names.js';
import { startRedisServer, type RedisServerHandle } from '../helpers/redis-server.js';
import { quietLogger } from './support.js';

/**
 * Adds travel on a socket of their own (lib/redis/script-lane.ts). A private Redis: these tests
 * kill its connections and flush its scripts.
 */
describe('the connection adds go on', () => {
  let server: RedisServerHandle;
  let admin: Redis;
  const apps: QueueTasks[] = [];

  beforeAll(async () => {
    server = await startRedisServer();
    admin = new Redis(server.url);
  });
  afterAll(async () => {
    await Promise.all(apps.map((app) => app.stop()));
    admin?.disconnect();
    await server?.destroy();
  });

  /** A started producer whose connections CLIENT LIST shows under a name of their own. */
  async function producer(options: QueueTasksOptions = {}) {
    const name = uniqueAppName('lane');
    const app = new QueueTasks({ name, url: server.url, worker: false, globalConfig: null, logger: quietLogger, redis: { connectionName: name }, ...options });
    app.task('note', (n: number) => n);
    apps.push(app);
    await app.start();
    return app;
  }

  /** The app's connections as CLIENT LIST shows them: id and last command. */
  async function connectionsOf(app: QueueTasks, via = admin): Promise<{ id: string; cmd: string }[]> {
    const list = (await via.client('LIST')) as string;
    return list
      .split('\n')
      .filter((line) => line.includes(` name=${app.name} `))
      .map((line) => ({ id: /\bid=(\d+)/.exec(line)![1]!, cmd: /\bcmd=(\S+)/.exec(line)![1]! }));
  }

  /** The connection that carries the app's adds: its own, beside the main one. */
  async function laneOf(app: QueueTasks, via = admin): Promise<string> {
    const mainId = String(await (app.storage as RedisStorage).client.client('ID'));
    let laneId = '';
    await eventually('the adds have a connection of their own', async () => {
      await app.add('note', [0]);
      const lane = (await connectionsOf(app, via)).find((connection) => connection.id !== mainId);
      laneId = lane?.cmd === 'evalsha' ? lane.id : '';
      return laneId !== '';
    });
    return laneId;
  }

  /** Waits until the app's connections signed in as `user` are two, the adds' own and the main one: their last commands tell them apart. */
  async function laneOfUser(app: QueueTasks, user: string, via = admin): Promise<void> {
    const commandsOfUser = async () => {
      const list = (await via.client('LIST')) as string;
      return list
        .split('\n')
        .filter((line) => line.includes(` user=${user} `))
        .map((line) => /\bcmd=(\S+)/.exec(line)![1]!)
        .sort();
    };
    await eventually('the adds have a connection of their own', async () => {
      const record = await app.add('note', [1]);
      await app.get(record.uuid);
      return (await commandsOfUser()).join() === 'evalsha,get';
    });
  }

  it('a producer sends its adds on a connection of its own, opened by its first adds', async () => {
    const app = await producer();
    // Before any add: the main connection only.
    expect(await connectionsOf(app)).toHaveLength(1);
    const laneId = await laneOf(app);
    const [main] = (await connectionsOf(app)).filter((connection) => connection.id !== laneId);
    const record = await app.add('note', [7]);
    expect(await app.get(record.uuid)).toMatchObject({ status: 'new', args: [7] });
    // The add went on the lane: the main connection's last command is the get, the lane's an EVALSHA.
    expect(await connectionsOf(app)).toEqual(expect.arrayContaining([{ id: laneId, cmd: 'evalsha' }, { id: main!.id, cmd: 'get' }]));
    await app.stop();
    // stop() closes it with the rest.
    await eventually('the producer closed its connections', async () => (await connectionsOf(app)).length === 0);
  });

  it("an add with a deadline (a timer's tick) goes on the lane too, where adds keep the order they leave in", async () => {
    const app = await producer();
    const laneId = await laneOf(app);
    const mainId = String(await (app.storage as RedisStorage).client.client('ID'));
    // Its script's first call loads it, on the main connection (the lane's call meets NOSCRIPT).
    await app.addOnce('note', [1], { uniqueKey: 'tick-0', uniqueTtlMs: 60_000, deadline: Date.now() + 60_000 });
    // The main connection's last command is this read; an add sent there would make it an EVALSHA.
    await app.get('no-such-task');
    const tick = await app.addOnce('note', [2], { uniqueKey: 'tick-1', uniqueTtlMs: 60_000, deadline: Date.now() + 60_000 });
    expect(tick.added).toBe(true);
    const tooLate = await app.addOnce('note', [3], { uniqueKey: 'tick-2', uniqueTtlMs: 60_000, deadline: Date.now() - 1 }).catch((error: unknown) => error);
    expect(tooLate).toBeInstanceOf(AddTooLateError);
    expect(await connectionsOf(app)).toEqual(expect.arrayContaining([{ id: mainId, cmd: 'get' }, { id: laneId, cmd: 'evalsha' }]));
  });

  it.each(['wait', 'fail'] as const)("whenRedisDown '%s': killed with adds on their way, every add resolves, each task queued once, in the order the adds were made", async (whenRedisDown) => {
    // Redis stays up: what the lane held is sent again on the main connection, in either mode.
    const app = await producer({ whenRedisDown });
    const laneId = await laneOf(app);
    const queueKey = `qtasks:{${app.name}}:q:0`;
    await admin.del(queueKey);
    // Writes held for a while: the adds sent meanwhile wait in Redis, unanswered, when the kill lands.
    await admin.client('PAUSE', 600, 'WRITE');
    const adds: Promise<TaskRecord>[] = [];
    const addSome = async (from: number) => {
      for (let n = from; n < from + 100; n++) {
        adds.push(app.add('note', [n]));
        if (n % 10 === 9) await sleep(5);
      }
    };
    await addSome(0);
    await admin.client('KILL', 'ID', laneId);
    // More adds while the first ones are sent again: they must not overtake them.
    await addSome(100);
    const records = await Promise.all(adds);
    expect(await admin.lrange(queueKey, 0, -1)).toEqual(records.map((record) => record.uuid));
    const stored = await Promise.all(records.map((record) => app.get(record.uuid)));
    expect(stored.map((record) => record?.args[0])).toEqual(records.map((_, n) => n));
    // Later adds go on a new lane.
    expect(await laneOf(app)).not.toBe(laneId);
  });

  it("whenRedisDown 'fail': an add lost with its lane while the main connection is down too is an AddOutcomeUnknownError: it was sent", async () => {
    const app = await producer({ whenRedisDown: 'fail' });
    const laneId = await laneOf(app);
    const mainId = String(await (app.storage as RedisStorage).client.client('ID'));
    await admin.client('PAUSE', 300, 'WRITE');
    const adding = app.add('note', ['maybe']).catch((error: unknown) => error);
    await sleep(50);
    // The main connection first: when the lane's add is sent again there, it is down.
    await admin.pipeline().client('KILL', 'ID', mainId).client('KILL', 'ID', laneId).exec();
    const lost = await adding;
    expect(lost).toBeInstanceOf(AddOutcomeUnknownError);
    // Killed while Redis held it, it never ran: get tells, once the connection is back.
    const [uuid] = (lost as AddOutcomeUnknownError).uuids;
    await eventually('the producer reconnected', async () => (await app.get(uuid!).catch(() => undefined)) === null);
  });

  it('after SCRIPT FLUSH (a Redis restart loses its scripts), the next add is stored: the main connection loads the script again', async () => {
    const app = await producer();
    await laneOf(app);
    await admin.script('FLUSH');
    const record = await app.add('note', [1]);
    expect(await app.get(record.uuid)).toMatchObject({ status: 'new', args: [1] });
    // And the lane carries adds again once it is loaded.
    await laneOf(app);
  });

  it('a password (with or without a user) and a database: the lane opens its session as the main connection does', async () => {
    const user = uniqueAppName('lane-user');
    await admin.acl('SETUSER', user, 'on', '>secret', '~*', '&*', '+@all');
    const withUser = await producer({ url: server.url.replace('redis://', `redis://${user}:secret@`) + '/3' });
    const laneViaUser = await laneOf(withUser);
    expect(laneViaUser).not.toBe('');
    // The tasks are in database 3, where the main connection reads them.
    const record = await withUser.add('note', [3]);
    const db3 = admin.duplicate({ db: 3 });
    expect(await db3.exists(`qtasks:{${withUser.name}}:t:${record.uuid}`)).toBe(1);
    db3.disconnect();
    expect(await admin.exists(`qtasks:{${withUser.name}}:t:${record.uuid}`)).toBe(0);

    const guarded = await startRedisServer({ extraArgs: ['--requirepass', 'only-password'] });
    const guardedAdmin = new Redis(guarded.url, { password: 'only-password' });
    try {
      const withPassword = await producer({ url: guarded.url.replace('redis://', 'redis://:only-password@') });
      await laneOf(withPassword, guardedAdmin);
      expect(await withPassword.get((await withPassword.add('note', [2])).uuid)).toMatchObject({ args: [2] });
      await withPassword.stop();
    } finally {
      guardedAdmin.disconnect();
      await guarded.destroy();
    }
  });

  it('a name Redis refuses (it has a space) and a user without PING or CLIENT: the lane opens all the same, as the main connection does', async () => {
    const user = uniqueAppName('lane-restricted');
    await admin.acl('SETUSER', user, 'on', '>secret', '~*', '&*', '+@all', '-ping', '-client');
    const app = await producer({ url: server.url.replace('redis://', `redis://${user}:secret@`), redis: { connectionName: 'billing producer' } });
    // Neither connection has a name: they are told by their user.
    await laneOfUser(app, user);
  });

  it('a user with no password (an ACL user with nopass): the lane signs in as that user, as the main connection does', async () => {
    // The default user needs a password here: a lane that did not sign in could run nothing.
    const guarded = await startRedisServer({ extraArgs: ['--requirepass', 'only-password'] });
    const guardedAdmin = new Redis(guarded.url, { password: 'only-password' });
    try {
      const user = uniqueAppName('lane-nopass');
      await guardedAdmin.acl('SETUSER', user, 'on', 'nopass', '~*', '&*', '+@all');
      const app = await producer({ url: guarded.url.replace('redis://', `redis://${user}@`) });
      await laneOfUser(app, user, guardedAdmin);
      await app.stop();
    } finally {
      guardedAdmin.disconnect();
      await guarded.destroy();
    }
  });

  it('a call made while one sent on the main connection has not settled goes there too: the lane never overtakes it', async () => {
    const { port } = new URL(server.url);
    const lane = new ScriptLane({ host: '127.0.0.1', port: Number(port), connectTimeoutMs: 5_000 }, () => true);
    const sha = (await admin.script('LOAD', "return redis.call('RPUSH', KEYS[1], ARGV[1])")) as string;
    const key = uniqueAppName('lane-order');
    const onMain: string[] = [];
    // The main connection, slow to send: as when it is busy, or sending again what a lost lane held.
    const slowMain = (value: string) => async () => {
      onMain.push(value);
      await sleep(150);
      return admin.evalsha(sha, 1, key, value);
    };
    lane.start();
    try {
      // The lane is closed: the first call goes on the main connection, and opens the lane.
      const first = lane.evalsha(sha, [key], ['first'], slowMain('first'));
      await sleep(50);
      const second = lane.evalsha(sha, [key], ['second'], slowMain('second'));
      await Promise.all([first, second]);
      expect(await admin.lrange(key, 0, -1)).toEqual(['first', 'second']);
      expect(onMain).toEqual(['first', 'second']);
      // Once nothing is on its way there, calls go on the lane.
      expect(await lane.evalsha(sha, [key], ['third'], slowMain('third'))).toBe(3);
      expect(onMain).toEqual(['first', 'second']);
    } finally {
      await lane.close();
    }
  });
});

