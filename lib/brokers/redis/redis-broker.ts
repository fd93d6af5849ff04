import type { ClaimedTask, NewTask, TaskOutcome, TaskRecord } from '../../core/task-record.js';
import type { RedisClient } from '../../redis/connection.js';
import { ScriptRunner } from '../../redis/scripts.js';
import { encodeNewRecord, decodeRecord } from '../../storages/record-codec.js';
import { RedisStorage, type RedisStorageOptions } from '../../storages/redis/redis-storage.js';
import { Broker, type ClaimBatch, type Lease, type Retention } from '../broker.js';

export interface RedisBrokerOptions extends RedisStorageOptions {
  /** The storage whose records this broker changes; built from the same options when absent. */
  storage?: RedisStorage;
}

/**
 * The Redis broker. Its scripts change a task's queue entry and its record in one atomic step,
 * which is why it needs a RedisStorage (same Redis, same key space) rather than any Storage.
 */
export class RedisBroker extends Broker {
  readonly storage: RedisStorage;
  private readonly ownsStorage: boolean;
  private readonly scripts: ScriptRunner;
  private blocking?: Promise<RedisClient>;
  private claimCount = 0;

  constructor(options: RedisBrokerOptions = {}) {
    super();
    this.ownsStorage = !options.storage;
    this.storage = options.storage ?? new RedisStorage(options);
    this.scripts = new ScriptRunner(this.storage.client);
  }

  private get keys() {
    return this.storage.keys;
  }

  async start(): Promise<void> {
    await this.storage.connection.connect();
  }

  async stop(): Promise<void> {
    const blocking = await this.blocking?.catch(() => undefined);
    this.blocking = undefined;
    if (blocking) await this.storage.connection.drop(blocking);
    if (this.ownsStorage) await this.storage.stop();
  }

  async enqueue(tasks: NewTask[]): Promise<string[]> {
    if (tasks.length === 0) return [];
    const args: (string | number)[] = [this.keys.prefix];
    for (const task of tasks) {
      args.push(task.uuid, task.priority, task.delayMs, task.uniqueKey ?? '', task.uniqueTtlMs ?? 0, encodeNewRecord(task));
    }
    try {
      return (await this.scripts.run('enqueue', [this.keys.priorities, this.keys.delayed, this.keys.marker], args)) as string[];
    } catch (error) {
      throw this.storage.connection.unavailable(error);
    }
  }

  async claim(workerId: string, max: number, leaseMs: number, retention: Retention): Promise<ClaimBatch> {
    const reply = (await this.scripts.run(
      'claim',
      [this.keys.priorities, this.keys.delayed, this.keys.marker, this.keys.active],
      [this.keys.prefix, workerId, max, leaseMs, `${workerId}:${++this.claimCount}:`, ...retentionArgs(retention)],
    )) as [number, ...string[]];
    const tasks: ClaimedTask[] = [];
    for (let i = 1; i + 2 < reply.length; i += 3) {
      const uuid = reply[i] as string;
      tasks.push({ token: reply[i + 1] as string, record: decodeRecord(uuid, reply[i + 2] as string) });
    }
    return { tasks, nextDueInMs: reply[0] < 0 ? null : Number(reply[0]) };
  }

  async waitForWork(timeoutMs: number, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return;
    this.blocking ??= this.storage.connection.duplicate();
    const client = await this.blocking;
    // Stopped while the connection was opening: the abort event has fired already, so BLPOP would
    // hold the stop for its whole timeout.
    if (signal.aborted) return;
    const onAbort = () => {
      // BLPOP cannot be interrupted; dropping its connection is the only way to stop at once.
      this.blocking = undefined;
      void this.storage.connection.drop(client);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      await client.blpop(this.keys.marker, Math.max(timeoutMs, 1) / 1000);
    } catch (error) {
      if (!signal.aborted) throw error;
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  async complete(outcomes: TaskOutcome[], retention: Retention): Promise<boolean[]> {
    if (outcomes.length === 0) return [];
    const args: (string | number)[] = [this.keys.prefix, ...retentionArgs(retention)];
    for (const outcome of outcomes) {
      args.push(outcome.uuid, outcome.token, outcome.status, outcome.payload, outcome.retryDelayMs ?? 0);
    }
    const reply = (await this.scripts.run(
      'complete',
      [this.keys.active, this.keys.priorities, this.keys.delayed, this.keys.marker],
      args,
    )) as number[];
    return reply.map((stored) => stored === 1);
  }

  async renew(leases: Lease[], leaseMs: number): Promise<string[]> {
    if (leases.length === 0) return [];
    return (await this.scripts.run('renew', [this.keys.active], [this.keys.prefix, leaseMs, ...leaseArgs(leases)])) as string[];
  }

  async release(leases: Lease[]): Promise<number> {
    if (leases.length === 0) return 0;
    return (await this.scripts.run(
      'release',
      [this.keys.active, this.keys.priorities, this.keys.marker],
      [this.keys.prefix, ...leaseArgs(leases)],
    )) as number;
  }

  async recover(maxStalls: number, retention: Retention): Promise<{ requeued: number; failed: number }> {
    const [requeued, failed] = (await this.scripts.run(
      'recover',
      [this.keys.active, this.keys.priorities, this.keys.marker],
      [this.keys.prefix, maxStalls, ...retentionArgs(retention)],
    )) as [number, number];
    return { requeued, failed };
  }

  async cancel(uuid: string, reason: string, retention: Retention): Promise<TaskRecord | null> {
    const raw = (await this.scripts
      .run('cancel', [this.keys.delayed], [this.keys.prefix, uuid, reason, ...retentionArgs(retention)])
      .catch((error: unknown) => {
        throw this.storage.connection.unavailable(error);
      })) as string | null;
    return raw ? decodeRecord(uuid, raw) : null;
  }

  async onCancelRequested(listener: (uuid: string) => void): Promise<() => Promise<void>> {
    const subscriber = await this.storage.connection.duplicate();
    subscriber.on('message', (_channel: string, uuid: string) => listener(uuid));
    await subscriber.subscribe(this.keys.cancelChannel);
    return () => this.storage.connection.drop(subscriber);
  }

  async progress(lease: Lease, progressJson: string): Promise<boolean> {
    const stored = await this.scripts.run('progress', [this.keys.record(lease.uuid)], [lease.token, progressJson]);
    return stored === 1;
  }
}

/** The three retention values every finishing script reads with readRetention (common.lua). */
function retentionArgs(retention: Retention): [string, number, number] {
  return [retention.deleteFinishedTasks ? '1' : '0', retention.resultTtlMs, retention.keepFinishedTasks];
}

function leaseArgs(leases: Lease[]): string[] {
  return leases.flatMap(({ uuid, token }) => [uuid, token]);
}
