import { cpSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { EXIT } from '../../lib/cli/run-cli.js';
import { raceTimeout } from '../../lib/core/timing.js';
import { RedisGlobalConfig, WebView, type WorkerStatus } from '../../lib/index.js';
import { RedisKeys } from '../../lib/redis/keys.js';
import { startChildApp } from '../helpers/child-app.js';
import { uniqueAppName } from '../helpers/names.js';
import { appsOnTestRedis, plainApps } from '../helpers/plain-app.js';
import { qtasks } from '../helpers/qtasks-cli.js';

describe('the qtasks CLI against a Redis Cluster, given one node’s URL', () => {
  const nodes = inject('redisClusterNodes');
  const nodeUrls = nodes.map(({ host, port }) => `redis://${host}:${port}`);
  const apps = plainApps('');
  afterAll(() => apps.stopAll());

  it('reads the app through any node, with no app running, and lists the apps of every master', async () => {
    const app = await apps.start('cli-cluster', (registered) => registered.task('echo', (value: unknown) => value), {
      url: undefined,
      cluster: { nodes },
    });
    const done = await app.run('echo', ['hello']);
    await app.stop();

    // The app's slot is on one master: through the two others, a single-node client gets MOVED.
    for (const url of nodeUrls) {
      const status = await qtasks('status', '--url', url, '--app', app.name, '--json');
      expect(status.err).toBe('');
      expect(status.code).toBe(EXIT.ok);
      expect(JSON.parse(status.out)).toMatchObject({ counts: { success: 1 }, workers: [], catalog: [{ name: 'echo' }] });
      expect((await qtasks('apps', '--url', url)).out.split('\n')).toContain(app.name);
    }
    const [url] = nodeUrls;
    // Finished tasks without an index come from a scan of every master.
    expect((await qtasks('tasks', '--state', 'success', '--url', url!, '--app', app.name)).out).toContain(done.uuid);
    expect((await qtasks('task', done.uuid, '--url', url!, '--app', app.name)).out).toMatch(/result +"hello"/);
    // A cluster has database 0 only.
    const otherDb = await qtasks('status', '--url', `${url}/1`, '--app', app.name);
    expect(otherDb.code).toBe(EXIT.usage);
    expect(otherDb.err).toContain('Redis database 1 cannot be used');
  });

  it('exits once done as a process, its cluster connections closed', async () => {
    const cli = startChildApp('qtasks-cli.ts', { QTASKS_REDIS_URL: nodeUrls[0]!, QTASKS_APP: uniqueAppName('cli-cluster-exit') }, ['status']);
    try {
      // A child starts slowly on a loaded machine: bounded, and well inside the test's own time.
      expect(await raceTimeout(cli.exited, 60_000, () => 'still running')).toEqual({ code: 0, signal: null });
      expect(cli.output()).toContain('queued 0  delayed 0  running 0  success 0  error 0  cancel 0');
    } finally {
      cli.kill();
    }
  }, 90_000);
});

describe('the qtasks CLI and GlobalConfig with entries written by hand or by another tool', () => {
  const { url: redisUrl, redis, apps } = appsOnTestRedis();

  it('lists a heartbeat or schedule lacking fields, and leaves out those with no id or name', async () => {
    const keys = new RedisKeys(uniqueAppName('cli-partial'));
    const aliveUntil = Date.now() + 60_000;
    const heartbeats = { partial: { id: 'partial', startedAt: 'yesterday' }, anonymous: { host: 'h', tasks: ['job'] }, text: 'not json' };
    for (const [member, heartbeat] of Object.entries(heartbeats)) {
      await redis.multi().zadd(keys.workers, aliveUntil, member).hset(keys.workerInfo, member, JSON.stringify(heartbeat)).exec();
    }
    await redis.hset(keys.schedules, { partial: JSON.stringify({ name: 'partial', every: 1000 }), anonymous: JSON.stringify({ taskName: 'job' }) });

    const workers = await qtasks('workers', '--app', keys.appName);
    expect(workers.err).toBe('');
    expect(workers.code).toBe(EXIT.ok);
    expect(workers.out).toMatch(/^workers \(1\):\npartial +0\/\? running +up since unknown/);
    const schedules = await qtasks('schedules', '--app', keys.appName);
    expect(schedules.err).toBe('');
    expect(schedules.out).toMatch(/^partial {2}\S* *every 1000 ms {2}last never {2}next unknown\n$/);
    expect((await qtasks('status', '--app', keys.appName)).code).toBe(EXIT.ok);
  });

  it('reads a setting that is not JSON as absent, alone as in the list', async () => {
    const globalConfig = new RedisGlobalConfig({ name: uniqueAppName('cli-setting'), url: redisUrl });
    await globalConfig.start();
    try {
      await globalConfig.set('limit', 5);
      await redis.hset(globalConfig.keys.settings, 'broken', '{not json');
      expect(await globalConfig.get('broken')).toBeUndefined();
      expect(await globalConfig.get('limit')).toBe(5);
      expect(await globalConfig.getAll()).toEqual({ limit: 5 });
    } finally {
      await globalConfig.stop();
    }
  });

  it('shows each app its own entries only, and an app without GlobalConfig as having none', async () => {
    const [europe, america] = await Promise.all(['cli-own-eu', 'cli-own-us'].map((label) => apps.start(label, (registered) => registered.task(label, () => 'ok'))));
    await europe!.globalConfig!.set('region', 'eu');
    await america!.globalConfig!.set('region', 'us');
    const without = await apps.start('cli-own-none', (registered) => registered.task('job', () => 'ok'), { globalConfig: null });
    await without.run('job');

    const own = JSON.parse((await qtasks('status', '--app', europe!.name, '--json')).out);
    expect(own.settings).toEqual({ region: 'eu' });
    expect(own.catalog.map(({ name }: { name: string }) => name)).toEqual(['cli-own-eu']);
    expect(own.workers.map(({ tasks }: WorkerStatus) => tasks)).toEqual([['cli-own-eu']]);
    const other = await qtasks('status', '--app', without.name);
    expect(other.code).toBe(EXIT.ok);
    expect(other.out).toContain('success 1');
    expect(other.out).toContain('tasks known: none published\nworkers: none alive');
    expect((await qtasks('settings', '--app', without.name)).out).toBe('(no settings)\n');
  });

  it('fails with exit code 1 naming an app key of another Redis type, and the dashboard answers 422', async () => {
    const keys = new RedisKeys(uniqueAppName('cli-key-type'));
    await redis.set(keys.finishedCounts, 'not a hash');
    const message = `Key ${keys.finishedCounts} holds a Redis string where this version keeps a hash`;
    const status = await qtasks('status', '--app', keys.appName);
    expect(status).toMatchObject({ code: EXIT.failed, err: expect.stringContaining(message) });
    await expectOverviewRefused(keys.appName, message);
  });

  it('fails with exit code 1 naming a finished total that holds no integer, and the dashboard answers 422, rather than showing NaN or null', async () => {
    const keys = new RedisKeys(uniqueAppName('cli-total-text'));
    await redis.hset(keys.finishedCounts, 'success', '1.5');
    const message = `Field "success" of key ${keys.finishedCounts} holds a Redis string where this version keeps an integer`;
    expect(await qtasks('status', '--app', keys.appName)).toMatchObject({ code: EXIT.failed, err: expect.stringContaining(message) });
    expect(await qtasks('status', '--app', keys.appName, '--json')).toMatchObject({ code: EXIT.failed, err: expect.stringContaining('MALFORMED_KEY') });
    await expectOverviewRefused(keys.appName, message);
  });

  it('says when nothing is stored for the app asked for (a mistyped --app)', async () => {
    const app = await apps.start('cli-typo', (registered) => registered.task('job', () => 'ok'));
    const typo = await qtasks('status', '--app', `${app.name}x`);
    expect(typo.code).toBe(EXIT.ok);
    expect(typo.out).toContain(`(nothing is stored for app "${app.name}x" here; \`qtasks apps\` lists the apps found)`);
    expect((await qtasks('status', '--app', app.name)).out).not.toContain('nothing is stored');
  });

  it('fails with exit code 1 naming the server when Redis is down, and 2 for a bad app name or URL before reaching it', async () => {
    const down = await qtasks('workers', '--url', 'redis://127.0.0.1:1');
    expect(down.code).toBe(EXIT.failed);
    expect(down.err).toMatch(/Redis at 127\.0\.0\.1:1\/0 is not reachable/);
    const badName = await qtasks('status', '--url', 'redis://127.0.0.1:1', '--app', 'a{b}');
    expect(badName.code).toBe(EXIT.usage);
    expect(badName.err).toContain('must be non-empty and contain no braces');
    for (const url of ['http://127.0.0.1:6379', 'redis://127.0.0.1:port', '127.0.0.1']) {
      const badUrl = await qtasks('status', '--url', url);
      expect(badUrl.code).toBe(EXIT.usage);
      expect(badUrl.err).toContain(`--url must be a redis:// or rediss:// URL, or a Unix socket path; got "${url}"`);
    }
  });

  it('exits 2 naming a database that is no number, and names the socket path of a Redis it cannot reach', async () => {
    for (const [url, database] of [[`${redisUrl}/abc`, 'abc'], [`${redisUrl}/2abc`, '2abc'], [`${redisUrl}?db=x`, 'x']] as const) {
      // Before the fix the command never ended (ioredis's SELECT NaN killed the process): bounded.
      const bad = await raceTimeout(qtasks('status', '--url', url), 10_000, () => ({ code: -1, out: '', err: 'no answer' }));
      expect(bad.err).toBe(`qtasks: Redis database "${database}" is not a database number: give a whole number, as in redis://127.0.0.1:6379/2 (or none, for database 0).\n`);
      expect(bad.code).toBe(EXIT.usage);
    }
    const socket = await qtasks('status', '--url', '/tmp/qtasks-no-such-redis.sock');
    expect(socket.code).toBe(EXIT.failed);
    expect(socket.err).toMatch(/^qtasks: Redis at \/tmp\/qtasks-no-such-redis\.sock is not reachable: /);
  });
});

describe('the qtasks CLI run from sources copied out of the package (as a bundler would)', () => {
  it('fails --version as a JSON error line with exit code 1 when no package.json of its own is above it', async () => {
    const copy = mkdtempSync(join(tmpdir(), 'qtasks-cli-copy-'));
    try {
      cpSync(fileURLToPath(new URL('../../lib', import.meta.url)), join(copy, 'lib'), { recursive: true });
      symlinkSync(fileURLToPath(new URL('../../node_modules', import.meta.url)), join(copy, 'node_modules'));
      const cli = startChildApp(pathToFileURL(join(copy, 'lib/cli/main.ts')), {}, ['--version', '--json']);
      try {
        expect(await raceTimeout(cli.exited, 60_000, () => 'still running')).toEqual({ code: EXIT.failed, signal: null });
        // Not an unhandled rejection's stack trace: one error in the CLI's own shape.
        expect(cli.output().trim().split('\n')).toEqual([expect.stringMatching(/^\{"error":\{"code":"INTERNAL","message":".*no package\.json of nestjs-qtasks above /)]);
      } finally {
        cli.kill();
      }
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
  }, 90_000);
});

/** The dashboard's overview of app `appName` answers 422 MALFORMED_KEY with `message`. */
async function expectOverviewRefused(appName: string, message: string): Promise<void> {
  const webView = new WebView({ name: appName, url: inject('redisUrl'), port: 0 });
  await webView.start();
  try {
    const overview = await fetch(`${webView.address}/api/overview`);
    expect(overview.status).toBe(422);
    expect(await overview.json()).toEqual({ error: { code: 'MALFORMED_KEY', message: expect.stringContaining(message) } });
  } finally {
    await webView.stop();
  }
}
