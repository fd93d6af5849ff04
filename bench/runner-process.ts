import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ContenderId } from './contenders/contender.js';
import type { RunnerMessage, RunnerReply } from './runner.js';
import type { Metrics, Request } from './scenarios.js';

const RUNNER = fileURLToPath(new URL('./runner.js', import.meta.url));
const START_LIMIT_MS = 30_000;
const EXIT_LIMIT_MS = 10_000;

/** A child process measuring one library; requests go one at a time. */
export class RunnerProcess {
  private nextId = 0;
  private readonly pending = new Map<number, { resolve(m: Metrics): void; reject(e: Error): void }>();

  private constructor(private readonly child: ChildProcess) {
    child.on('message', (reply: RunnerReply | 'ready') => {
      if (reply === 'ready') return;
      const waiter = this.pending.get(reply.id);
      this.pending.delete(reply.id);
      if ('error' in reply) waiter?.reject(new Error(reply.error));
      else waiter?.resolve(reply.metrics);
    });
    child.on('exit', (code) => {
      for (const waiter of this.pending.values()) waiter.reject(new Error(`benchmark runner exited with code ${code}`));
      this.pending.clear();
    });
  }

  static async start(id: ContenderId, url: string): Promise<RunnerProcess> {
    const child = fork(RUNNER, [id, url], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`runner for ${id} did not start`)), START_LIMIT_MS);
      child.once('message', () => (clearTimeout(timer), resolve()));
      child.once('exit', (code) => (clearTimeout(timer), reject(new Error(`runner for ${id} exited with code ${code}`))));
    });
    return new RunnerProcess(child);
  }

  ask(request: Request): Promise<Metrics> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.child.send({ id, request } satisfies RunnerMessage);
    });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.send('exit');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), EXIT_LIMIT_MS);
    await exited;
    clearTimeout(timer);
  }
}
