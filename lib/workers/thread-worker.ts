import { availableParallelism } from 'node:os';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ResourceLimits } from 'node:worker_threads';
import { errorMessage, InvalidOptionError, shownValue, WorkerStoppedError } from '../core/errors.js';
import { AsyncWorker, type AsyncWorkerOptions } from './async-worker.js';
import { ThreadPool } from './thread-pool.js';

export interface ThreadWorkerOptions extends AsyncWorkerOptions {
  /** Worker threads running thread tasks; default `os.availableParallelism() - 1`, at least 1. */
  threads?: number;
  /**
   * Node options of the threads; default this process's (`process.execArgv`), so a loader the app
   * runs under (e.g. `--import tsx`) loads thread modules too.
   */
  execArgv?: string[];
  /**
   * Each thread's heap bounds (`maxOldGenerationSizeMb`...); default Node's, which for a thread is
   * the process's own heap limit. A thread over its limit is ended, and its task fails.
   */
  resourceLimits?: ResourceLimits;
}

/** What Node's `resourceLimits` takes: sizes in MB. */
const RESOURCE_LIMITS = ['maxOldGenerationSizeMb', 'maxYoungGenerationSizeMb', 'codeRangeSizeMb', 'stackSizeMb'] as const;

// Beside this file, with its extension: `.js` once built, `.ts` when a TypeScript loader runs the sources.
const THREAD_ENTRY = new URL(`./thread-entry${extname(fileURLToPath(import.meta.url))}`, import.meta.url);

/**
 * An AsyncWorker that runs thread tasks (option `thread`) on a fixed pool of worker threads, so
 * CPU-bound work leaves the event loop free; other tasks run on the event loop as before. Claims,
 * leases, outcome batching, cancel and shutdown are AsyncWorker's: only the export's call moves.
 */
export class ThreadWorker extends AsyncWorker {
  private readonly pool: ThreadPool;

  constructor(options: ThreadWorkerOptions = {}) {
    super(options);
    const threads = options.threads ?? Math.max(1, availableParallelism() - 1);
    if (!Number.isInteger(threads) || threads < 1) {
      throw new InvalidOptionError(`threads of ThreadWorker must be a whole number of 1 or more, got ${String(threads)}.`);
    }
    const { execArgv } = options;
    if (execArgv !== undefined && !(Array.isArray(execArgv) && execArgv.every((arg) => typeof arg === 'string'))) {
      throw new InvalidOptionError(`execArgv of ThreadWorker must be a list of Node options (strings), got ${shownValue(execArgv)}.`);
    }
    const { resourceLimits } = options;
    if (resourceLimits !== undefined) checkResourceLimits(resourceLimits);
    this.pool = new ThreadPool(THREAD_ENTRY, {
      size: threads,
      execArgv,
      resourceLimits,
      onStrayCrash: (how) =>
        this.ctx.logger.warn(`worker ${this.id}: a thread died of an error an earlier task left behind (${how}); it was replaced`),
      onReplaceFailed: (error, retryInMs) =>
        this.ctx.logger.warn(`worker ${this.id}: a thread that ended could not be replaced, trying again in ${retryInMs} ms: ${errorMessage(error)}`),
    });
    this.threadRunner = this.pool;
  }

  override async start(): Promise<void> {
    await this.pool.start(this.ctx.executor.registry.threadTargets());
    try {
      await super.start();
    } catch (error) {
      await this.pool.close();
      throw error;
    }
  }

  /**
   * Thread tasks running on a thread get the grace like any task; then the threads are terminated,
   * unfinished tasks handed back. Those still waiting for a thread, or sent to one that has not begun
   * them, never start: they go back at once.
   */
  override async stop(graceMs: number): Promise<void> {
    this.pool.stopStarting(new WorkerStoppedError(graceMs));
    await super.stop(graceMs);
    const stuck = await this.pool.close();
    if (stuck > 0) {
      this.ctx.logger.warn(
        `worker ${this.id}: ${stuck} thread(s) still running after being terminated, blocked in a native call (execSync, a synchronous addon); ` +
          'stopped without them, but this process cannot exit until the call returns',
      );
    }
  }
}

/** Node ignores a limit it does not know or cannot use (a typo, a string): refused here instead. */
function checkResourceLimits(limits: ResourceLimits): void {
  const refuse = (detail: string): never => {
    throw new InvalidOptionError(`resourceLimits of ThreadWorker ${detail}.`);
  };
  if (typeof limits !== 'object' || limits === null || Array.isArray(limits)) refuse(`must be an object, got ${shownValue(limits)}`);
  for (const [key, value] of Object.entries(limits)) {
    if (!(RESOURCE_LIMITS as readonly string[]).includes(key)) refuse(`has no option ${JSON.stringify(key)} (it takes ${RESOURCE_LIMITS.join(', ')})`);
    if (typeof value !== 'number' || !(value > 0) || !Number.isFinite(value)) refuse(`.${key} must be a positive number of MB, got ${shownValue(value)}`);
  }
}
