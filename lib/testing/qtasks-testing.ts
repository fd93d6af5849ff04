import { Injectable } from '@nestjs/common';
import { MemoryBroker } from '../brokers/memory/memory-broker.js';
import { InvalidOptionError, QTasksError, shownValue } from '../core/errors.js';
import type { JsonifiedArgs } from '../core/json.js';
import { MAX_TIMER_MS, raceTimeout } from '../core/timing.js';
import { QueueTasks } from '../core/queue-tasks.js';
import { TaskAbort } from '../core/task-abort.js';
import type { TaskRecord, TaskStatus } from '../core/task-record.js';
import type { TaskHandle } from '../nest/qtasks-client.js';
import { MemoryStorage } from '../storages/memory/memory-storage.js';

export interface DrainOptions {
  /** Milliseconds before drain() gives up with DrainTimeoutError; default 10 000. */
  timeout?: number;
}

export interface RecordFilter {
  taskName?: string;
  status?: TaskStatus;
}

/** drain() waited longer than its timeout: a task never finished, or no worker is running. */
export class DrainTimeoutError extends QTasksError {
  declare readonly code: 'DRAIN_TIMEOUT';

  constructor(readonly timeoutMs: number, readonly pending: TaskRecord[]) {
    super(
      'DRAIN_TIMEOUT',
      `The queue did not drain within ${timeoutMs} ms; still pending: ` +
        (pending.map((r) => `${r.taskName} (${r.uuid}, ${r.status})`).join(', ') || 'nothing visible'),
    );
  }
}

/**
 * Helpers for tests of an app on the memory backend: run a task inline, wait until the queue is
 * drained, read what was enqueued. Inject it from QTasksTestingModule, or build it around a
 * QueueTasks with `new QTasksTesting(app)`.
 */
@Injectable()
export class QTasksTesting {
  constructor(readonly queueTasks: QueueTasks) {}

  /**
   * Resolves once nothing is queued and nothing is running (tasks enqueued by running tasks are
   * waited for too; delayed tasks are not). Uses no timer but its timeout, so it works under fake
   * timers.
   */
  async drain(options: DrainOptions = {}): Promise<void> {
    const broker = this.memoryBroker('drain()');
    if (!this.queueTasks.worker) throw new InvalidOptionError('drain() needs a worker, but this app runs with `worker: false`.');
    const timeoutMs = options.timeout ?? 10_000;
    // setTimeout takes NaN, a negative or an overflowing delay as 1 ms: the drain would time out at once.
    if (typeof timeoutMs !== 'number' || !(timeoutMs > 0 && timeoutMs <= MAX_TIMER_MS)) {
      throw new InvalidOptionError(`timeout of drain() must be a number of milliseconds from 1 to ${MAX_TIMER_MS}, got ${shownValue(timeoutMs)}.`);
    }
    await raceTimeout(
      broker.whenIdle(),
      timeoutMs,
      () => {
        throw new DrainTimeoutError(timeoutMs, this.pending());
      },
      true,
    );
  }

  /** Tasks enqueued and not started yet (queued or delayed), oldest first. */
  enqueued(taskName?: string): TaskRecord[] {
    return this.records({ taskName, status: 'new' });
  }

  /** Every stored record matching the filter, oldest first (copies: changing them changes nothing). */
  records(filter: RecordFilter = {}): TaskRecord[] {
    return this.memoryStorage('records()')
      .all()
      .filter((r) => (filter.taskName === undefined || r.taskName === filter.taskName) && (filter.status === undefined || r.status === filter.status));
  }

  /**
   * Runs a task's handler now, through the executor, without a queue or a worker: its arguments go
   * through the enqueue triggers and JSON as an add's would (what an add refuses rejects), and the
   * executor's plugins and interceptors apply (the worker's, such as retry, do not). Resolves with
   * the record it would have stored (`success` with `returning`, `error` with `traceback`, a time
   * limit included, or `cancel` with `cancelReason` when the task calls `ctx.cancel(reason)`; the
   * last progress it reported as `progress`); nothing is stored. Given a typed handle
   * (`client.task(Type, 'method')`) instead of a name, it checks the arguments and types the record.
   */
  runInline<A extends unknown[], R>(task: TaskHandle<A, R>, args: A): Promise<TaskRecord<R, JsonifiedArgs<A>>>;
  runInline(name: string, args?: unknown[]): Promise<TaskRecord>;
  async runInline(task: string | TaskHandle<unknown[], unknown>, args: unknown[] = []): Promise<TaskRecord> {
    const name = typeof task === 'string' ? task : task.name;
    this.queueTasks.registry.require(name);
    if (!Array.isArray(args)) throw new InvalidOptionError(`Arguments of task "${name}" must be an array, got ${shownValue(args)}.`);
    // As an add would enqueue it: its plugins may rewrite the arguments, and a refusal rejects.
    const prepared = await this.queueTasks.prepared(name, args);
    const now = new Date();
    const record: TaskRecord = {
      uuid: `inline-${name}`,
      taskName: prepared.taskName,
      status: 'process',
      priority: prepared.priority,
      args: JSON.parse(prepared.argsJson) as unknown[],
      createdAt: now,
      updatedAt: now,
      startedAt: now,
      attempt: 1,
      stalls: 0,
    };
    const abort = new TaskAbort();
    const { executor } = this.queueTasks;
    executor.startTimeLimit(record.taskName, abort);
    // No lease to store it under: the last progress reported goes on the record returned, as the queue keeps it.
    let progress: string | undefined;
    const keepProgress = async (json: string) => ((progress = json), true);
    let result;
    try {
      result = await executor.execute(record, { token: 'inline', abort, progress: keepProgress });
    } finally {
      abort.pauseTime();
    }
    const finishedAt = new Date();
    const done: TaskRecord = { ...record, status: result.status, updatedAt: finishedAt, finishedAt };
    if (progress !== undefined) done.progress = JSON.parse(progress) as unknown;
    if (result.status === 'success') done.returning = JSON.parse(result.payload) as unknown;
    else if (result.status === 'cancel') done.cancelReason = result.payload; // ctx.cancel(reason), stored as the queue does
    else done.traceback = result.payload;
    return done;
  }

  private pending(): TaskRecord[] {
    return this.records().filter((r) => r.status === 'new' || r.status === 'process');
  }

  private memoryBroker(what: string): MemoryBroker {
    const { broker } = this.queueTasks;
    if (!(broker instanceof MemoryBroker)) throw notMemory(what);
    return broker;
  }

  private memoryStorage(what: string): MemoryStorage {
    const { storage } = this.queueTasks;
    if (!(storage instanceof MemoryStorage)) throw notMemory(what);
    return storage;
  }
}

function notMemory(what: string): InvalidOptionError {
  return new InvalidOptionError(`${what} reads the memory backend: build the app with \`backend: 'memory'\` (QTasksTestingModule does).`);
}
