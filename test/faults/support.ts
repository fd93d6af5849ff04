import { QueueTasks, type QueueTasksOptions, type TaskRecord } from '../../lib/index.js';
import { startChildApp, stopChild, type ChildApp } from '../helpers/child-app.js';

/** Tasks of test/fixtures/fault-worker-app.ts. */
export const FIXTURE_TASKS = ['work', 'hold', 'block', 'crash'];

/**
 * Runs the Nest worker fixture in a child process with these module options; waits for it to be
 * up unless `awaitReady` is false (a worker may take a task that kills it before it says so).
 */
export async function startWorkerApp(options: QueueTasksOptions, label: string, awaitReady = true): Promise<ChildApp> {
  const child = startChildApp('fault-worker-app.ts', { FIXTURE_OPTIONS: JSON.stringify(options), FIXTURE_LABEL: label });
  if (awaitReady) {
    await child.waitFor('[fixture] ready').catch(async (error: unknown) => {
      await stopChild(child);
      throw error;
    });
  }
  return child;
}

/** The line the fixture prints when a run of task `id` starts or finishes. */
export function runLine(event: 'started' | 'finished', id: string): string {
  return `[fixture] ${event} ${id}\n`;
}

/** Ids of the runs a fixture process reported, in order (one entry per run). */
export function runsOf(child: ChildApp, event: 'started' | 'finished'): string[] {
  return [...child.output().matchAll(new RegExp(`^\\[fixture\\] ${event} (\\S+)$`, 'gm'))].map((match) => match[1]!);
}

/** A producer-only app (no worker) that knows the given task names; their bodies never run here. */
export async function startProducer(options: QueueTasksOptions, taskNames = FIXTURE_TASKS): Promise<QueueTasks> {
  const app = new QueueTasks({ ...options, worker: false, globalConfig: null, logger: quietLogger });
  for (const name of taskNames) {
    app.task(name, () => {
      throw new Error(`task ${name} runs in a worker process, not in the producer`);
    });
  }
  await app.start();
  return app;
}

export const quietLogger = { log: () => undefined, warn: () => undefined, error: () => undefined };

/** Waits for every task to finish (pushed completions), bounded by timeoutMs. */
export function waitAll(app: QueueTasks, uuids: string[], timeoutMs: number): Promise<TaskRecord[]> {
  return Promise.all(uuids.map((uuid) => app.wait(uuid, { timeout: timeoutMs })));
}
