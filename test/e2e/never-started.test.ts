import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QueueTasks } from '../../lib/index.js';
import { raceTimeout } from '../../lib/core/timing.js';
import { BACKENDS } from '../helpers/backends.js';
import { startChildApp } from '../helpers/child-app.js';
import { uniqueAppName } from '../helpers/names.js';

const quiet = { log: () => undefined, warn: () => undefined, error: () => undefined };
/** How long a process may take to exit once its last call answered. */
const EXIT_MS = 10_000;

describe.each(BACKENDS)('a process whose app made calls but was never started exits by itself, on $name', (backend) => {
  const name = uniqueAppName('never-started');
  // Runs the child's tasks: the child's own app never starts a worker.
  const worker = new QueueTasks({ name, ...backend.connection(), logger: quiet });
  worker.task('double', (n: number) => n * 2);
  beforeAll(() => worker.start());
  afterAll(() => worker.stop());

  /** Runs the fixture in `mode`; resolves with its output once it printed `last` and exited, or fails. */
  async function runToExit(mode: 'engine' | 'engine-stop' | 'nest', last: string): Promise<string> {
    const child = startChildApp('never-started-app.ts', { CONNECTION: JSON.stringify(backend.connection()), APP_NAME: name }, [mode]);
    try {
      await child.waitFor(last);
      const exit = await raceTimeout(child.exited, EXIT_MS, () => 'still running' as const);
      expect(exit, child.output()).toEqual({ code: 0, signal: null });
      return child.output();
    } finally {
      child.kill();
    }
  }

  /** The task the child printed as added: stored, as it gave it. */
  async function expectStored(output: string): Promise<void> {
    const uuid = /^added (\S+)$/m.exec(output)?.[1];
    expect(uuid, output).toBeDefined();
    expect(await worker.get(uuid!)).toMatchObject({ uuid, taskName: 'double', args: [21] });
  }

  it('a plain QueueTasks: its top-level add and run get their answers, then the process ends', { timeout: 90_000 }, async () => {
    const output = await runToExit('engine', 'ran 4');
    await expectStored(output);
  });

  it('a plain QueueTasks stopped after its calls: the process ends after the stop, not inside it', { timeout: 90_000 }, async () => {
    const output = await runToExit('engine-stop', 'stopped');
    await expectStored(output);
  });

  it('a Nest app whose onModuleInit added a task before another module init failed (abortOnError: false)', { timeout: 90_000 }, async () => {
    const output = await runToExit('nest', 'create failed: init failed on purpose');
    await expectStored(output);
  });
});
