import { Worker, type ResourceLimits } from 'node:worker_threads';
import { errorMessage, ThreadCrashedError, ThreadStartError } from '../core/errors.js';
import { settleWithin } from '../core/timing.js';
import type { TaskAbort } from '../core/task-abort.js';
import type { ThreadRunner, ThreadTarget } from '../core/thread-task.js';
import { callBegun, fromThrown, newStartFlag, withdrawCall, type ThreadData, type ThreadJob, type ThreadMessage, type ThrownInThread } from './thread-protocol.js';

/** Longest wait at close for the terminated threads to end. */
const THREAD_END_WAIT_MS = 2_000;
/**
 * Pause before trying again to replace a thread that could not start; doubled at each failure of
 * that replacement, up to the longest. Each replacement has its own: threads that end together
 * each try again after the first pause, not after one another's.
 */
const FIRST_RESPAWN_PAUSE_MS = 1_000;
const LONGEST_RESPAWN_PAUSE_MS = 30_000;

export interface ThreadPoolOptions {
  /** Threads kept running. */
  size: number;
  /** Node options of each thread; default: this process's. */
  execArgv?: string[];
  /** Heap bounds of each thread; default Node's. */
  resourceLimits?: ResourceLimits;
  /**
   * A thread died of an error no running call threw (a promise rejected, or a timer thrown, after
   * an earlier call returned): told here, since no task's record can carry it.
   */
  onStrayCrash?: (how: string) => void;
  /** A replacement thread could not start: told with why, and when the pool tries again. */
  onReplaceFailed?: (error: Error, retryInMs: number) => void;
}

interface Job extends ThreadJob {
  resolve(json: string): void;
  reject(error: Error): void;
  /** The task's switch: its time limit resumes when a thread is handed the job; a stop flips it before. */
  abort: TaskAbort;
}

interface Thread {
  worker: Worker;
  /** The call it was given (begun or not: see the job's start flag). */
  job?: Job;
  /** The uncaught error it is dying of, if any. */
  uncaught?: Error;
  /** Terminated on purpose: a reply it had already sent is ignored. */
  retired?: boolean;
  /** It has answered a call: it got past what its start loaded. */
  answered?: boolean;
  /** How long its replacement waits should it die of what it loaded at start (see replace). */
  respawnPauseMs: number;
}

/**
 * A fixed set of worker threads, each running one export call at a time; calls beyond the free
 * threads wait in FIFO order. A thread that dies under a call, or is terminated to stop one (a
 * CPU-bound export never yields to a signal), is replaced.
 */
export class ThreadPool implements ThreadRunner {
  /** Every thread alive, starting ones included. */
  private readonly threads = new Set<Thread>();
  private readonly idle: Thread[] = [];
  private readonly waiting: Job[] = [];
  private open = false;
  /**
   * Bumped by each start. A thread a close let go of while it was starting (blocked in a native
   * call, which a terminate cannot cut short) fails late: what its run does then is not this run's.
   */
  private runNumber = 0;
  /** Set once the worker stops: calls no thread has taken are aborted with it instead of starting. */
  private startsStopped?: Error;
  /** Why the last replacement thread could not start: calls fail with it once no thread is left. */
  private broken?: Error;
  /** Replacements that failed, waiting to be tried again. */
  private readonly respawns = new Set<NodeJS.Timeout>();
  /** What every thread, replacements too, loads before it takes calls (see start). */
  private threadData: ThreadData = { preload: [] };

  constructor(
    private readonly entry: URL,
    private readonly options: ThreadPoolOptions,
  ) {}

  /**
   * Starts the threads; when one cannot start, stops the others and rejects with why. Each thread,
   * and each that replaces one later, loads the exports of `preload` before it takes a call: the
   * time a call's limit counts begins when the thread takes it, so its import would count there.
   */
  async start(preload: ThreadTarget[] = []): Promise<void> {
    const run = ++this.runNumber;
    this.threadData = { preload };
    this.open = true;
    this.startsStopped = undefined;
    this.broken = undefined;
    try {
      await Promise.all(Array.from({ length: this.options.size }, () => this.spawn()));
    } catch (error) {
      // Not when a close let this start go and the pool started again: that run is running.
      if (run === this.runNumber) await this.close();
      throw error;
    }
  }

  run(taskName: string, target: ThreadTarget, args: unknown[], abort: TaskAbort): Promise<string> {
    return new Promise((resolve, reject) => {
      const { signal } = abort;
      if (signal.aborted) return reject(signal.reason);
      if (!this.open || this.threads.size === 0) return reject(this.broken ?? new Error('The thread pool is not running.'));
      const onAbort = () => this.abandon(job, signal.reason as Error);
      const settled = () => signal.removeEventListener('abort', onAbort);
      const job: Job = {
        taskName,
        target,
        args,
        startFlag: newStartFlag(),
        resolve: (json) => (settled(), resolve(json)),
        reject: (error) => (settled(), reject(error)),
        abort,
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(job);
      this.dispatch();
    });
  }

  /**
   * The worker is stopping: calls waiting for a thread, calls sent to a thread that has not begun
   * them, and calls made from now on, are aborted with `reason` rather than started, so that their
   * tasks go back to the queue at once; calls threads have begun run on (theirs is the shutdown grace).
   */
  stopStarting(reason: Error): void {
    this.startsStopped = reason;
    this.withdrawUnbegun(reason);
    this.dispatch();
  }

  /**
   * Takes back the calls sent to threads that have not begun them: a thread still busy with what its
   * previous call left running (a timer, work after its return) would begin one whenever it is free,
   * inside the grace or not at all.
   */
  private withdrawUnbegun(reason: Error): void {
    for (const thread of this.threads) {
      const { job } = thread;
      if (!job || !withdrawCall(job.startFlag)) continue;
      // The thread stays: once free it answers `withdrawn`, and is idle again.
      thread.job = undefined;
      job.abort.abort(reason);
    }
  }

  /**
   * Terminates every thread; calls still waiting or running fail (the worker has handed their tasks
   * back). Waits up to `waitMs` for the threads to end; resolves with how many had not.
   */
  async close(waitMs = THREAD_END_WAIT_MS): Promise<number> {
    this.open = false;
    for (const timer of this.respawns) clearTimeout(timer);
    this.respawns.clear();
    const stopped = new Error('The thread pool stopped before the export returned.');
    for (const job of this.waiting.splice(0)) job.reject(stopped);
    this.idle.length = 0;
    const threads = [...this.threads];
    for (const thread of threads) {
      thread.job?.reject(stopped);
      thread.job = undefined;
    }
    this.threads.clear();
    let ended = 0;
    // A thread inside a native call (execSync, a synchronous addon) ends only once the call
    // returns, which may be never: the wait is bounded.
    const ending = threads.map(({ worker }) => worker.terminate().then(() => void ended++));
    await settleWithin(ending, waitMs);
    return threads.length - ended;
  }

  /**
   * Resolves once the thread has loaded its entry and the exports it preloads; rejects (never
   * throws) if it cannot start or dies before. `respawnPauseMs`: see replace.
   */
  private spawn(respawnPauseMs = FIRST_RESPAWN_PAUSE_MS): Promise<void> {
    let worker: Worker;
    try {
      const { execArgv, resourceLimits } = this.options;
      worker = new Worker(this.entry, { execArgv, resourceLimits, workerData: this.threadData });
    } catch (error) {
      // Node refuses options it does not allow in threads (--expose-gc, --stack-size...) by throwing
      // here, with no thread to exit: that too is a thread that cannot start.
      const how = `Node refused to create it: ${errorMessage(error)}`;
      return Promise.reject(new ThreadStartError(this.entry.href, how, { cause: error }));
    }
    const thread: Thread = { worker, respawnPauseMs };
    this.threads.add(thread);
    return new Promise((resolve, reject) => {
      let ready = false;
      thread.worker.on('message', (message: ThreadMessage) => {
        if (thread.retired) return;
        if (message === 'ready') {
          ready = true;
          resolve();
        } else {
          thread.answered = true;
          if (message !== 'withdrawn') settle(thread, message);
        }
        // Not a thread a close let go of, now that the pool may have started again.
        if (this.open && this.threads.has(thread)) {
          this.idle.push(thread);
          this.dispatch();
        }
      });
      thread.worker.on('error', (error) => (thread.uncaught = error));
      thread.worker.on('exit', (code) => {
        // False for a thread a close stopped waiting for: the pool may have started again since.
        const ofThisRun = this.threads.delete(thread);
        const idleAt = this.idle.indexOf(thread);
        if (idleAt >= 0) this.idle.splice(idleAt, 1);
        const how = howItDied(thread.uncaught, code);
        if (!ready) return reject(new ThreadStartError(this.entry.href, how));
        if (!ofThisRun) return;
        const { job } = thread;
        if (job && callBegun(job.startFlag)) {
          job.reject(new ThreadCrashedError(job.target.url, job.target.exportName, how));
        } else if (this.open && !thread.retired) {
          // Not terminated on purpose (a time limit, a cancel, the pool closing): a crash.
          // Given but never taken: it runs on another thread, first in line.
          if (job) this.waiting.unshift(job);
          // Dead before answering any call: of what it loaded at start (an error a module's top-level
          // code left behind), which would kill a replacement at once too.
          if (!thread.answered) return this.startFailed(new ThreadStartError(this.entry.href, `it died before any call: ${how}`), thread.respawnPauseMs);
          this.options.onStrayCrash?.(how);
        }
        if (this.open) {
          this.replace();
          this.dispatch();
        }
      });
    });
  }

  /**
   * Starts a thread in place of one that ended. One that cannot start (threads refused by the
   * system for a while, a module loader failing) is tried again, more slowly each time, so that the
   * pool gets back to its size rather than run short, or with no thread at all, until a restart.
   * `pauseMs` is how long it waits should this try fail, or the thread die of what it loaded.
   */
  private replace(pauseMs = FIRST_RESPAWN_PAUSE_MS): void {
    const run = this.runNumber;
    this.spawn(pauseMs).catch((error: Error) => {
      // A replacement of an earlier run: this run has its threads, and one more would be too many.
      if (run !== this.runNumber) return;
      this.startFailed(error, pauseMs);
    });
  }

  /** A thread could not start, or died of its start: another is tried after `pauseMs`. */
  private startFailed(error: Error, pauseMs: number): void {
    this.broken = error;
    // No thread left to run them: the waiting calls fail rather than wait for ever.
    if (this.threads.size === 0) for (const job of this.waiting.splice(0)) job.reject(error);
    if (this.open) this.replaceLater(error, pauseMs);
  }

  private replaceLater(error: Error, pauseMs: number): void {
    this.options.onReplaceFailed?.(error, pauseMs);
    const timer = setTimeout(() => {
      this.respawns.delete(timer);
      this.replace(Math.min(pauseMs * 2, LONGEST_RESPAWN_PAUSE_MS));
    }, pauseMs);
    this.respawns.add(timer);
  }

  private dispatch(): void {
    // Aborting a job takes it out of `waiting` (see abandon).
    if (this.startsStopped) for (const job of [...this.waiting]) job.abort.abort(this.startsStopped);
    while (this.idle.length > 0 && this.waiting.length > 0) {
      const thread = this.idle.pop()!;
      const job = this.waiting.shift()!;
      try {
        thread.worker.postMessage({ taskName: job.taskName, target: job.target, args: job.args, startFlag: job.startFlag } satisfies ThreadJob);
        thread.job = job;
        // Paused while the job waited for a thread.
        job.abort.resumeTime();
      } catch (error) {
        // Arguments a thread cannot be sent (an interceptor put a function in them).
        this.idle.push(thread);
        job.reject(error as Error);
      }
    }
  }

  /** The call's task was aborted (time limit, cancel): it leaves the queue, or its thread is terminated. */
  private abandon(job: Job, reason: Error): void {
    const queuedAt = this.waiting.indexOf(job);
    if (queuedAt >= 0) this.waiting.splice(queuedAt, 1);
    for (const thread of this.threads) {
      if (thread.job !== job) continue;
      thread.job = undefined;
      thread.retired = true;
      void thread.worker.terminate();
    }
    job.reject(reason);
  }
}

/** The thread's call ends with its reply. */
function settle(thread: Thread, reply: { json: string } | { error: ThrownInThread }): void {
  const job = thread.job;
  thread.job = undefined;
  if ('error' in reply) job?.reject(fromThrown(reply.error));
  else job?.resolve(reply.json);
}

/** Why a thread ended, for the error or warning that says so. */
function howItDied(uncaught: Error | undefined, exitCode: number): string {
  if (!uncaught) return `exit code ${exitCode}`;
  // Node ends a thread whose heap reached its limit with this error, which nothing in it threw.
  if ((uncaught as NodeJS.ErrnoException).code === 'ERR_WORKER_OUT_OF_MEMORY') return 'out of memory: its heap reached its limit';
  return `uncaught ${uncaught.name}: ${uncaught.message}`;
}
