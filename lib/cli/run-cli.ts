import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { requeuedRecord } from '../brokers/broker.js';
import { RedisBroker } from '../brokers/redis/redis-broker.js';
import { InvalidOptionError, MalformedKeyError, QTasksError, RedisUnavailableError, TaskNotFoundError } from '../core/errors.js';
import { wholeNumberText } from '../core/config.js';
import { RedisGlobalConfig } from '../configs/redis/redis-global-config.js';
import { isRedisAddress, RedisConnection } from '../redis/connection.js';
import { assertAppName } from '../redis/keys.js';
import { RedisStorage } from '../storages/redis/redis-storage.js';
import type { WebViewAuth } from '../webview/basic-auth.js';
import { assertTaskState, MAX_LIST_LIMIT, QueueInspector, TASK_STATES, type QueueOverview } from '../webview/inspector.js';
import { proxyRanges } from '../webview/trusted-proxies.js';
import { allowedHostNames, assertListenHost, DEFAULT_WEBVIEW_PORT, MAX_PORT, WebView, type WebViewServerOptions } from '../webview/web-view.js';
import { formatOverview, formatRecord, formatSchedules, formatTaskList, formatWorkers, terminalSafe } from './format.js';

export const USAGE = `Usage: qtasks <command> [options]

Reads an app's queue straight from Redis; no app needs to run. Only requeue, pause and resume write.

Commands:
  status                 tasks per state, queues, live workers
  workers                live workers (from their heartbeats)
  tasks [--state S] [--limit N] [--offset N]
                         tasks in one state (${TASK_STATES.join(', ')}; default queued),
                         at most --limit of them (1 to ${MAX_LIST_LIMIT}, default 20),
                         from position --offset of its order (default 0)
  task <uuid>            one task's record
  requeue <uuid>         runs a task that ended error or cancel again
  pause [task] [--force] workers start no task (or none of this task) until resumed;
                         running tasks go on. Refused for an app that publishes no task
                         catalogue here (a mistyped --app?) unless --force
  resume [task]          ends that pause
  schedules              timer schedules with their last and next run
  settings               GlobalConfig settings
  apps                   app names found on this Redis
  web [--port N] [--host H] [--allowed-hosts A,B] [--trusted-proxies P,Q]
                         serve the dashboard until interrupted (default 127.0.0.1:${DEFAULT_WEBVIEW_PORT});
                         --allowed-hosts: more host names it may be reached by;
                         env QTASKS_WEB_AUTH=user:password: the login it asks for;
                         --trusted-proxies: addresses or CIDR ranges (10.0.0.0/8, fd00::/8)
                         of reverse proxies in front of it, whose X-Forwarded-For names
                         the client the login throttle counts
  help                   this text

Options:
  --url <url>            Redis URL (env QTASKS_REDIS_URL; default redis://127.0.0.1:6379);
                         a Redis Cluster node's URL reads the whole cluster
  --app <name>           app name (env QTASKS_APP; default QueueTasks)
  --json                 print JSON instead of text; errors then go to stderr as JSON
                         lines: {"error":{"code":"...","message":"..."}}
  --version              the package's version
`;

/** Where the CLI writes, and how it learns of an interrupt: a process, or a test. */
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  env: Record<string, string | undefined>;
  /** Resolves when the user interrupts a long-running command (`web`). */
  interrupted(): Promise<void>;
}

const PACKAGE_NAME = 'nestjs-qtasks';

/** Exit codes: 0 done, 1 the command failed (Redis down, no such task...), 2 bad usage. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

const OPTIONS = {
  url: { type: 'string' },
  app: { type: 'string' },
  json: { type: 'boolean' },
  state: { type: 'string' },
  limit: { type: 'string' },
  offset: { type: 'string' },
  port: { type: 'string' },
  host: { type: 'string' },
  'allowed-hosts': { type: 'string' },
  'trusted-proxies': { type: 'string' },
  force: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
} as const;

/** Runs one CLI command; resolves with the exit code. Everything it prints is made terminal-safe. */
export function runCli(argv: string[], io: CliIo): Promise<number> {
  return runCommand(argv, { ...io, out: (text) => io.out(terminalSafe(text)), err: (text) => io.err(terminalSafe(text)) });
}

async function runCommand(argv: string[], io: CliIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    // The options were not read: --json is looked for as given.
    if (argv.includes('--json')) printError(io, true, 'INVALID_OPTION', (error as Error).message);
    else io.err(`qtasks: ${(error as Error).message}\n\n${USAGE}`);
    return EXIT.usage;
  }
  const { values, positionals } = parsed;
  const [command = 'help', ...rest] = positionals;
  try {
    // Inside the try: a package.json out of reach (the CLI bundled elsewhere) is an error line and exit 1.
    if (values.version) {
      const version = packageVersion();
      io.out(values.json ? `${JSON.stringify({ version })}\n` : `${version}\n`);
      return EXIT.ok;
    }
    if (command === 'help' || values.help) {
      io.out(USAGE);
      return EXIT.ok;
    }
    const url = values.url ?? io.env.QTASKS_REDIS_URL ?? 'redis://127.0.0.1:6379';
    const name = values.app ?? io.env.QTASKS_APP ?? 'QueueTasks';
    // Own keys only: `toString` or `constructor` is a command no more than `bogus` is.
    const run = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
    if (!run) throw new InvalidOptionError(`unknown command "${command}"; run \`qtasks help\` for the list.`);
    const extra = rest.slice(TAKES_ARGUMENT.has(command) ? 1 : 0);
    if (extra.length > 0) throw new InvalidOptionError(`${command} takes no argument ${JSON.stringify(extra[0])}; run \`qtasks help\`.`);
    assertAppName(name);
    assertRedisUrl(url);
    return await run({ url, name, values, rest, io });
  } catch (error) {
    const usage = error instanceof InvalidOptionError;
    if (error instanceof QTasksError) printError(io, values.json, error.code, error.message);
    else printError(io, values.json, 'INTERNAL', String(error));
    return usage ? EXIT.usage : EXIT.failed;
  }
}

/**
 * Prints an error on stderr: a `qtasks:` line, or under --json one JSON object per line with the
 * error's code (the dashboard API's shape), so that a script reads stdout's data and stderr's errors apart.
 */
function printError(io: CliIo, json: boolean | undefined, code: string, message: string): void {
  io.err(json ? `${JSON.stringify({ error: { code, message } })}\n` : `qtasks: ${message}\n`);
}

/**
 * The version in this package's package.json, found by walking up from this file: the sources
 * (lib/cli) and the build (dist/lib/cli) sit at different depths below it.
 */
function packageVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    try {
      const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (manifest.name === PACKAGE_NAME && manifest.version) return manifest.version;
    } catch {
      // No package.json here (or not this package's): look one folder up.
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no package.json of ${PACKAGE_NAME} above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}

interface CommandInput {
  url: string;
  name: string;
  values: { json?: boolean; state?: string; limit?: string; offset?: string; port?: string; host?: string; 'allowed-hosts'?: string; 'trusted-proxies'?: string; force?: boolean };
  rest: string[];
  io: CliIo;
}

/**
 * A command; it checks its usage before it reaches Redis, so bad usage is told apart from Redis
 * being down (what only Redis can tell, such as a task name the app lacks, is checked there).
 */
type Command = (input: CommandInput) => Promise<number>;

const COMMANDS: Record<string, Command> = {
  status: (input) => inspectOverview(input, (overview, where) => [overview, formatOverview(overview, where)]),
  workers: (input) => inspectOverview(input, ({ workers }) => [workers, formatWorkers(workers)]),
  tasks: (input) => {
    const state = input.values.state ?? 'queued';
    assertTaskState(state);
    const limit = wholeNumberText('--limit', input.values.limit ?? '20', 1, MAX_LIST_LIMIT);
    const offset = wholeNumberText('--offset', input.values.offset ?? '0', 0);
    return inspect(input, async (inspector) => {
      const list = await inspector.tasks(state, limit, offset);
      return [list, formatTaskList(list)];
    });
  },
  task: (input) => {
    const uuid = uuidArgument('task', input.rest);
    return inspect(input, async (inspector) => {
      const record = await inspector.task(uuid);
      if (!record) throw new TaskNotFoundError(uuid);
      return [record, formatRecord(record)];
    });
  },
  requeue: (input) => {
    const uuid = uuidArgument('requeue', input.rest);
    return withRedis(input, async (connection) => {
      const record = requeuedRecord(uuid, await appBroker(input.name, connection).requeue(uuid));
      return [record, `requeued ${uuid} (${record.taskName}): status new, attempt 1`];
    });
  },
  pause: (input) => setPaused(input, true),
  resume: (input) => setPaused(input, false),
  schedules: (input) => inspectOverview(input, ({ schedules }) => [schedules, formatSchedules(schedules)]),
  settings: (input) =>
    inspectOverview(input, ({ settings }) => [settings, Object.entries(settings).map(([key, value]) => `${key} = ${JSON.stringify(value)}`).join('\n') || '(no settings)']),
  apps: (input) => inspect(input, async (inspector) => {
    const apps = await inspector.apps();
    return [apps, apps.join('\n') || '(no apps found)'];
  }),
  web: async ({ url, name, values, io }) => {
    const server = webServerOptions(values);
    const auth = webAuth(io.env.QTASKS_WEB_AUTH);
    // Redis down now: the dashboard serves anyway (its API answers 503) and reaches the URL's
    // server once it is back, as a single Redis.
    const connection = await openUrl(url).catch((error: unknown) => {
      if (error instanceof RedisUnavailableError) return undefined;
      throw error;
    });
    try {
      const webView = new WebView({ ...(connection ? { connection } : { url }), name, ...server, auth });
      await webView.start();
      io.out(`dashboard of ${name} at ${webView.address} (Ctrl-C to stop)\n`);
      try {
        await io.interrupted();
      } finally {
        await webView.stop();
      }
    } finally {
      await connection?.close();
    }
    return EXIT.ok;
  },
};

/**
 * The dashboard's options as given, checked by WebView's own checks but named as options here, so
 * that a typo is usage (exit 2) found before Redis is tried, not the dashboard failing after.
 */
function webServerOptions(values: CommandInput['values']): WebViewServerOptions {
  const port = wholeNumberText('--port', values.port ?? String(DEFAULT_WEBVIEW_PORT), 0, MAX_PORT);
  const host = values.host ?? '127.0.0.1';
  assertListenHost(host, '--host');
  const allowedHosts = commaList(values['allowed-hosts']);
  allowedHostNames(allowedHosts, '--allowed-hosts');
  const trustedProxies = commaList(values['trusted-proxies']);
  proxyRanges(trustedProxies, '--trusted-proxies');
  return { port, host, allowedHosts, trustedProxies };
}

/** The entries of an option given as `a,b` (none when it is not given). */
function commaList(given: string | undefined): string[] {
  return given?.split(',').map((entry) => entry.trim()).filter(Boolean) ?? [];
}

/** The dashboard's login from QTASKS_WEB_AUTH (`user:password`; an environment variable stays out of `ps`). */
function webAuth(given: string | undefined): WebViewAuth | undefined {
  if (given === undefined) return undefined;
  const colon = given.indexOf(':');
  if (colon < 1) throw new InvalidOptionError('QTASKS_WEB_AUTH must be user:password.');
  return { user: given.slice(0, colon), password: given.slice(colon + 1) };
}

/** The app's broker on `connection`, for the commands that write. */
function appBroker(name: string, connection: RedisConnection): RedisBroker {
  return new RedisBroker({ storage: new RedisStorage({ name, connection, globalConfig: null }) });
}

/**
 * Pauses or resumes the queue, or the task the command names. A pause is checked against the app's
 * published catalogue, as a mistyped --app or task name would pause nothing that runs (--force
 * skips the check for an app that publishes none); a resume is not (it may end a pause of a task
 * since removed).
 */
function setPaused(input: CommandInput, paused: boolean): Promise<number> {
  const [taskName] = input.rest;
  return withRedis(input, async (connection) => {
    if (paused) {
      const known = (await new RedisGlobalConfig({ name: input.name, connection }).catalog()).map((task) => task.name);
      if (known.length === 0 && !input.values.force) {
        throw new InvalidOptionError(`app ${input.name} publishes no task catalogue here (a mistyped --app?); nothing was paused. Give --force to pause it all the same.`);
      }
      if (taskName !== undefined && known.length > 0 && !known.includes(taskName)) {
        throw new InvalidOptionError(`app ${input.name} has no task "${taskName}"; its tasks: ${known.join(', ')}.`);
      }
    }
    await appBroker(input.name, connection).setPaused(paused, taskName);
    const what = taskName === undefined ? 'the queue' : `task ${taskName}`;
    return [{ paused, task: taskName ?? null }, `${paused ? 'paused' : 'resumed'} ${what} of ${input.name}`];
  });
}

/** The Redis at `url`, a single server or a cluster node (see RedisConnection.openUrl). */
function openUrl(url: string): Promise<RedisConnection> {
  // A CLI call should say at once that Redis is down, not hang.
  return RedisConnection.openUrl(url, 'fail');
}

/** Runs `read` on an inspector of the app and prints its answer as JSON or as text. */
function inspect(input: CommandInput, read: (inspector: QueueInspector) => Promise<[data: unknown, text: string]>): Promise<number> {
  return withRedis(input, (connection) => read(new QueueInspector({ name: input.name, connection })));
}

/**
 * Prints what `show` takes from the app's overview. GlobalConfig keys it could not read (another
 * Redis type) are then named on stderr, and the command fails (exit 1): what it printed lacks their part.
 */
async function inspectOverview(input: CommandInput, show: (overview: QueueOverview, where: string) => [data: unknown, text: string]): Promise<number> {
  let unreadable: QueueOverview['unreadable'] = [];
  const code = await inspect(input, async (inspector) => {
    const overview = await inspector.overview();
    unreadable = overview.unreadable;
    return show(overview, inspector.connection.describe());
  });
  for (const { key, type, expected } of unreadable) {
    const error = new MalformedKeyError(key, type, expected);
    printError(input.io, input.values.json, error.code, error.message);
  }
  return unreadable.length > 0 ? EXIT.failed : code;
}

/** Runs `use` on a connection to the app's Redis and prints its answer as JSON or as text. */
async function withRedis(
  { url, values, io }: CommandInput,
  use: (connection: RedisConnection) => Promise<[data: unknown, text: string]>,
): Promise<number> {
  const connection = await openUrl(url);
  try {
    const [data, text] = await use(connection);
    io.out(values.json ? `${JSON.stringify(data, null, 2)}\n` : `${text}\n`);
    return EXIT.ok;
  } finally {
    await connection.close();
  }
}

/** Commands that take one argument: a task's uuid, or (optional) a task name. */
const TAKES_ARGUMENT = new Set(['task', 'requeue', 'pause', 'resume']);

function uuidArgument(command: string, rest: string[]): string {
  const [uuid] = rest;
  if (!uuid) throw new InvalidOptionError(`${command} needs a uuid: qtasks ${command} <uuid>`);
  return uuid;
}

/** Refuses what ioredis would misread: it takes `http://host` for a socket path, and throws a TypeError on a bad port. */
function assertRedisUrl(url: string): void {
  if (!isRedisAddress(url)) {
    throw new InvalidOptionError(`--url must be a redis:// or rediss:// URL, or a Unix socket path; got "${url}".`);
  }
}
