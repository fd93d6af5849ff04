import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Broker, Lease, Retention } from '../brokers/broker.js';
import { errorMessage, InvalidOptionError, type MalformedKeyError, MalformedRecordError, NotAttachedError, shownValue, TaskCancelledError, WorkerStoppedError } from '../core/errors.js';
import { TaskAbort } from '../core/task-abort.js';
import { pause, settleWithin } from '../core/timing.js';
import { traceback } from '../core/executor.js';
import type { ClaimedTask, TaskOutcome } from '../core/task-record.js';
import type { ThreadRunner } from '../core/thread-task.js';
import type { TriggerEvent, TriggerName } from '../plugins/triggers.js';
import { runClaimed } from './run-claimed.js';
import { Worker, type WorkerContext } from './worker.js';

export interface AsyncWorkerOptions {
  broker?: Broker;
  /** Overrides config.maxTasksProcess for this worker. */
  maxTasksProcess?: number;
}

/** Longest idle block on the wake-up marker; a safety net, not a polling period. */
const IDLE_BLOCK_MS = 30_000;
/** How long a cancel for a task not (yet) held here is remembered. */
const EARLY_CANCEL_MEMORY_MS = 10_000;
/** Longest wait for one last Redis call at shutdown (Redis may be gone). */
const SHUTDOWN_STEP_MS = 2_000;
/** Pause after a failed Redis call before the next try. */
const RETRY_PAUSE_MS = 250;
/**
 * Claims on their way at once, each for at most its share of the slots: while the broker serves
 * one, the worker runs the tasks of the other, so neither side waits for the other.
 */
const CLAIMS_IN_FLIGHT = 2;
/**
 * A batch counts as quick when it ran in less than this share of a claim's round trip: its slots
 * are then free again long before a claim sent while it runs can come back.
 */
const QUICK_SHARE_OF_ROUND_TRIP = 0.5;

/**
 * Runs tasks on the event loop, up to maxTasksProcess at once. It claims only as many tasks as it
 * has free slots (or, while tasks finish sooner than a claim comes back, as many as it will have
 * when the claim lands), sleeps on a blocking read while the queue is empty, renews all its leases
 * in one call, and batches completions that finish while a previous batch is being stored.
 */
export class AsyncWorker extends Worker {
  readonly id = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  readonly broker?: Broker;
  private context?: WorkerContext;
  private readonly maxOverride?: number;
  /**
   * Tasks executing now, by lease token: a task whose lease ran out while it ran here may be
   * claimed here again, and its two runs are two entries until the first ends.
   */
  private readonly executing = new Map<string, Promise<void>>();
  /** Abort switches of the running tasks, by uuid (the newest run's): cancel and time limit flip them. */
  private readonly aborts = new Map<string, TaskAbort>();
  private stopCancelListener?: () => Promise<void>;
  /** Cancels that arrived before their task's claim reply (uuid -> when). */
  private readonly earlyCancels = new Map<string, number>();
  /** Leases held until the outcome is stored, by token; `sent` while the outcome is on its way. */
  private readonly leases = new Map<string, HeldLease>();
  /** Outcomes not yet on their way to the broker. */
  private outbox: TaskOutcome[] = [];
  private flushing: Promise<void> = Promise.resolve();
  /** True while drainOutbox loops: a flush then joins it instead of starting another. */
  private draining = false;
  /**
   * True while the claim loop will claim again soon (a claim is on its way, or it waits for a slot
   * to free): new outcomes then ride along with that claim. Otherwise they are stored on their own.
   */
  private claimingSoon = false;
  private stopping = new AbortController();
  private claimLoop?: Promise<void>;
  /** Wakes the claim loop: a slot was freed or a claim came back. */
  private wakeLoop?: () => void;
  /** Slots promised to claims on their way. */
  private reserved = 0;
  private nextDueInMs: number | null = null;
  /** A claimed batch started running in this event-loop turn. */
  private batchStartedThisTurn = false;
  /**
   * The last batch ran in less than half a claim's round trip: claims are sized for every slot,
   * busy or not, since busy ones will be free when the claim lands (see runClaimLoop).
   */
  private claimAhead = false;
  /**
   * How long the last claim that did not wait for work took to come back (ms); 0 until one has,
   * so no batch counts as quick before a round trip was measured.
   */
  private claimRoundTripMs = 0;
  /**
   * Claimed tasks this worker will not run (no free slot, or it is stopping), given back to the
   * queue together once no claim is on its way (see runClaimLoop).
   */
  private readonly unstarted: ClaimedTask[] = [];
  private timers: NodeJS.Timeout[] = [];
  private startedAt = 0;
  /** Set once stopped: results still unsent are dropped, their leases expire and they run again. */
  private closed = false;
  /**
   * Faults logged already: keys claims passed over (by message), and the last failure of a claim
   * and of a wait for work (by message, until one of its kind succeeds: an idle worker's failing
   * wait alternates with claims that work). Every claim meets them again until they are mended,
   * and a log line per claim would bury the rest.
   */
  private readonly loggedKeyFaults = new Set<string>();
  private readonly lastFailures: { claim?: string; wait?: string } = {};
  /** Where thread tasks' exports run: none here, so on the event loop (ThreadWorker sets its pool). */
  protected threadRunner?: ThreadRunner;

  constructor(options: AsyncWorkerOptions = {}) {
    super();
    this.broker = options.broker;
    const { maxTasksProcess } = options;
    // 0, a negative or NaN would leave the worker claiming nothing, silently, for ever.
    if (maxTasksProcess !== undefined && !(Number.isInteger(maxTasksProcess) && maxTasksProcess > 0)) {
      throw new InvalidOptionError(`maxTasksProcess of ${new.target.name} must be a positive integer, got ${shownValue(maxTasksProcess)}.`);
    }
    this.maxOverride = maxTasksProcess;
  }

  get running(): number {
    return this.executing.size;
  }

  attach(context: WorkerContext): void {
    this.context = context;
  }

  protected get ctx(): WorkerContext {
    if (!this.context) {
      throw new NotAttachedError(this.constructor.name, 'pass it to a QueueTasks (option `worker`), which starts and stops it.');
    }
    return this.context;
  }

  private get capacity(): number {
    return this.maxOverride ?? this.ctx.config.maxTasksProcess;
  }

  private get retention(): Retention {
    return this.ctx.config;
  }

  async start(): Promise<void> {
    const { config } = this.ctx;
    this.stopping = new AbortController();
    this.closed = false;
    this.startedAt = Date.now();
    this.stopCancelListener = await this.ctx.broker.onCancelRequested(
      (uuid) => void this.abortCancelled(uuid),
      () => void this.abortMissedCancels(),
    );
    await this.ctx.plugins.trigger('broker_listen_start', { workerId: this.id });
    // Stopped while starting (see stop): a claim loop now would outlive the stop.
    if (this.stopping.signal.aborted) return this.stopCancelListening();
    this.claimLoop = this.runClaimLoop();
    this.every(config.leaseMs / 3, () => this.renewLeases());
    if (config.runningOlderTasks) {
      this.every(config.leaseMs / 2, () => this.recoverExpired());
      // A sweep that fails must not keep the worker from starting: the next one tries again.
      await this.recoverExpired().catch((error: unknown) =>
        this.ctx.logger.error(`worker ${this.id} could not recover expired leases, trying again every ${config.leaseMs / 2} ms: ${errorMessage(error)}`),
      );
    }
    // Stopped during the sweep: that stop has cleared the timers so far, and none may start after it.
    if (this.stopping.signal.aborted) return;
    if (this.ctx.globalConfig) {
      this.every(config.globalConfigStatusTtlMs / 2, () => this.heartbeat());
      await this.heartbeat();
    }
  }

  async stop(graceMs: number): Promise<void> {
    this.stopping.abort();
    // A start that failed before its claim loop (a broker_listen_start handler threw) left only
    // the cancel subscription open: one more connection for each start tried again. A start
    // still under way sees the abort, and starts no claim loop.
    if (!this.claimLoop) {
      this.clearTimers();
      return this.stopCancelListening();
    }
    this.wakeLoop?.();
    // A claim queued while Redis is gone never answers; closing the connection later drops it.
    await settleWithin([this.claimLoop], SHUTDOWN_STEP_MS);
    this.claimLoop = undefined;
    const deadline = Date.now() + graceMs;
    await settleWithin([...this.executing.values()], graceMs);
    await settleWithin([this.flush()], Math.max(deadline - Date.now(), RETRY_PAUSE_MS * 4));
    this.closed = true;
    // Finished, but not sent within the grace (Redis was out of reach): stored by the last calls
    // with the rest, not handed back as unfinished, which would run them again. Taken before the
    // runs still going are stopped: those are handed back, whatever they end with.
    const results = this.outbox.splice(0);
    // Handed back below: another worker runs them, so this run should stop (its outcome is dropped).
    for (const abort of this.aborts.values()) abort.abort(new WorkerStoppedError(graceMs));
    await this.stopCancelListening();
    this.clearTimers();
    const withResult = new Set(results.map(({ token }) => token));
    const unfinished = [...this.leases.values()].filter(({ lease }) => !withResult.has(lease.token)).map(({ lease }) => lease);
    this.leases.clear();
    let released = 0;
    await settleWithin(
      [
        // Should this fail, they wait for a next start to send them (their leases may end first:
        // they then run again).
        results.length > 0 ? this.storeOutcomes(results).catch(() => undefined) : Promise.resolve(),
        // These started here (or, after a give-back that failed, were claimed ahead): they stay
        // counted against their rate limit, which errs on the safe side.
        unfinished.length > 0 ? this.ctx.broker.release(unfinished, this.retention, { started: true }).then((count) => (released = count)) : Promise.resolve(),
        // Only this worker's last claim may have learnt when a task or waiting line is next due
        // (one wake-up reaches one idle worker): another idle worker, woken, learns it in its turn
        // instead of sleeping through it.
        this.nextDueInMs !== null ? this.ctx.broker.wakeWorker() : Promise.resolve(),
        this.ctx.globalConfig?.removeStatus(this.id) ?? Promise.resolve(),
      ],
      SHUTDOWN_STEP_MS,
    );
    if (unfinished.length > 0) {
      this.ctx.logger.warn(`worker ${this.id} stopped with ${unfinished.length} unfinished task(s); ${released} handed back to the queue`);
    }
  }

  private clearTimers(): void {
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
  }

  private async stopCancelListening(): Promise<void> {
    await this.stopCancelListener?.();
    this.stopCancelListener = undefined;
  }

  private async runClaimLoop(): Promise<void> {
    const signal = this.stopping.signal;
    const claims = new Set<Promise<void>>();
    // The last claim got fewer tasks than it asked for: the queue is empty.
    let queueEmpty = false;
    // The last claim got all it asked for: more may be waiting, so a second claim may go out
    // before it comes back (after a wake-up one goes alone: most wake-ups are for a task or two).
    let backlog = false;
    while (!signal.aborted) {
      if (this.unstarted.length > 0) {
        // A claim on its way holds tasks queued after these; should they find no slot either,
        // all go back in one call, in the order they were queued.
        if (claims.size === 0) await this.giveBack(this.unstarted.splice(0));
        else await new Promise<void>((resolve) => (this.wakeLoop = resolve));
        continue;
      }
      // Claiming ahead (quick tasks, and a backlog to work through), a claim asks for all slots
      // and two may be on their way: the tasks of one run, and are done, while the other comes
      // back. Otherwise only free slots are claimed, shared between the claims on their way.
      const ahead = this.claimAhead && backlog;
      const busy = ahead ? 0 : this.executing.size;
      const free = this.capacity * (ahead ? CLAIMS_IN_FLIGHT : 1) - busy - this.reserved;
      const size = Math.min(free, ahead ? this.capacity : Math.ceil(this.capacity / CLAIMS_IN_FLIGHT));
      if (queueEmpty && claims.size === 0 && free > 0) {
        // Idle: store what finished, sleep until an enqueue wakes us or a delayed task is due, and
        // claim the moment it does.
        this.claimingSoon = false;
        void this.flush();
        const waitMs = Math.min(this.nextDueInMs ?? IDLE_BLOCK_MS, IDLE_BLOCK_MS);
        queueEmpty = await this.claimBatch(size, [], signal, waitMs);
        backlog = !queueEmpty;
        continue;
      }
      if (queueEmpty || free <= 0 || claims.size >= (backlog ? CLAIMS_IN_FLIGHT : 1)) {
        this.claimingSoon = !queueEmpty;
        await new Promise<void>((resolve) => (this.wakeLoop = resolve));
        continue;
      }
      // Finished outcomes not already on their way are stored by the claim itself: one round trip.
      const settle = this.outbox;
      this.outbox = [];
      this.claimingSoon = true;
      const claim = this.claimBatch(size, settle, signal).then((short) => {
        queueEmpty ||= short;
        backlog = !short;
        claims.delete(claim);
        this.wakeLoop?.();
      });
      claims.add(claim);
    }
    this.claimingSoon = false;
    await Promise.all(claims);
    if (this.unstarted.length > 0) await this.giveBack(this.unstarted.splice(0));
  }

  /**
   * One claim of up to `size` tasks (after a wait for work when `waitMs` is given); resolves true
   * when the queue had fewer tasks than asked (it is empty now) or the worker is stopping.
   */
  private async claimBatch(size: number, settle: TaskOutcome[], signal: AbortSignal, waitMs?: number): Promise<boolean> {
    const { broker, config } = this.ctx;
    this.reserved += size;
    this.markSent(settle, true);
    try {
      const sentAt = performance.now();
      const request = { workerId: this.id, max: size, leaseMs: config.leaseMs, retention: this.retention, rateLimits: this.ctx.rateLimits, runningLimits: this.ctx.runningLimits };
      const batch = waitMs === undefined ? await broker.claim(request, settle) : await broker.claimAfterWait(waitMs, signal, request);
      if (!batch) return true;
      this.lastFailures[waitMs === undefined ? 'claim' : 'wait'] = undefined;
      if (waitMs === undefined) this.claimRoundTripMs = performance.now() - sentAt;
      this.settled(settle, batch.stored);
      this.logPassedOverKeys(batch.malformedKeys);
      if (signal.aborted) {
        // Claimed while stopping: they go back. What the claim learned is handed on by the stop
        // (wakeWorker): its wait may have used up the wake-up of a delayed task.
        this.nextDueInMs = batch.nextDueInMs;
        this.unstarted.push(...batch.tasks);
        return true;
      }
      // Both claims' replies were read in one turn (Redis answers back-to-back claims together):
      // this batch waits a turn, so the claim carrying the first batch's outcomes leaves before
      // this one runs and Redis serves it meanwhile. Run together, the two batches would send the
      // next two claims together again, and Redis and the worker would go on taking turns.
      if (this.batchStartedThisTurn) await nextTurn();
      this.batchStartedThisTurn = true;
      setImmediate(() => (this.batchStartedThisTurn = false));
      this.nextDueInMs = batch.nextDueInMs;
      // Tasks waiting to be given back were queued before this batch's: none of it overtakes them.
      const room = this.unstarted.length > 0 ? 0 : Math.max(this.capacity - this.executing.size, 0);
      this.runBatch(batch.tasks.slice(0, room));
      if (batch.tasks.length > room) {
        // Claimed ahead, but the slots are still busy: tasks slower than a round trip showed up.
        this.claimAhead = false;
        this.unstarted.push(...batch.tasks.slice(room));
      }
      return batch.tasks.length < size;
    } catch (error) {
      this.unsent(settle);
      if (signal.aborted) return true;
      this.logClaimFailure(error, waitMs === undefined ? 'claim' : 'wait');
      void this.flush();
      await pause(RETRY_PAUSE_MS, signal);
      return false;
    } finally {
      this.reserved -= size;
    }
  }

  /** Logs each key a claim passed over, once for this worker's life. */
  private logPassedOverKeys(faults: MalformedKeyError[] = []): void {
    for (const fault of faults) {
      if (this.loggedKeyFaults.has(fault.message)) continue;
      this.loggedKeyFaults.add(fault.message);
      this.ctx.logger.error(`worker ${this.id} claims pass over a key until it is mended (logged once): ${fault.name}: ${fault.message}`);
    }
  }

  /** Logs a failed claim, unless the last one of its kind failed the same way (it is tried again every few hundred ms). */
  private logClaimFailure(error: unknown, kind: 'claim' | 'wait'): void {
    const message = errorMessage(error);
    if (message === this.lastFailures[kind]) return;
    this.lastFailures[kind] = message;
    this.ctx.logger.error(`worker ${this.id} could not claim tasks (logged again once it fails otherwise): ${message}`);
  }

  /**
   * Starts a claimed batch, and tells from how long it takes whether to claim ahead: only when it
   * was quick and left no task running (tasks of other batches still running are slow ones, whose
   * slots a claim sent now would find busy).
   */
  private runBatch(tasks: ClaimedTask[]): void {
    if (tasks.length === 0) return;
    const startedAt = performance.now();
    let left = tasks.length;
    const taskEnded = () => {
      if (--left > 0) return;
      const quick = performance.now() - startedAt < this.claimRoundTripMs * QUICK_SHARE_OF_ROUND_TRIP;
      this.claimAhead = quick && this.executing.size === 0;
    };
    for (const task of tasks) this.execute(task, taskEnded);
  }

  /**
   * Puts claimed tasks this worker will not run now back at the head of the queue, where any
   * worker can take them. Should that fail, they are not run here: the call may have reached Redis
   * (its reply lost), and they may be queued already. They stay held (renewed, and handed back with
   * the unfinished tasks should the worker stop) and the claim loop gives them back again, which
   * gives back only what is still held under their tokens; nothing is claimed before they are.
   * `why` says in the warning why this worker does not run them.
   */
  private async giveBack(tasks: ClaimedTask[], why = 'it has no slot for'): Promise<void> {
    try {
      await this.ctx.broker.release(tasks.map(leaseOf), this.retention);
      for (const { token } of tasks) this.leases.delete(token);
    } catch (error) {
      this.ctx.logger.warn(`worker ${this.id} could not give back ${tasks.length} task(s) ${why}; trying again: ${errorMessage(error)}`);
      for (const task of tasks) this.hold(task);
      this.unstarted.unshift(...tasks);
      await pause(RETRY_PAUSE_MS, this.stopping.signal);
    }
  }

  private execute(task: ClaimedTask, ended?: () => void): void {
    const { record: { uuid }, token } = task;
    this.hold(task);
    const abort = new TaskAbort(this.ctx.config.shutdownGraceMs);
    this.aborts.set(uuid, abort);
    if (this.earlyCancels.delete(uuid)) void this.abortCancelled(uuid);
    const run = runClaimed(this.ctx, this.id, task, abort, this.threadRunner).then((outcome) => {
      this.executing.delete(token);
      if (this.aborts.get(uuid) === abort) this.aborts.delete(uuid);
      ended?.();
      // Ended once the stop's grace was over: handed back with the unfinished tasks (or about to
      // be), so another run of it counts, not this one.
      if (this.closed || !this.leases.has(token)) return;
      // Stopped before the grace ran out: its work never started (a thread task the pool refused
      // to start once the stop began), so it goes back as an unstarted claim does, at once.
      if (abort.reason instanceof WorkerStoppedError) return this.giveBack([task], 'the stop kept from starting on a thread');
      this.outbox.push(outcome);
      if (!this.claimingSoon) void this.flush();
      this.wakeLoop?.();
    });
    this.executing.set(token, run);
  }

  private hold(task: ClaimedTask): void {
    this.leases.set(task.token, { lease: leaseOf(task), sent: false });
  }

  /** Outcomes go out (or came back unsent): a lease whose outcome is on its way may end any moment. */
  private markSent(outcomes: TaskOutcome[], sent: boolean): void {
    for (const { token } of outcomes) {
      const held = this.leases.get(token);
      if (held) held.sent = sent;
    }
  }

  /** Outcomes whose call failed: first in line for the next one. */
  private unsent(outcomes: TaskOutcome[]): void {
    this.markSent(outcomes, false);
    this.outbox.unshift(...outcomes);
  }

  /**
   * A cancel for a running task was published: abort it if this worker holds it. The message
   * travels on another connection than the claim's reply, so it may come first: remember it a
   * while, and `execute` honours it when the claimed task shows up.
   */
  private async abortCancelled(uuid: string): Promise<void> {
    const abort = this.aborts.get(uuid);
    if (!abort) {
      this.earlyCancels.set(uuid, Date.now());
      for (const [old, at] of this.earlyCancels) if (Date.now() - at > EARLY_CANCEL_MEMORY_MS) this.earlyCancels.delete(old);
      return;
    }
    const record = await this.ctx.broker.storage.get(uuid).catch(() => null);
    // A note outlives its run: the task may have been requeued since (a new run, no cancel asked).
    if (record && record.cancelReason === undefined) return;
    abort.abort(new TaskCancelledError(record?.cancelReason ?? 'cancelled'));
  }

  /**
   * Aborts the running tasks whose cancel was asked for while the cancel subscription was down (its
   * message lost): their records carry the reason. A record that cannot be read aborts nothing.
   */
  private async abortMissedCancels(): Promise<void> {
    // All at once: the reads share the connection's round trips rather than take one each in turn.
    await Promise.all(
      [...this.aborts].map(async ([uuid, abort]) => {
        const record = await this.ctx.broker.storage.get(uuid).catch(() => null);
        if (record?.cancelReason !== undefined) abort.abort(new TaskCancelledError(record.cancelReason));
      }),
    );
  }

  /** Stores every pending outcome; outcomes that arrive meanwhile go in the next batch. */
  private flush(): Promise<void> {
    if (!this.draining) {
      this.draining = true;
      this.flushing = this.drainOutbox();
    }
    return this.flushing;
  }

  private async drainOutbox(): Promise<void> {
    try {
      while (this.outbox.length > 0 && !this.closed) {
        const batch = this.outbox;
        this.outbox = [];
        try {
          await this.storeOutcomes(batch);
        } catch (error) {
          this.ctx.logger.error(`worker ${this.id} could not store ${batch.length} result(s), retrying: ${errorMessage(error)}`);
          await pause(RETRY_PAUSE_MS);
        }
      }
    } finally {
      // Cleared in the same step as the last look at the outbox: an outcome pushed after it
      // starts a new drain rather than joining one that is already over.
      this.draining = false;
    }
  }

  /** Stores a batch of outcomes; should the call fail, they are first in the outbox again and it rejects. */
  private async storeOutcomes(batch: TaskOutcome[]): Promise<void> {
    this.markSent(batch, true);
    try {
      this.settled(batch, await this.ctx.broker.complete(batch, this.retention));
    } catch (error) {
      this.unsent(batch);
      throw error;
    }
  }

  /** Ends the leases of outcomes the broker has taken; `stored[i]` is false where a lease was lost. */
  private settled(outcomes: TaskOutcome[], stored: boolean[]): void {
    outcomes.forEach((outcome, index) => {
      this.leases.delete(outcome.token);
      if (stored[index]) {
        // Checked here too: no event is built per task when nothing listens.
        if (this.ctx.plugins.has('storage_update')) this.notify('storage_update', { uuid: outcome.uuid, status: outcome.status });
      } else {
        this.ctx.logger.warn(
          `task ${outcome.uuid}: its lease expired before it finished and another worker took it; this result was discarded`,
        );
      }
    });
  }

  /** Renews the held leases but those found lost, which are warned about once and not renewed again. */
  private async renewLeases(): Promise<void> {
    const renewable = [...this.leases.values()].filter(({ lost }) => !lost);
    await Promise.all(withDistinctUuids(renewable).map((group) => this.renewGroup(group)));
  }

  private async renewGroup(group: HeldLease[]): Promise<void> {
    const lost = new Set(await this.ctx.broker.renew(group.map(({ lease }) => lease), this.ctx.config.leaseMs));
    for (const held of group) {
      // A renewal that overlapped this one may have found it lost already.
      if (!lost.has(held.lease.uuid) || held.lost) continue;
      held.lost = true;
      // An outcome stored meanwhile, or on its way (Redis may have stored it before this renewal,
      // its reply still to come), ended that lease on purpose.
      if (!held.sent) this.ctx.logger.warn(`task ${held.lease.uuid}: lease lost (expired and recovered elsewhere, or the task was removed)`);
    }
  }

  private async recoverExpired(): Promise<void> {
    // A Redis restart (or any time it was out of reach) stops every worker's renewals: their
    // leases may have run out meanwhile, so they get a whole lease to renew before any sweep.
    if (this.ctx.broker.recoveryPaused(this.ctx.config.leaseMs)) return;
    const { requeued, failed, malformed = [] } = await this.ctx.broker.recover(this.ctx.config.maxStalls, this.retention);
    this.notify('broker_running_older_tasks', { requeued, failed });
    this.notify('storage_running_older_tasks', { requeued, failed });
    for (const { uuid, reason } of malformed) {
      const error = new MalformedRecordError(uuid, reason);
      this.ctx.logger.error(`worker ${this.id} recovering expired leases: ${error.name}: ${error.message}`);
    }
    if (requeued + failed > 0) {
      this.ctx.logger.warn(`recovered tasks of dead workers: ${requeued} queued again, ${failed} not run again (too many stalls, cancelled, or malformed)`);
    }
  }

  private async heartbeat(): Promise<void> {
    await this.ctx.globalConfig?.setStatus(
      {
        id: this.id,
        host: hostname(),
        pid: process.pid,
        startedAt: this.startedAt,
        running: this.executing.size,
        maxTasksProcess: this.capacity,
        tasks: this.ctx.taskNames,
      },
      this.ctx.config.globalConfigStatusTtlMs,
    );
  }

  /** Fires an informing trigger without waiting for it; a failing plugin is logged. */
  private notify<T extends TriggerName>(trigger: T, event: TriggerEvent<T>): void {
    if (!this.ctx.plugins.has(trigger)) return;
    this.ctx.plugins.trigger(trigger, event).catch((error: unknown) => this.ctx.logger.error(traceback(error)));
  }

  /** A periodic job whose failures are logged, never thrown (Redis may be restarting). */
  private every(periodMs: number, job: () => Promise<void>): void {
    const timer = setInterval(() => {
      job().catch((error) => this.ctx.logger.error(`worker ${this.id}: ${errorMessage(error)}`));
    }, periodMs);
    timer.unref();
    this.timers.push(timer);
  }
}

interface HeldLease {
  lease: Lease;
  /** Its outcome is on its way to the broker. */
  sent: boolean;
  /** A renewal found it lost: it is no longer renewed (the task may still be running here). */
  lost?: boolean;
}

/**
 * Leases in groups where no uuid comes twice: a renewal names the lost leases by uuid, and a task
 * whose lease was lost while it ran here may be held again here under a new one.
 */
function withDistinctUuids(leases: HeldLease[]): HeldLease[][] {
  const groups: { uuids: Set<string>; leases: HeldLease[] }[] = [];
  for (const held of leases) {
    const { uuid } = held.lease;
    let group = groups.find(({ uuids }) => !uuids.has(uuid));
    if (!group) groups.push((group = { uuids: new Set(), leases: [] }));
    group.uuids.add(uuid);
    group.leases.push(held);
  }
  return groups.map((group) => group.leases);
}

/** The lease a claimed task is held under. */
function leaseOf({ record, token }: ClaimedTask): Lease {
  return { uuid: record.uuid, token };
}
