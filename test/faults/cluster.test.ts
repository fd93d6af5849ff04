import { Cluster, Redis } from 'ioredis';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { InvalidOptionError, QueueTasks, RedisUnavailableError } from '../../lib/index.js';
import { raceTimeout } from '../../lib/core/timing.js';
import { RedisKeys } from '../../lib/redis/keys.js';
import { Gate } from '../helpers/gate.js';
import { uniqueAppName } from '../helpers/names.js';
import { eventually } from '../helpers/eventually.js';
import { startRedisCluster, type RedisClusterHandle } from '../helpers/redis-cluster.js';
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

  it('refuse a single-node url of a cluster node at start, naming the cluster option (it would fail with MOVED later)', async () => {
    const { host, port } = nodes[0]!;
    const app = new QueueTasks({ name: 'cluster-by-url', url: `redis://${host}:${port}`, logger: quietLogger });
    app.task('echo', (value: unknown) => value);
    const refused = await app.start().catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(InvalidOptionError);
    expect((refused as Error).message).toContain(`Redis at ${host}:${port}/0 is a Redis Cluster node: connect with the \`cluster\` option`);
  });
});

describe('cluster connections whose ready check fails, once or for good', () => {
  const nodes = inject('redisClusterNodes');
  const user = uniqueAppName('ready-check');
  /** Grants or takes away CLUSTER INFO, the command of ioredis's ready check, on every node. */
  const clusterInfo = (allowed: boolean) =>
    Promise.all(
      nodes.map(async ({ host, port }) => {
        const node = new Redis({ host, port });
        try {
          await node.acl('SETUSER', user, 'on', '>secret', '~*', '&*', '+@all', allowed ? '+cluster|info' : '-cluster|info');
        } finally {
          node.disconnect();
        }
      }),
    );
  afterAll(() =>
    Promise.all(
      nodes.map(async ({ host, port }) => {
        const node = new Redis({ host, port });
        await node.acl('DELUSER', user).finally(() => node.disconnect());
      }),
    ),
  );

  // As when the node the check goes to is a master just lost and not failed over yet: ioredis
  // connects again and gets ready, but the promise of its first connect() never settles.
  it('let a wait and a start go on once a new connection gets ready, instead of hanging (the wait past its timeout, and stop) or failing', async () => {
    const options = { cluster: { nodes, options: { redisOptions: { username: user, password: 'secret', connectTimeout: 5_000 } } }, logger: quietLogger };
    const name = uniqueAppName('ready-check');
    const gate = new Gate();
    const worker = new QueueTasks({ name, ...options }).task('held', () => gate.pass());
    const producer = new QueueTasks({ name, ...options, worker: false }).task('held', () => undefined);
    await clusterInfo(true);
    try {
      await worker.start();
      const { uuid } = await worker.add('held');
      await clusterInfo(false);
      // The first wait opens the app's subscription; the producer's start, its main connection.
      const waited = worker.wait(uuid, { timeout: 10_000 });
      const started = producer.start();
      started.catch(() => undefined); // asserted below
      await new Promise((resolve) => setTimeout(resolve, 300));
      await clusterInfo(true);
      gate.open();
      const outcome = await raceTimeout(waited, 12_000, () => 'the wait never ended');
      expect(outcome).toMatchObject({ status: 'success' });
      await expect(raceTimeout(started, 3_000, () => 'the start never ended')).resolves.toBeUndefined();
      expect((await producer.run('held', [], { timeout: 5_000 })).status).toBe('success');
      expect(await raceTimeout(worker.stop(), 5_000, () => 'the stop never ended')).toBeUndefined();
    } finally {
      gate.open();
      await Promise.all([worker, producer].map((app) => raceTimeout(app.stop(), 5_000, () => undefined)));
    }
  });

  // As when a master is down for good with no replica to take over: no ready check passes.
  it('end a wait whose connection never gets ready once its timeout has passed, and let the app stop', async () => {
    const options = { cluster: { nodes, options: { redisOptions: { username: user, password: 'secret', connectTimeout: 1_000 } } }, logger: quietLogger };
    const app = new QueueTasks({ name: uniqueAppName('never-ready'), ...options }).task('held', () => undefined);
    await clusterInfo(true);
    try {
      await app.start();
      await app.pause('held');
      const { uuid } = await app.add('held');
      await clusterInfo(false);
      const waited = app.wait(uuid, { timeout: 2_000 });
      const outcome = await raceTimeout(waited.catch((error: unknown) => error), 10_000, () => 'the wait never ended');
      expect(outcome).toBeInstanceOf(RedisUnavailableError);
      expect(await raceTimeout(app.stop(), 5_000, () => 'the stop never ended')).toBeUndefined();
    } finally {
      await clusterInfo(true);
      await raceTimeout(app.stop(), 5_000, () => undefined);
    }
  });
});

describe('an app on a Redis Cluster whose master is lost', () => {
  let cluster: RedisClusterHandle | undefined;
  const apps: QueueTasks[] = [];
  afterAll(async () => {
    await Promise.all(apps.map((app) => app.stop()));
    await cluster?.destroy();
  });

  it('holds adds until a replica takes over (whenRedisDown wait), or fails them typed (fail); no task is lost', async () => {
    // A failover then takes over 3 s: longer than ioredis's 16 redirections, 100 ms apart, last.
    cluster = await startRedisCluster(3, { replicasPerMaster: 1, nodeTimeoutMs: 3000 });
    const name = 'cluster-failover';
    const start = async (whenRedisDown: 'wait' | 'fail') => {
      const app = new QueueTasks({ name, cluster: { nodes: cluster!.nodes }, whenRedisDown, logger: quietLogger, worker: whenRedisDown === 'wait' ? undefined : false });
      app.task('echo', (value: number) => value);
      apps.push(app);
      await app.start();
      return app;
    };
    const [waiting, failing] = [await start('wait'), await start('fail')];
    expect((await waiting.run('echo', [0], { timeout: 10_000 })).status).toBe('success');

    await stopMasterOf(new Cluster(cluster.nodes), new RedisKeys(name).priorities);
    const ids = Array.from({ length: 20 }, (_, index) => index + 1);
    const [held, tried] = await Promise.all([
      Promise.all(ids.map((id) => waiting.add('echo', [id]))),
      Promise.allSettled(ids.map((id) => failing.add('echo', [-id]))),
    ]);
    const refused = tried.flatMap((outcome) => (outcome.status === 'rejected' ? [outcome.reason as unknown] : []));
    expect(refused.length).toBeGreaterThan(0);
    for (const error of refused) expect(error).toBeInstanceOf(RedisUnavailableError);

    const accepted = [...held, ...tried.flatMap((outcome) => (outcome.status === 'fulfilled' ? [outcome.value] : []))];
    // Polled, not awaited with wait(): completions published while the subscriber moves off the
    // lost node are missed (reported apart), which this test is not about.
    const statuses = () => Promise.all(accepted.map(async ({ uuid }) => (await waiting.get(uuid))?.status));
    await eventually('every accepted task ran', async () => (await statuses()).every((status) => status === 'success'), 30_000, 200).catch(
      async (error: unknown) => {
        throw new Error(`${(error as Error).message}; statuses: ${JSON.stringify(await statuses())}`);
      },
    );
  }, 60_000);
});

/**
 * Stops the master serving `key`'s slot at once, with no goodbye to its replicas (one of them takes
 * over after cluster-node-timeout), as a crash would; SHUTDOWN lets its test handle see it exit.
 */
async function stopMasterOf(admin: Cluster, key: string): Promise<void> {
  try {
    const slot = (await admin.cluster('KEYSLOT', key)) as number;
    const ranges = await admin.cluster('SLOTS');
    const [, , [host, port]] = ranges.find(([first, last]) => slot >= first && slot <= last)!;
    const master = new Redis({ host, port, retryStrategy: () => null });
    // The server closes the connection instead of answering.
    await master.shutdown('NOSAVE', 'NOW').catch(() => undefined);
    master.disconnect();
  } finally {
    admin.disconnect();
  }
}
