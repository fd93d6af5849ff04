import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The tests' TypeScript loader (`--import` it), for processes and threads that run the sources. */
export const REGISTER_TS = fileURLToPath(new URL('./register-ts.mjs', import.meta.url));

export interface ChildApp {
  process: ChildProcess;
  /** Everything the child wrote so far (stdout and stderr). */
  output(): string;
  /**
   * Resolves when the child printed `text`; fails after `timeoutMs` (default 45 s: a child compiles
   * the sources as it starts, which takes a while on a loaded machine).
   */
  waitFor(text: string, timeoutMs?: number): Promise<void>;
  /** Resolves with the exit code (null when killed by a signal) and the signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal?: NodeJS.Signals): void;
}

/** Runs a TypeScript fixture (test/fixtures/*.ts, or any file by URL) in its own Node process, with `args` after it. */
export function startChildApp(fixture: string | URL, env: Record<string, string>, args: string[] = []): ChildApp {
  const entry = fileURLToPath(typeof fixture === 'string' ? new URL(`../fixtures/${fixture}`, import.meta.url) : fixture);
  const child = spawn(process.execPath, ['--import', REGISTER_TS, entry, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const listeners = new Set<() => void>();
  const collect = (chunk: Buffer) => {
    output += chunk.toString();
    for (const listener of listeners) listener();
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return {
    process: child,
    output: () => output,
    exited,
    kill: (signal = 'SIGKILL') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
    waitFor: (text, timeoutMs = 45_000) =>
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (!output.includes(text)) return;
          done();
          resolve();
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`child ${fixture} did not print "${text}" within ${timeoutMs} ms. Output:\n${output}`));
        }, timeoutMs);
        const onExit = () => {
          done();
          reject(new Error(`child ${fixture} exited before printing "${text}". Output:\n${output}`));
        };
        const done = () => {
          clearTimeout(timer);
          listeners.delete(check);
          child.off('exit', onExit);
        };
        listeners.add(check);
        child.once('exit', onExit);
        check();
      }),
  };
}

/** Kills a child app (SIGKILL) and waits for it to be gone. */
export async function stopChild(child: ChildApp): Promise<void> {
  child.kill('SIGKILL');
  await child.exited;
}
