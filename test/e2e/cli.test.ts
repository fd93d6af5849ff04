import { readFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { EXIT, runCli, USAGE } from '../../lib/cli/run-cli.js';
import { raceTimeout } from '../../lib/core/timing.js';
import { RedisGlobalConfig, type TaskRecord } from '../../lib/index.js';
import { RedisKeys } from '../../lib/redis/keys.js';
import { startChildApp } from '../helpers/child-app.js';
import { Gate } from '../helpers/gate.js';
import { uniqueAppName } from '../helpers/names.js';
import { plainApps } from '../helpers/plain-app.js';
import { qtasks } from '../helpers/qtasks-cli.js';

describe('the qtasks CLI', () => {
  const apps = plainApps(inject('redisUrl'));
  afterAll(() => apps.stopAll());

  it('shows an app’s counts, queues, workers, tasks and one record, as text and as JSON', async () => {
    const gate = new Gate();
    const app = await apps.start('cli', (registered) => {
      registered.task('double', (x: number) => x * 2);
      registered.task('boom', () => {
        throw new RangeError('out of range');
      });
      registered.task('hold', () => gate.pass());
    });
    const done = await app.run('double', [21]);
    const failed = await app.run('boom');
    const held = await app.add('hold');
    await gate.reached;

    const status = await qtasks('status', '--app', app.name);
    expect(status.code).toBe(EXIT.ok);
    expect(status.out).toContain(`app ${app.name} on 127.0.0.1:`);
    expect(status.out).toContain('queued 0  delayed 0  running 1  success 1  error 1  cancel 0');
    expect(status.out).toMatch(/workers \(1\):\n\S+:\d+:\S+ +\d+\/10 running/);

    const json = JSON.parse((await qtasks('status', '--app', app.name, '--json')).out);
    expect(json.counts).toEqual({ queued: 0, delayed: 0, running: 1, success: 1, error: 1, cancel: 0 });

    const running = await qtasks('tasks', '--app', app.name, '--state', 'running');
    expect(running.out).toContain(held.uuid);
    expect(running.out).toContain('hold');
    const errors = await qtasks('tasks', '--app', app.name, '--state', 'error', '--json');
    expect(JSON.parse(errors.out).tasks.map(({ uuid }: { uuid: string }) => uuid)).toEqual([failed.uuid]);

    const record = await qtasks('task', done.uuid, '--app', app.name);
    expect(record.code).toBe(EXIT.ok);
    expect(record.out).toMatch(/status +success/);
    expect(record.out).toMatch(/result +42/);
    expect(record.out).toMatch(/args +\[21\]/);
    const traceback = await qtasks('task', failed.uuid, '--app', app.name);
    expect(traceback.out).toContain('RangeError: out of range');

    expect((await qtasks('workers', '--app', app.name)).out).toContain('double, boom, hold');
    expect((await qtasks('apps')).out.split('\n')).toContain(app.name);
    gate.open();
  });

  it('lists the schedules with their timing: a cron expression with its time zone, or the interval', async () => {
    const globalConfig = new RedisGlobalConfig({ name: uniqueAppName('cli-schedules'), url: inject('redisUrl') });
    await globalConfig.start();
    try {
      const base = { taskName: 'report', args: [], catchUp: false };
      await globalConfig.publishSchedule({ ...base, name: 'morning', cron: '0 9 * * 1-5', timezone: 'Europe/Paris' }, new Date(Date.UTC(2030, 0, 1, 8)));
      await globalConfig.publishSchedule({ ...base, name: 'hourly', cron: '0 * * * *' }, new Date(Date.UTC(2030, 0, 1, 9)));
      await globalConfig.publishSchedule({ ...base, name: 'fast', every: 5000 }, new Date(Date.UTC(2030, 0, 1)));
      const listed = await qtasks('schedules', '--app', globalConfig.keys.appName);
      expect(listed.code).toBe(EXIT.ok);
      expect(listed.out.split('\n').sort()).toEqual([
        '',
        'fast     report  every 5000 ms               last never  next 2030-01-01T00:00:00.000Z',
        'hourly   report  0 * * * *                   last never  next 2030-01-01T09:00:00.000Z',
        'morning  report  0 9 * * 1-5 (Europe/Paris)  last never  next 2030-01-01T08:00:00.000Z',
      ]);
    } finally {
      await globalConfig.stop();
    }
  });

  it('requeues a failed task, which the app’s worker runs again; refuses others with exit code 1', async () => {
    let fixed = false;
    const app = await apps.start('cli-requeue', (registered) => {
      registered.task('flaky', () => {
        if (!fixed) throw new Error('not yet');
        return 'done';
      });
    });
    const failed = await app.run('flaky', [], { timeout: 15_000 });
    expect(failed.status).toBe('error');
    fixed = true;

    const requeued = await qtasks('requeue', failed.uuid, '--app', app.name);
    expect(requeued).toMatchObject({ code: EXIT.ok, out: `requeued ${failed.uuid} (flaky): status new, attempt 1\n` });
    expect(await app.wait(failed.uuid, { timeout: 15_000 })).toMatchObject({ status: 'success', returning: 'done' });

    const again = await qtasks('requeue', failed.uuid, '--app', app.name);
    expect(again.code).toBe(EXIT.failed);
    expect(again.err).toContain(`Task ${failed.uuid} is success; only a task that ended error or cancel can be requeued.`);
    expect((await qtasks('requeue', 'no-such-task', '--app', app.name)).err).toContain('No task with uuid no-such-task.');
    expect((await qtasks('requeue', '--app', app.name)).code).toBe(EXIT.usage);
  });

  it('prints control characters of task data as escapes, so that a traceback or task name cannot drive the terminal', async () => {
    // Retitles the terminal, clears it, and an 8-bit CSI.
    const hostile = '\u001b]0;owned\u0007\u001b[2J\u009b31m';
    const app = await apps.start('cli-control', (registered) => registered.task(`job${hostile}`, (message: string) => {
      throw new Error(message);
    }));
    const failed = await app.run(`job${hostile}`, [`bad ${hostile}`]);
    for (const argv of [['task', failed.uuid], ['task', failed.uuid, '--json'], ['tasks', '--state', 'error'], ['status'], ['task', `x${hostile}`]]) {
      const { out, err } = await qtasks(...argv, '--app', app.name);
      expect(out + err).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/);
    }
    const shown = await qtasks('task', failed.uuid, '--app', app.name);
    expect(shown.out).toContain('Error: bad \\u001b]0;owned\\u0007\\u001b[2J\\u009b31m\n');
    // JSON output gives the stored text back as it is.
    const record = JSON.parse((await qtasks('task', failed.uuid, '--app', app.name, '--json')).out) as TaskRecord;
    expect(record.traceback).toContain(`Error: bad ${hostile}\n`);
    expect(record.taskName).toBe(`job${hostile}`);
  });

  it('lists a state page by page with --offset, saying where the next page starts', async () => {
    const producer = await apps.start('cli-pages', (registered) => registered.task('job', () => undefined), { worker: false });
    const added = (await producer.addBulk(Array.from({ length: 5 }, (_, index) => ({ name: 'job', args: [index] })))).map(({ uuid }) => uuid);
    const first = await qtasks('tasks', '--app', producer.name, '--limit', '2');
    expect(first.out).toContain('(more follow: --offset 2)');
    const page = JSON.parse((await qtasks('tasks', '--app', producer.name, '--limit', '2', '--offset', '4', '--json')).out);
    expect(page).toMatchObject({ offset: 4, nextOffset: null });
    expect(page.tasks.map(({ uuid }: { uuid: string }) => uuid)).toEqual(added.slice(4));
    expect(await qtasks('tasks', '--app', producer.name, '--offset', '-1')).toMatchObject({ code: EXIT.usage });
  });

  it('answers bad usage with exit code 2 and a message naming the problem', async () => {
    const unknownCommand = await qtasks('frobnicate');
    expect(unknownCommand.code).toBe(EXIT.usage);
    expect(unknownCommand.err).toContain('unknown command "frobnicate"');
    // Names every JavaScript object has are no commands either.
    for (const inherited of ['toString', 'constructor', '__proto__', 'hasOwnProperty']) {
      expect(await qtasks(inherited)).toMatchObject({ code: EXIT.usage, err: expect.stringContaining(`unknown command "${inherited}"`) });
    }
    const unknownOption = await qtasks('status', '--colour');
    expect(unknownOption.code).toBe(EXIT.usage);
    expect(unknownOption.err).toContain("Unknown option '--colour'");
    const badState = await qtasks('tasks', '--state', 'finished');
    expect(badState.code).toBe(EXIT.usage);
    expect(badState.err).toContain('Unknown task state "finished"');
    const badLimit = await qtasks('tasks', '--limit', 'ten');
    expect(badLimit.code).toBe(EXIT.usage);
    expect(badLimit.err).toContain('--limit must be a whole number from 1 to 1000, got "ten"');
    // The dashboard's API answers at most 1000 tasks a page: the CLI asks no more.
    const overLimit = await qtasks('tasks', '--limit', '1001', '--app', uniqueAppName('cli-numbers'));
    expect(overLimit).toMatchObject({ code: EXIT.usage, err: expect.stringContaining('--limit must be a whole number from 1 to 1000, got "1001"') });
    expect(await qtasks('tasks', '--limit', '1000', '--app', uniqueAppName('cli-numbers'))).toMatchObject({ code: EXIT.ok });
    // Past the safe range the number would be rounded: refused as written, naming the range.
    const hugeOffset = await qtasks('tasks', '--offset', '99999999999999999999');
    expect(hugeOffset).toMatchObject({ code: EXIT.usage, err: expect.stringContaining('--offset must be a whole number from 0 to 9007199254740991, got "99999999999999999999"') });
    // No TCP port: refused as usage before Redis is reached (none answers at this URL), naming the range.
    const overPort = await qtasks('web', '--port', '70000', '--url', 'redis://127.0.0.1:1', '--app', uniqueAppName('cli-numbers'));
    expect(overPort).toEqual({ code: EXIT.usage, out: '', err: 'qtasks: --port must be a whole number from 0 to 65535, got "70000".\n' });
    // So are the dashboard's other options, named as given: the message is all it prints, no word of Redis.
    for (const [option, given, refusal] of [
      ['--allowed-hosts', 'tasks.example.com,a b', '--allowed-hosts must hold host names, got "a b".'],
      ['--trusted-proxies', '10.0.0.1,proxy.example', '--trusted-proxies must hold IP addresses or CIDR ranges, got "proxy.example".'],
      ['--trusted-proxies', '10.0.0.0/33', 'the prefix length of --trusted-proxies entry "10.0.0.0/33" must be a whole number from 0 to 32, got "33".'],
      ['--host', '127.0.0.1:8180', '--host must be an IP address or a host name, got "127.0.0.1:8180".'],
    ]) {
      const refused = await qtasks('web', '--port', '0', option!, given!, '--url', 'redis://127.0.0.1:1', '--app', uniqueAppName('cli-web-usage'));
      expect(refused).toEqual({ code: EXIT.usage, out: '', err: `qtasks: ${refusal}\n` });
    }
    // Number() would read these as 1000, 16, 5 and 0 (any free port).
    for (const [option, given] of [['--limit', '1e3'], ['--limit', '0x10'], ['--limit', '+5'], ['--port', ''], ['--port', ' ']]) {
      const command = option === '--port' ? 'web' : 'tasks';
      const refused = await qtasks(command, option, given!, '--app', uniqueAppName('cli-numbers'));
      expect(refused).toMatchObject({ code: EXIT.usage, err: expect.stringContaining(`${option} must be a whole number`) });
    }
    const noUuid = await qtasks('task');
    expect(noUuid.code).toBe(EXIT.usage);
    expect(noUuid.err).toContain('task needs a uuid');
    const extra = await qtasks('status', 'now');
    expect(extra.code).toBe(EXIT.usage);
    expect(extra.err).toContain('status takes no argument "now"');
    // Told apart from Redis being down: usage is checked before Redis is reached.
    const down = 'redis://127.0.0.1:1';
    expect((await qtasks('tasks', '--state', 'finished', '--url', down)).code).toBe(EXIT.usage);
    expect((await qtasks('task', '--url', down)).code).toBe(EXIT.usage);
    expect((await qtasks('task', 'a', 'b', '--url', down)).err).toContain('task takes no argument "b"');
    expect((await qtasks('help')).out).toBe(USAGE);
  });

  it('fails with exit code 1 for an unknown task, a malformed record and when Redis is down', async () => {
    const missing = await qtasks('task', 'no-such-uuid', '--app', 'cli-missing');
    expect(missing.code).toBe(EXIT.failed);
    expect(missing.err).toContain('no-such-uuid');
    const redis = new Redis(inject('redisUrl'));
    await redis.set('qtasks:{cli-malformed}:t:broken', 'not a record');
    await redis.hset('qtasks:{cli-malformed}:t:hashed', 'field', 'value');
    redis.disconnect();
    const malformed = await qtasks('task', 'broken', '--app', 'cli-malformed');
    expect(malformed.code).toBe(EXIT.failed);
    expect(malformed.err).toContain('broken');
    expect(malformed.err).toContain('not JSON');
    const wrongType = await qtasks('task', 'hashed', '--app', 'cli-malformed');
    expect(wrongType.code).toBe(EXIT.failed);
    expect(wrongType.err).toContain('Task record hashed in storage is malformed: the key holds a Redis hash, not a task record.');
    // Listed apart, not failing the list.
    const listed = await qtasks('tasks', '--state', 'success', '--app', 'cli-malformed');
    expect(listed.code).toBe(0);
    expect(listed.out).toContain('malformed record hashed: the key holds a Redis hash, not a task record');
    const down = await qtasks('status', '--url', 'redis://127.0.0.1:1');
    expect(down.code).toBe(EXIT.failed);
    expect(down.err).toMatch(/Redis .*127\.0\.0\.1:1/);
  });

  it('prints errors under --json as one JSON object per line on stderr, with the error code, and exits as without it', async () => {
    const parse = (text: string) => text.trimEnd().split('\n').map((line) => JSON.parse(line) as { error: { code: string; message: string } });
    const missing = await qtasks('task', 'no-such-uuid', '--app', 'cli-json-missing', '--json');
    expect(missing).toMatchObject({ code: EXIT.failed, out: '' });
    expect(parse(missing.err)).toEqual([{ error: { code: 'TASK_NOT_FOUND', message: expect.stringContaining('no-such-uuid') } }]);
    const down = await qtasks('status', '--url', 'redis://127.0.0.1:1', '--json');
    expect(down.code).toBe(EXIT.failed);
    expect(parse(down.err)).toEqual([{ error: { code: 'REDIS_UNAVAILABLE', message: expect.stringContaining('127.0.0.1:1') } }]);
    for (const argv of [['status', '--colour'], ['tasks', '--state', 'finished'], ['frobnicate']]) {
      const usage = await qtasks(...argv, '--json');
      expect(usage.code).toBe(EXIT.usage);
      expect(parse(usage.err)).toEqual([{ error: { code: 'INVALID_OPTION', message: expect.any(String) } }]);
    }
    // The data the command could read on stdout, the key it could not on stderr.
    const keys = new RedisKeys(uniqueAppName('cli-json-key'));
    const redis = new Redis(inject('redisUrl'));
    await redis.set(keys.catalog, 'not a hash');
    redis.disconnect();
    const partial = await qtasks('status', '--app', keys.appName, '--json');
    expect(partial.code).toBe(EXIT.failed);
    expect(JSON.parse(partial.out)).toMatchObject({ app: keys.appName, unreadable: [{ key: keys.catalog }] });
    expect(parse(partial.err)).toEqual([{ error: { code: 'MALFORMED_KEY', message: expect.stringContaining(keys.catalog) } }]);
  });

  it('prints the package version (`qtasks --version`)', async () => {
    const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(await qtasks('--version')).toEqual({ code: EXIT.ok, out: `${version}\n`, err: '' });
    expect(JSON.parse((await qtasks('--version', '--json')).out)).toEqual({ version });
    expect(USAGE).toContain('--version');
  });

  it('serves the dashboard as a process until interrupted (`qtasks web`)', async () => {
    const app = await apps.start('cli-web', (registered) => registered.task('job', () => 'ok'));
    await app.run('job');
    const web = startChildApp('qtasks-cli.ts', { QTASKS_REDIS_URL: inject('redisUrl'), QTASKS_APP: app.name }, ['web', '--port', '0']);
    try {
      await web.waitFor('(Ctrl-C to stop)');
      const address = /at (http:\/\/\S+) /.exec(web.output())![1]!;
      const overview = (await (await fetch(`${address}/api/overview`)).json()) as { counts: { success: number } };
      expect(overview.counts.success).toBe(1);
      web.kill('SIGINT');
      expect(await web.exited).toEqual({ code: 0, signal: null });
    } finally {
      web.kill();
    }
  }, 90_000);

  it('serves the dashboard behind the login QTASKS_WEB_AUTH gives (`qtasks web`)', async () => {
    const name = uniqueAppName('cli-web-auth');
    const env = { QTASKS_REDIS_URL: inject('redisUrl'), QTASKS_APP: name, QTASKS_WEB_AUTH: 'ops:secret' };
    const web = startChildApp('qtasks-cli.ts', env, ['web', '--port', '0']);
    try {
      await web.waitFor('(Ctrl-C to stop)');
      const address = /at (http:\/\/\S+) /.exec(web.output())![1]!;
      expect((await fetch(`${address}/api/overview`)).status).toBe(401);
      const login = { authorization: `Basic ${Buffer.from('ops:secret').toString('base64')}` };
      expect((await fetch(`${address}/api/overview`, { headers: login })).status).toBe(200);
      web.kill('SIGINT');
      expect(await web.exited).toEqual({ code: 0, signal: null });
    } finally {
      web.kill();
    }
    let err = '';
    const io = { out: () => undefined, err: (text: string) => (err += text), env: { QTASKS_WEB_AUTH: 'ops' }, interrupted: () => Promise.resolve() };
    expect(await runCli(['web', '--port', '0', '--app', name], io)).toBe(EXIT.usage);
    expect(err).toContain('QTASKS_WEB_AUTH must be user:password');
  }, 90_000);

  it('counts failed logins per client behind the proxies --trusted-proxies names (`qtasks web`)', async () => {
    const gate = new Gate();
    let out = '';
    let err = '';
    const env = { QTASKS_REDIS_URL: inject('redisUrl'), QTASKS_WEB_AUTH: 'ops:secret' };
    const io = { out: (text: string) => (out += text), err: (text: string) => (err += text), env, interrupted: () => gate.pass() };
    const app = uniqueAppName('cli-web-proxy');
    // The test's requests come from 127.0.0.1: here, the proxy.
    const served = runCli(['web', '--port', '0', '--trusted-proxies', '192.0.2.1, 127.0.0.1', '--app', app], io);
    try {
      const ended = served.then((code) => expect.fail(`qtasks web ended with ${code}: ${err}`));
      await raceTimeout(Promise.race([gate.reached, ended]), 30_000, () => expect.fail('qtasks web not serving within 30 s'));
      const address = /at (http:\/\/\S+) /.exec(out)![1]!;
      const status = async (credentials: string, forwardedFor: string) =>
        (await fetch(`${address}/api/overview`, { headers: { authorization: `Basic ${Buffer.from(credentials).toString('base64')}`, 'x-forwarded-for': forwardedFor } })).status;
      // Five failures, the default, make a client wait.
      for (let attempt = 1; attempt <= 5; attempt++) expect(await status('ops:guess', '203.0.113.1')).toBe(401);
      expect(await status('ops:secret', '203.0.113.1')).toBe(429);
      expect(await status('ops:secret', '203.0.113.2')).toBe(200);
    } finally {
      gate.open();
    }
    expect(await served).toBe(EXIT.ok);
    const refused = await qtasks('web', '--port', '0', '--trusted-proxies', '127.0.0.1,proxy.example', '--app', app);
    expect(refused).toMatchObject({ code: EXIT.usage, err: expect.stringContaining('--trusted-proxies must hold IP addresses or CIDR ranges, got "proxy.example"') });
  });

  it('ends quietly when its reader closes the pipe early (`qtasks tasks | head`)', async () => {
    const producer = await apps.start('cli-pipe', (registered) => registered.task('job', () => undefined), { worker: false });
    // Far more output than a pipe buffers, so that writes go on after the reader is gone.
    await producer.addBulk(Array.from({ length: 1000 }, (_, index) => ({ name: 'job', args: [index] })));
    const env = { QTASKS_REDIS_URL: inject('redisUrl'), QTASKS_APP: producer.name };
    const cli = startChildApp('qtasks-cli.ts', env, ['tasks', '--limit', '1000', '--json']);
    try {
      await cli.waitFor('"state": "queued"');
      cli.process.stdout!.destroy();
      expect(await raceTimeout(cli.exited, 60_000, () => 'still running')).toEqual({ code: EXIT.ok, signal: null });
      expect(cli.output()).not.toContain('EPIPE');
    } finally {
      cli.kill();
    }
  }, 90_000);

  it('keeps the exit code of a failing command when its reader closes the pipe early', async () => {
    // status prints what it read, then fails for the key it could not read.
    const keys = new RedisKeys(uniqueAppName('cli-pipe-failed'));
    const redis = new Redis(inject('redisUrl'));
    await redis.set(keys.catalog, 'not a hash');
    redis.disconnect();
    const cli = startChildApp('qtasks-cli.ts', { QTASKS_REDIS_URL: inject('redisUrl'), QTASKS_APP: keys.appName }, ['status']);
    try {
      // Closed before the child, still compiling its sources, writes anything.
      cli.process.stdout!.destroy();
      expect(await raceTimeout(cli.exited, 60_000, () => 'still running')).toEqual({ code: EXIT.failed, signal: null });
      expect(cli.output()).toContain(`Key ${keys.catalog} holds a Redis string`);
      expect(cli.output()).not.toContain('EPIPE');
    } finally {
      cli.kill();
    }
  }, 90_000);

  it('fails `qtasks web` on a port in use, saying so', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const { port } = blocker.address() as AddressInfo;
    try {
      const web = await qtasks('web', '--port', String(port), '--app', uniqueAppName('cli-web-taken'));
      expect(web.code).toBe(EXIT.failed);
      expect(web.err).toBe(`qtasks: The dashboard (webview) cannot listen on 127.0.0.1:${port}: the port is already in use (EADDRINUSE): give the webview a free port, or 0 for any.\n`);
    } finally {
      blocker.close();
    }
  });
});
