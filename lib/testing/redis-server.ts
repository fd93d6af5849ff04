import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QTasksError } from '../core/errors.js';

/** A private redis-server could not be started: the binary is missing, or it exited or never got ready. */
export class RedisServerError extends QTasksError {
  declare readonly code: 'REDIS_SERVER';

  constructor(message: string) {
    super('REDIS_SERVER', message);
  }
}

export interface RedisServerHandle {
  port: number;
  url: string;
  /** Stops the server (SIGTERM) and waits for its exit. */
  stop(): Promise<void>;
  /** Starts it again on the same port and data directory (keeps the append-only file). */
  restart(): Promise<void>;
  /** Kills and removes the data directory. */
  destroy(): Promise<void>;
}

export interface RedisServerOptions {
  /** The server binary; default `redis-server` from PATH. */
  binary?: string;
  appendOnly?: boolean;
  extraArgs?: string[];
}

/** True when `binary` runs (is on PATH). */
export function isRedisInstalled(binary = 'redis-server'): boolean {
  const probe = spawnSync(binary, ['--version'], { encoding: 'utf8' });
  return !probe.error && probe.status === 0;
}

/** Throws a message naming the package to install when redis-server is missing. */
export function assertRedisInstalled(binary = 'redis-server'): void {
  if (!isRedisInstalled(binary)) {
    throw new RedisServerError(
      `${binary} was not found on PATH. A real Redis is needed here: install the Debian package ` +
        `"redis-server" (apt-get install -y redis-server), or run .ci/run which does it.`,
    );
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new RedisServerError('the system gave no free loopback port')),
      );
    });
  });
}

/**
 * Free ports tried at most: a port found free may be taken by another process (a parallel test's
 * server or listener) before the server listens on it.
 */
const PORT_ATTEMPTS = 3;

/** Starts a private redis-server on a free loopback port. */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServerHandle> {
  const binary = options.binary ?? 'redis-server';
  assertRedisInstalled(binary);
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnPort(binary, await freePort(), options);
    } catch (error) {
      if (!(error instanceof RedisServerError && error.message.includes('Address already in use')) || attempt === PORT_ATTEMPTS) throw error;
    }
  }
}

async function startOnPort(binary: string, port: number, options: RedisServerOptions): Promise<RedisServerHandle> {
  const dir = mkdtempSync(join(tmpdir(), 'qtasks-redis-'));
  const args = [
    '--port', String(port),
    '--bind', '127.0.0.1',
    '--save', '',
    '--dir', dir,
    '--appendonly', options.appendOnly ? 'yes' : 'no',
    ...(options.extraArgs ?? []),
  ];
  let child: ChildProcess | undefined;
  // A parent that exits without stopping it (a crash, process.exit) must not leave it running.
  const killOnExit = () => child?.kill('SIGKILL');

  const launch = async () => {
    process.off('exit', killOnExit).on('exit', killOnExit);
    child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    await waitForReady(child, port);
  };
  const stop = async () => {
    const running = child;
    child = undefined;
    process.off('exit', killOnExit);
    // Exited already: with a code, or killed by a signal (its exitCode then stays null).
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => running.once('exit', () => resolve()));
    running.kill('SIGTERM');
    await exited;
  };
  try {
    await launch();
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    stop,
    restart: launch,
    destroy: async () => {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function waitForReady(child: ChildProcess, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => fail(new RedisServerError(`redis-server on port ${port} not ready after 10 s:\n${output}`)), 10_000);
    const fail = (error: Error) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(error);
    };
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('Ready to accept connections')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => fail(new RedisServerError(`redis-server on port ${port} exited with code ${code}:\n${output}`)));
  });
}
