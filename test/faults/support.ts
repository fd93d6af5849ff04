import { QueueTasks, type QueueTasksOptions, type TaskRecord } from '../../lib/index.js';
import { startChildWorker, type ChildWorker } from '../helpers/worker-process.js';

export const WORKER_APP = new URL('./fixtures/worker-app.ts', import.meta.url);
export const FIXTURE_TASKS = ['work', 'hold', 'block', 'crash'];

/** Runs the Nest worker fixture in a child process with these module options. */
export function startWorkerApp(options: QueueTasksOptions, label: string, awaitReady = true): Promise<ChildWorker> {
  return startChildWorker(WORKER_APP, { FIXTURE_OPTIONS: JSON.stringify(options), FIXTURE_LABEL: label }, { awaitReady });
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
