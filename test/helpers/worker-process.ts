import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const LOADER = fileURLToPath(new URL('./ts-loader/register.mjs', import.meta.url));

/** A message a fixture sent to the test with `process.send`. */
export type FixtureEvent = { event: string } & Record<string, unknown>;

export interface ChildWorker {
  readonly pid: number;
  /** Every message received so far. */
  readonly events: FixtureEvent[];
  /** stdout and stderr so far (Nest logger output lands here). */
  output(): string;
  /** Resolves with the first message (past or future) that matches; rejects after timeoutMs or on exit. */
  waitFor(match: (event: FixtureEvent) => boolean, timeoutMs?: number): Promise<FixtureEvent>;
  /** Resolves when the process has exited, with its signal (e.g. 'SIGKILL') or code. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGKILL, and waits for the exit. */
  kill(): Promise<void>;
  /** SIGTERM (graceful stop), and waits for the exit. */
  stop(): Promise<void>;
}

/**
 * Runs a TypeScript fixture (e.g. a Nest worker app) in its own Node process, compiled on the fly
 * by test/helpers/ts-loader, and (unless `awaitReady` is false) waits until it sends
 * `{ event: 'ready' }`. The fixture talks back over the IPC channel; `env` is added to the test's
 * environment.
 */
export async function startChildWorker(
  fixture: string | URL,
  env: Record<string, string> = {},
  { awaitReady = true, readyTimeoutMs = 20_000 } = {},
): Promise<ChildWorker> {
  const path = fixture instanceof URL ? fileURLToPath(fixture) : fixture;
  const child = spawn(process.execPath, ['--import', LOADER, path], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  const events: FixtureEvent[] = [];
  const listeners = new Set<() => void>();
  let text = '';
  child.stdout!.on('data', (chunk: Buffer) => (text += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (text += chunk.toString()));
  child.on('message', (message) => {
    events.push(message as FixtureEvent);
    for (const listener of [...listeners]) listener();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      for (const listener of [...listeners]) listener();
      resolve({ code, signal });
    }),
  );

  const waitFor = (match: (event: FixtureEvent) => boolean, timeoutMs = 20_000) =>
    new Promise<FixtureEvent>((resolve, reject) => {
      const timer = setTimeout(() => done(new Error(`no matching message from ${path} within ${timeoutMs} ms:\n${text}`)), timeoutMs);
      const check = () => {
        const found = events.find(match);
        if (found) done(undefined, found);
        else if (child.exitCode !== null || child.signalCode !== null) {
          done(new Error(`${path} exited (${child.exitCode ?? child.signalCode}) before the expected message:\n${text}`));
        }
      };
      const done = (error?: Error, event?: FixtureEvent) => {
        clearTimeout(timer);
        listeners.delete(check);
        if (error) reject(error);
        else resolve(event!);
      };
      listeners.add(check);
      check();
    });

  const signal = async (name: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(name);
    await exited;
  };

  const handle: ChildWorker = {
    pid: child.pid!,
    events,
    output: () => text,
    waitFor,
    exited,
    kill: () => signal('SIGKILL'),
    stop: () => signal('SIGTERM'),
  };
  if (!awaitReady) return handle;
  try {
    await waitFor((event) => event.event === 'ready', readyTimeoutMs);
  } catch (error) {
    await handle.kill();
    throw error;
  }
  return handle;
}

/** Kills whatever is still running (for afterAll/afterEach). */
export async function killAll(workers: Iterable<ChildWorker | undefined>): Promise<void> {
  await Promise.all([...workers].map((worker) => worker?.kill()));
}
