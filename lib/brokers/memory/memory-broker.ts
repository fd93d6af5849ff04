import type { GlobalConfig } from '../../configs/global-config.js';
import type { RateLimits } from '../../core/rate-limit.js';
import { RUNNING_SLOT_WAIT, type RunningLimits } from '../../core/running-limit.js';
import { TimerSet } from '../../core/timer-set.js';
import type { ClaimedTask, NewTask, TaskOutcome, TaskRecord } from '../../core/task-record.js';
import { MemoryStorage } from '../../storages/memory/memory-storage.js';
import { decodeRecord, newStoredRecord, type StoredRecord } from '../../storages/record-codec.js';
import { MemoryWaitingLines } from './memory-waiting-lines.js';
import { assertPauseTarget, Broker, type ClaimBatch, type ClaimRequest, type Lease, type RecoverOutcome, type ReleaseOptions, type RequeueOutcome, type Retention } from '../broker.js';

export interface MemoryBrokerOptions {
  /** The storage whose records this broker changes; a new one when absent. */
  storage?: MemoryStorage;
  /** GlobalConfig of the storage built when `storage` is absent. */
  globalConfig?: GlobalConfig | null;
}

interface HeldLease {
  token: string;
  deadline: number;
}

const NO_RATE_LIMITS: RateLimits = new Map();
const NO_RUNNING_LIMITS: RunningLimits = new Map();

/**
 * An in-process broker with the Redis broker's semantics (see lib/redis/lua: each method here does
 * what the script of the same name does), for tests and for running without Redis. Every method
 * runs to completion without awaiting, so each change is atomic like a script. Only tasks of this
 * process are seen: it is not shared between processes.
 */
export class MemoryBroker extends Broker {
  readonly storage: MemoryStorage;
  private readonly ownsStorage: boolean;
  /** Queued uuids per priority; a priority leaves the map when its list empties. */
  private readonly queues = new Map<number, string[]>();
  /** Delayed tasks: uuid -> due time. */
  private readonly delayed = new Map<string, number>();
  private readonly waitingLines = new MemoryWaitingLines();
  private readonly leases = new Map<string, HeldLease>();
  private readonly uniqueKeys = new Map<string, { uuid: string; expiresAt: number }>();
  private readonly cancelListeners = new Set<(uuid: string) => void>();
  /** Idle workers in waitForWork; a wake-up with none waiting is kept for the next (the Redis marker). */
  private readonly workWaiters: (() => void)[] = [];
  private marker = false;
  private queuePaused = false;
  private readonly idleWaiters = new Set<() => void>();
  private readonly timers = new TimerSet();
  private claimCount = 0;

  constructor(options: MemoryBrokerOptions = {}) {
    super();
    this.ownsStorage = !options.storage;
    this.storage = options.storage ?? new MemoryStorage({ globalConfig: options.globalConfig });
  }

  async start(): Promise<void> {}

  async stop(): Promise<void> {
    for (const wake of [...this.workWaiters]) wake();
    this.timers.clearAll();
    if (this.ownsStorage) await this.storage.stop();
  }

  async enqueue(tasks: NewTask[]): Promise<string[]> {
    const now = Date.now();
    let created = 0;
    const out = tasks.map((task) => {
      if (task.uniqueKey) {
        const holder = this.uniqueKeys.get(task.uniqueKey);
        if (holder && holder.expiresAt > now) return holder.uuid;
        this.uniqueKeys.set(task.uniqueKey, { uuid: task.uuid, expiresAt: now + (task.uniqueTtlMs ?? 0) });
      }
      // Stored already: the same call made again (the Redis broker's client resends after a reconnect).
      if (this.storage.read(task.uuid)) return task.uuid;
      this.storage.write(task.uuid, newStoredRecord(task));
      if (task.delayMs > 0) {
        this.delayed.set(task.uuid, now + task.delayMs);
      } else {
        this.pushQueued(task.priority, task.uuid, 'tail');
      }
      created++;
      return task.uuid;
    });
    // Delayed tasks wake a worker too: an idle one then sleeps only until the new task is due.
    if (created > 0) this.wake();
    this.changed();
    return out;
  }

  async claim(request: ClaimRequest, settle: TaskOutcome[] = []): Promise<ClaimBatch> {
    const { workerId, max, leaseMs, retention, rateLimits = NO_RATE_LIMITS, runningLimits = NO_RUNNING_LIMITS } = request;
    const { stored } = this.storeOutcomes(settle, retention);
    // Nothing starts: the outcomes are stored, and the worker sleeps until a resume wakes it.
    if (this.queuePaused) return { tasks: [], stored, nextDueInMs: null };
    const now = Date.now();
    this.sweepExpired(now);
    const due = [...this.delayed].filter(([, at]) => at <= now).sort((a, b) => a[1] - b[1]);
    for (const [uuid] of due) {
      this.delayed.delete(uuid);
      const record = this.storage.read(uuid);
      if (record?.s === 'new') this.pushQueued(record.p, uuid, 'tail');
    }
    const tokenPrefix = `${workerId}:${++this.claimCount}:`;
    const tasks: ClaimedTask[] = [];
    /** Claimed tasks the codec refuses: they fail alone once the claim is done, as RedisBroker.claim fails them. */
    const malformed: TaskOutcome[] = [];
    let held = 0;
    /** Claims a queued task (one deleted or cancelled leaves silently); false when it was not. */
    const hold = (uuid: string, record: StoredRecord | undefined): boolean => {
      if (record?.s !== 'new') return false;
      Object.assign(record, { s: 'process', b: now, u: now, w: workerId });
      const raw = this.storage.write(uuid, record);
      const token = tokenPrefix + ++held;
      this.leases.set(uuid, { token, deadline: now + leaseMs });
      try {
        tasks.push({ token, record: decodeRecord(uuid, raw) });
      } catch (error) {
        malformed.push({ uuid, token, status: 'error', payload: `${(error as Error).name}: ${(error as Error).message}` });
      }
      return true;
    };
    const lines = this.waitingLines;
    /** Starts the limits of `name` allow now: the room in its window and its free slots, the fewer. */
    const roomFor = (name: string): number => {
      const rate = rateLimits.get(name);
      const running = runningLimits.get(name);
      return Math.min(rate ? lines.roomIn(name, rate, now) : Infinity, running === undefined ? Infinity : lines.freeSlots(name, running));
    };
    /** When a line its limits hold back is due again: when a slot frees while every slot is held, else when its window closes. */
    const lineDueAt = (name: string): number => {
      const running = runningLimits.get(name);
      return running !== undefined && lines.freeSlots(name, running) <= 0 ? RUNNING_SLOT_WAIT : lines.closesAt(name);
    };
    const countStart = (name: string, uuid: string): void => {
      const rate = rateLimits.get(name);
      if (rate) lines.countStart(name, rate, now);
      if (runningLimits.has(name)) lines.takeSlot(name, uuid);
    };
    // Waiting lines with room go first (a window reopened, a slot freed, a task given back, a resume,
    // or a limit raised or removed since): their tasks were met before anything queued.
    // A line this call left due (the claim filled up before the line emptied): the next idle worker takes it.
    let lineLeftDue = false;
    for (const [name, line] of lines.scheduled()) {
      // A task no longer limited (not in this claim's limits) waits for nothing.
      const room = roomFor(name);
      let allowed = Math.min(max - held, room);
      if (allowed <= 0) {
        // Due, but this claim is full: the next idle worker takes it.
        lineLeftDue ||= room > 0;
        // Full: it waits for a slot, or for its window's close.
        if (room <= 0) lines.settle(name, lineDueAt(name));
        continue;
      }
      while (allowed > 0 && line.length > 0) {
        const uuid = line.shift()!;
        if (!hold(uuid, this.storage.read(uuid))) continue;
        countStart(name, uuid);
        allowed--;
      }
      // The rest wait for a slot or the window this call filled, or for the next claim when this one is full.
      const dueAt = roomFor(name) <= 0 ? lineDueAt(name) : now;
      lines.settle(name, dueAt);
      lineLeftDue ||= dueAt === now && line.length > 0;
    }
    while (held < max && this.queues.size > 0) {
      const uuid = this.popLowest();
      const record = this.storage.read(uuid);
      // A missing record was deleted, a non-'new' one cancelled: both leave the queue silently.
      if (record?.s !== 'new') continue;
      const { n: name } = record;
      if (lines.isPaused(name)) {
        lines.join(name, uuid, null);
        continue;
      }
      if (roomFor(name) <= 0) {
        lines.join(name, uuid, lineDueAt(name));
        continue;
      }
      countStart(name, uuid);
      hold(uuid, record);
    }
    if (malformed.length > 0) this.storeOutcomes(malformed, retention);
    if (this.queues.size > 0 || lineLeftDue) this.wake();
    const nextDue = this.firstDueAt();
    this.changed();
    return { tasks, stored, nextDueInMs: Number.isFinite(nextDue) ? Math.max(0, nextDue - now) : null };
  }

  waitForWork(timeoutMs: number, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.resolve();
    if (this.marker) {
      this.marker = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        this.timers.clear(timer);
        signal.removeEventListener('abort', done);
        const index = this.workWaiters.indexOf(done);
        if (index >= 0) this.workWaiters.splice(index, 1);
        resolve();
      };
      const timer = this.timers.start(done, Math.max(timeoutMs, 1));
      signal.addEventListener('abort', done, { once: true });
      this.workWaiters.push(done);
    });
  }

  async complete(outcomes: TaskOutcome[], retention: Retention): Promise<boolean[]> {
    const { stored, slotFreed } = this.storeOutcomes(outcomes, retention);
    // Tasks wait for the slot an outcome freed: an idle worker starts them.
    if (slotFreed) this.wake();
    return stored;
  }

  /**
   * Stores outcomes (complete.lua and claim.lua share it as includes/outcomes.lua does), and says
   * whether a running slot freed for waiting tasks: a claim starts them itself.
   */
  private storeOutcomes(outcomes: TaskOutcome[], retention: Retention): { stored: boolean[]; slotFreed: boolean } {
    const now = Date.now();
    let requeued = 0;
    let slotFreed = false;
    const stored = outcomes.map(({ uuid, token, status, payload, retryDelayMs }) => {
      if (!this.takeLease(uuid, token)) return false;
      slotFreed = this.waitingLines.freeSlot(uuid) || slotFreed;
      const record = this.storage.read(uuid);
      if (!record) return true;
      if (typeof record.n !== 'string') {
        // Held, but no task record (no task name): it ends 'error', as outcomes.lua fails it.
        this.failMalformed(uuid, JSON.stringify(record), now, retention);
        return true;
      }
      record.u = now;
      if (status === 'retry') {
        record.h = [...(record.h ?? []), payload];
        record.e = payload;
        if (record.x !== undefined) {
          // Its cancel was asked for while this attempt ran: no further attempt.
          Object.assign(record, { s: 'cancel', f: now });
          this.storage.finish(uuid, record, retention);
          return true;
        }
        Object.assign(record, { t: (record.t ?? 1) + 1, s: 'new' });
        // The failed attempt's progress is no measure of the next one's.
        for (const field of ['w', 'b', 'd', 'g'] as const) delete record[field];
        if (retryDelayMs && retryDelayMs > 0) {
          record.d = now + retryDelayMs;
          this.delayed.set(uuid, record.d);
        } else {
          this.pushQueued(record.p, uuid, 'tail');
        }
        // Woken for a delayed retry too: the next claim tells an idle worker when it is due.
        requeued++;
        this.storage.write(uuid, record);
        return true;
      }
      record.s = status;
      record.f = now;
      // A cancel that came too late (the task ended on its own first) leaves no reason behind.
      if (status !== 'cancel') delete record.x;
      if (status === 'success') {
        record.r = payload;
        // A failed attempt's traceback stays in h only: a task that succeeded shows no error.
        delete record.e;
      } else if (status === 'cancel') record.x = payload;
      else {
        record.e = payload;
        record.h?.push(payload);
      }
      this.storage.finish(uuid, record, retention);
      return true;
    });
    if (requeued > 0) this.wake();
    this.changed();
    return { stored, slotFreed };
  }

  async renew(leases: Lease[], leaseMs: number): Promise<string[]> {
    const deadline = Date.now() + leaseMs;
    const lost: string[] = [];
    for (const { uuid, token } of leases) {
      const held = this.leases.get(uuid);
      if (held?.token === token) held.deadline = deadline;
      else lost.push(uuid);
    }
    return lost;
  }

  async release(leases: Lease[], retention: Retention, { started = false }: ReleaseOptions = {}): Promise<number> {
    const now = Date.now();
    let released = 0;
    let slotFreed = false;
    // Last first: each goes in front of the one before it, so the claim order comes back.
    for (const { uuid, token } of [...leases].reverse()) {
      if (!this.takeLease(uuid, token)) continue;
      slotFreed = this.waitingLines.freeSlot(uuid) || slotFreed;
      const record = this.storage.read(uuid);
      if (!record) continue;
      if (!started) this.waitingLines.uncountStart(record.n, record.b, now);
      if (this.giveBack(uuid, record, now, retention)) released++;
    }
    if (released > 0 || slotFreed) this.wake();
    this.changed();
    return released;
  }

  async recover(maxStalls: number, retention: Retention): Promise<RecoverOutcome> {
    const now = Date.now();
    let requeued = 0;
    let failed = 0;
    let slotFreed = false;
    const malformed: NonNullable<RecoverOutcome['malformed']> = [];
    // Each goes to the head of its queue: walked last-first, they end up in the order they were claimed.
    const expired = [...this.leases].filter(([, lease]) => lease.deadline <= now).sort((a, b) => a[1].deadline - b[1].deadline);
    for (const [uuid] of expired.reverse()) {
      this.leases.delete(uuid);
      slotFreed = this.waitingLines.freeSlot(uuid) || slotFreed;
      const record = this.storage.read(uuid);
      if (record && (typeof record.n !== 'string' || typeof record.s !== 'string')) {
        // No task record: it ends 'error' keeping its text, and is reported, as recover.lua does.
        this.failMalformed(uuid, JSON.stringify(record), now, retention);
        malformed.push({ uuid, reason: 'not a valid task record; it ended error, keeping its text' });
        failed++;
        continue;
      }
      if (record?.s !== 'process') continue;
      record.l = (record.l ?? 0) + 1;
      if (record.x === undefined && record.l > maxStalls) {
        Object.assign(record, {
          s: 'error',
          u: now,
          f: now,
          e: `StalledError: the worker running this task stopped answering ${record.l} times (more than maxStalls = ${maxStalls}); it is not run again`,
        });
        // A retried task keeps every attempt's traceback in h, its last one too (as an error outcome).
        record.h?.push(record.e!);
        this.storage.finish(uuid, record, retention);
        failed++;
      } else if (this.giveBack(uuid, record, now, retention)) {
        requeued++;
      } else {
        // Its cancel was asked for while its worker was gone: it ended 'cancel', not run again.
        failed++;
      }
    }
    // A safety net for a lost wake-up, as recover.lua: something due with no worker woken for it.
    if (requeued > 0 || slotFreed || (!this.queuePaused && this.firstDueAt() <= now)) this.wake();
    this.changed();
    return malformed.length > 0 ? { requeued, failed, malformed } : { requeued, failed };
  }

  async cancel(uuid: string, reason: string, retention: Retention): Promise<TaskRecord | null> {
    const record = this.readToChange(uuid);
    if (!record) return null;
    if (record.s === 'process' && record.x === undefined) {
      record.x = reason;
      this.storage.write(uuid, record);
      // Delivered later, as a published message would be, so a listener never runs inside cancel.
      for (const listener of this.cancelListeners) queueMicrotask(() => listener(uuid));
    }
    if (record.s !== 'new') return decodeRecord(uuid, JSON.stringify(record));
    const now = Date.now();
    Object.assign(record, { s: 'cancel', x: reason, u: now, f: now });
    this.delayed.delete(uuid);
    if (!this.removeQueued(record.p, uuid)) this.waitingLines.leave(record.n, uuid);
    const raw = this.storage.finish(uuid, record, retention);
    this.changed();
    return decodeRecord(uuid, raw);
  }

  async requeue(uuid: string): Promise<RequeueOutcome> {
    const record = this.readToChange(uuid);
    if (!record) return null;
    if (record.s !== 'error' && record.s !== 'cancel') return { requeued: false, record: decodeRecord(uuid, JSON.stringify(record)) };
    const finishedAs = record.s;
    // A task that was retried has every traceback in h already, its last one included.
    if (record.e !== undefined && record.h === undefined) record.h = [record.e];
    for (const field of ['l', 'b', 'f', 'r', 'e', 'x', 'w', 'g', 'd'] as const) delete record[field];
    // Attempt 1 and no stalls again: the retries start afresh.
    Object.assign(record, { s: 'new', u: Date.now(), t: 1 });
    const raw = this.storage.reopen(uuid, finishedAs, record);
    this.pushQueued(record.p, uuid, 'tail');
    this.wake();
    this.changed();
    return { requeued: true, record: decodeRecord(uuid, raw) };
  }

  async setPaused(paused: boolean, taskName?: string): Promise<void> {
    assertPauseTarget(taskName);
    if (taskName === undefined) this.queuePaused = paused;
    else this.waitingLines.setPaused(taskName, paused);
    // Idle workers sleep on the marker: the next claim starts what was held.
    if (!paused) this.wake();
  }

  async wakeWorker(): Promise<void> {
    this.wake();
  }

  async onCancelRequested(listener: (uuid: string) => void): Promise<() => Promise<void>> {
    const own = (uuid: string) => listener(uuid);
    this.cancelListeners.add(own);
    return async () => void this.cancelListeners.delete(own);
  }

  async progress(lease: Lease, progressJson: string): Promise<boolean> {
    if (this.leases.get(lease.uuid)?.token !== lease.token) return false;
    const record = this.storage.read(lease.uuid);
    if (!record) return false;
    Object.assign(record, { g: progressJson, u: Date.now() });
    this.storage.write(lease.uuid, record);
    return true;
  }

  /**
   * Resolves once nothing is queued and no task is held by a worker (delayed tasks are not waited
   * for). Used by the testing helpers' `drain()`; needs no timer, so fake timers cannot stall it.
   */
  whenIdle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.add(resolve));
  }

  /** Drops expired results and unique keys, so a long-running process does not pile them up. */
  private sweepExpired(now: number): void {
    this.storage.sweepExpired(now);
    for (const [key, holder] of this.uniqueKeys) if (holder.expiresAt <= now) this.uniqueKeys.delete(key);
  }

  private isIdle(): boolean {
    if (this.leases.size > 0) return false;
    // A queued uuid whose record was removed meanwhile stays in its list until a claim drops it; it is not work.
    const queued = [...this.queues.values()].flat();
    return ![...queued, ...this.waitingLines.waiting()].some((uuid) => this.storage.read(uuid)?.s === 'new');
  }

  private changed(): void {
    if (this.idleWaiters.size === 0 || !this.isIdle()) return;
    for (const resolve of this.idleWaiters) resolve();
    this.idleWaiters.clear();
  }

  private pushQueued(priority: number, uuid: string, end: 'head' | 'tail'): void {
    let list = this.queues.get(priority);
    if (!list) this.queues.set(priority, (list = []));
    if (end === 'head') list.unshift(uuid);
    else list.push(uuid);
  }

  /** Takes a uuid out of its priority's queue (a cancelled task), as cancel.lua's LREM does; false when not there. */
  private removeQueued(priority: number, uuid: string): boolean {
    const list = this.queues.get(priority);
    const at = list?.indexOf(uuid) ?? -1;
    if (at < 0) return false;
    list!.splice(at, 1);
    if (list!.length === 0) this.queues.delete(priority);
    return true;
  }

  /** Takes the first uuid of the lowest priority (call only while a queue is not empty). */
  private popLowest(): string {
    const priority = Math.min(...this.queues.keys());
    const list = this.queues.get(priority)!;
    const uuid = list.shift()!;
    if (list.length === 0) this.queues.delete(priority);
    return uuid;
  }

  /** Ends a lease when `token` still holds it. */
  private takeLease(uuid: string, token: string): boolean {
    if (this.leases.get(uuid)?.token !== token) return false;
    this.leases.delete(uuid);
    return true;
  }

  /**
   * A held task that will not run where it is goes first in its priority, as it was taken before
   * the rest; one whose cancel was asked for ends 'cancel' instead. True when it was queued again.
   */
  private giveBack(uuid: string, record: StoredRecord, now: number, retention: Retention): boolean {
    if (record.x !== undefined) {
      Object.assign(record, { s: 'cancel', u: now, f: now });
      this.storage.finish(uuid, record, retention);
      return false;
    }
    Object.assign(record, { s: 'new', u: now });
    delete record.w;
    delete record.b;
    this.storage.write(uuid, record);
    // Tasks of its name held in a waiting line were met after it: it goes ahead of them.
    if (!this.waitingLines.rejoinAtHead(record.n, uuid)) this.pushQueued(record.p, uuid, 'head');
    return true;
  }

  /**
   * The stored record of `uuid` for a change a caller asks for; one the codec refuses throws
   * MalformedRecordError before anything changes (as readRecordToChange in lua/includes/record-check.lua).
   */
  private readToChange(uuid: string): StoredRecord | undefined {
    const record = this.storage.read(uuid);
    if (record) decodeRecord(uuid, JSON.stringify(record));
    return record;
  }

  /** A record that is no task record is replaced by an error record keeping its text (failMalformed in lua/includes/finish.lua). */
  private failMalformed(uuid: string, raw: string, now: number, retention: Retention): void {
    const e = `MalformedRecordError: the stored record is not a valid task record: ${raw.slice(0, 200)}`;
    this.storage.finish(uuid, { n: '?', s: 'error', p: 0, a: '[]', c: now, u: now, f: now, t: 1, l: 0, e }, retention);
  }

  /** When the first delayed task or scheduled waiting line is due (Infinity: none is). */
  private firstDueAt(): number {
    // A loop, not a spread: there may be more delayed tasks than a call takes arguments.
    let dueAt = this.waitingLines.nextReopen();
    for (const at of this.delayed.values()) dueAt = Math.min(dueAt, at);
    return dueAt;
  }

  /** One wake-up reaches one idle worker; with none idle it waits for the next. */
  private wake(): void {
    const waiter = this.workWaiters.shift();
    if (waiter) waiter();
    else this.marker = true;
  }
}
