import type { Retention } from '../../brokers/broker.js';
import type { GlobalConfig } from '../../configs/global-config.js';
import { QTasksError } from '../../core/errors.js';
import { TimerSet } from '../../core/timer-set.js';
import type { TaskRecord } from '../../core/task-record.js';
import { decodeRecord, type StoredRecord } from '../record-codec.js';
import { Storage, type TaskWatch } from '../storage.js';

export interface MemoryStorageOptions {
  globalConfig?: GlobalConfig | null;
}

interface Entry {
  /** The record as JSON text: callers only ever get copies decoded from it. */
  raw: string;
  /** Set for finished records kept for `resultTtlMs`. */
  expiresAt?: number;
}

interface Waiter {
  finished(record: TaskRecord | null): void;
  abort(error: unknown): void;
  cancel(): void;
}

/**
 * Records in process memory, in the same stored form as in Redis. Waiters are told by the change
 * that finishes a task (no polling). Expired results are dropped when read or at the next claim.
 */
export class MemoryStorage extends Storage {
  readonly globalConfig: GlobalConfig | null;
  private readonly entries = new Map<string, Entry>();
  private readonly expiring = new Set<string>();
  /** With keepFinishedTasks: finished uuids per status, oldest first (as the f:<status> sets in Redis). */
  private readonly finishedByStatus = new Map<string, Set<string>>();
  private readonly waiters = new Map<string, Set<Waiter>>();
  private readonly timers = new TimerSet();

  constructor(options: MemoryStorageOptions = {}) {
    super();
    this.globalConfig = options.globalConfig ?? null;
  }

  async start(): Promise<void> {}

  async stop(): Promise<void> {
    for (const waiters of this.waiters.values()) {
      for (const waiter of [...waiters]) waiter.abort(new QTasksError('STOPPED', 'Storage stopped while a wait was pending.'));
    }
    this.timers.clearAll();
  }

  async get(uuid: string): Promise<TaskRecord | null> {
    return this.snapshot(uuid);
  }

  async remove(uuid: string): Promise<boolean> {
    this.expiring.delete(uuid);
    return this.entries.delete(uuid);
  }

  async watch(uuid: string, timeoutMs?: number): Promise<TaskWatch> {
    let waiter!: Waiter;
    const finished = new Promise<TaskRecord | null>((resolve, reject) => {
      const end = () => {
        this.timers.clear(timer);
        this.removeWaiter(uuid, waiter);
      };
      waiter = {
        finished: (record) => (end(), resolve(record)),
        abort: (error) => (end(), reject(error)),
        cancel: end,
      };
      const timer = timeoutMs === undefined ? undefined : this.timers.start(() => waiter.finished(this.snapshot(uuid)), timeoutMs);
    });
    let set = this.waiters.get(uuid);
    if (!set) this.waiters.set(uuid, (set = new Set()));
    set.add(waiter);
    // A stop may reject it before its owner awaits it; that must not count as unhandled.
    finished.catch(() => undefined);
    return { finished, cancel: waiter.cancel, current: this.snapshot(uuid) };
  }

  /** Every record held now, decoded (copies), in the order they were enqueued. */
  all(): TaskRecord[] {
    const now = Date.now();
    return [...this.entries.keys()].flatMap((uuid) => (this.entry(uuid, now) ? [this.snapshot(uuid)!] : []));
  }

  // The broker's side: it edits records through these, as the Redis scripts edit the stored JSON.

  /** A fresh, editable copy of the stored record, or undefined when there is none. */
  read(uuid: string): StoredRecord | undefined {
    const entry = this.entry(uuid, Date.now());
    return entry && (JSON.parse(entry.raw) as StoredRecord);
  }

  /** Stores a record that has not finished; returns its JSON text. */
  write(uuid: string, record: StoredRecord): string {
    const raw = JSON.stringify(record);
    this.entries.set(uuid, { raw });
    this.expiring.delete(uuid);
    return raw;
  }

  /** Stores a finished record as unfinished again (requeued): out of the finished index, with no expiry. */
  reopen(uuid: string, finishedAs: string, record: StoredRecord): string {
    this.finishedByStatus.get(finishedAs)?.delete(uuid);
    return this.write(uuid, record);
  }

  /** Stores a record that reached a final status under the retention settings, and tells its waiters. */
  finish(uuid: string, record: StoredRecord, retention: Retention): string {
    const raw = JSON.stringify(record);
    if (retention.deleteFinishedTasks) {
      this.entries.delete(uuid);
      this.expiring.delete(uuid);
    } else if (retention.resultTtlMs > 0) {
      this.entries.set(uuid, { raw, expiresAt: Date.now() + retention.resultTtlMs });
      this.expiring.add(uuid);
    } else {
      this.write(uuid, record);
    }
    if (retention.keepFinishedTasks > 0 && !retention.deleteFinishedTasks) this.keepNewest(uuid, record.s, retention.keepFinishedTasks);
    this.tellWaiters(uuid, raw);
    return raw;
  }

  /** Ends the waits for a finished task: with its record, or with why its record cannot be read. */
  private tellWaiters(uuid: string, raw: string): void {
    const waiters = this.waiters.get(uuid);
    if (!waiters) return;
    let record: TaskRecord;
    try {
      record = decodeRecord(uuid, raw);
    } catch (error) {
      for (const waiter of [...waiters]) waiter.abort(error);
      return;
    }
    for (const waiter of [...waiters]) waiter.finished(record);
  }

  /** Keeps the records of only the newest `keep` finished tasks of one status. */
  private keepNewest(uuid: string, status: string, keep: number): void {
    let finished = this.finishedByStatus.get(status);
    if (!finished) this.finishedByStatus.set(status, (finished = new Set()));
    finished.add(uuid);
    for (const oldest of finished) {
      if (finished.size <= keep) break;
      finished.delete(oldest);
      this.entries.delete(oldest);
      this.expiring.delete(oldest);
    }
  }

  /** Drops every finished record whose time to live has passed. */
  sweepExpired(now: number): void {
    for (const uuid of this.expiring) this.entry(uuid, now);
  }

  private entry(uuid: string, now: number): Entry | undefined {
    const entry = this.entries.get(uuid);
    if (entry?.expiresAt !== undefined && entry.expiresAt <= now) {
      this.entries.delete(uuid);
      this.expiring.delete(uuid);
      return undefined;
    }
    return entry;
  }

  private snapshot(uuid: string): TaskRecord | null {
    const entry = this.entry(uuid, Date.now());
    return entry ? decodeRecord(uuid, entry.raw) : null;
  }

  private removeWaiter(uuid: string, waiter: Waiter): void {
    const set = this.waiters.get(uuid);
    set?.delete(waiter);
    if (set?.size === 0) this.waiters.delete(uuid);
  }
}
