import { InvalidOptionError, TaskNotFoundError, TaskStateError, type MalformedKeyError } from '../core/errors.js';
import type { RateLimits } from '../core/rate-limit.js';
import type { RunningLimits } from '../core/running-limit.js';
import type { ClaimedTask, NewTask, TaskOutcome, TaskRecord } from '../core/task-record.js';
import type { Storage } from '../storages/storage.js';

export interface Lease {
  uuid: string;
  token: string;
}

export interface ClaimBatch {
  tasks: ClaimedTask[];
  /** One per outcome the claim settled first: false where the lease was lost (see `complete`). */
  stored: boolean[];
  /** Milliseconds until the next delayed task or waiting line is due; null when none. */
  nextDueInMs: number | null;
  /**
   * Keys the claim passed over, holding what the engine does not keep there (a queue list of
   * another Redis type, a counter holding no integer): it took what it could without them. Absent
   * when there are none.
   */
  malformedKeys?: MalformedKeyError[];
}

/** What a worker asks for when it claims: up to `max` tasks, each under a lease of `leaseMs`. */
export interface ClaimRequest {
  workerId: string;
  max: number;
  leaseMs: number;
  retention: Retention;
  /**
   * Tasks with a rate limit, by name. One met while its window is full is not claimed: it waits in
   * its task's waiting line, in order, and claims start it from there, before queued tasks, once
   * the window has room (`nextDueInMs` says when it reopens). The limits are the claiming worker's:
   * every worker of an app should declare the same.
   */
  rateLimits?: RateLimits;
  /**
   * Tasks with a maxRunning, by name. A claimed one holds one of its name's running slots until
   * its outcome is stored, it is given back or its lease is recovered; one met while every slot is
   * held waits in its task's waiting line, in order, and claims start it from there, before queued
   * tasks, once a slot is free (the end that frees it wakes an idle worker). Like `rateLimits`,
   * the claiming worker's.
   */
  runningLimits?: RunningLimits;
}

/** What a recovery sweep did (see Broker.recover). */
export interface RecoverOutcome {
  /** Tasks back in the queue (or their waiting line). */
  requeued: number;
  /** Tasks that will not run again: more than maxStalls stalls, a cancel asked for, or a malformed record. */
  failed: number;
  /** Records among `failed` that were no task records, with why: present only when there are any. */
  malformed?: { uuid: string; reason: string }[];
}

/** Refuses an empty task name, which no task has (a backend may store the whole queue's pause under it). */
export function assertPauseTarget(taskName: string | undefined): void {
  if (taskName === '') throw new InvalidOptionError('setPaused takes a task name, or none for the whole queue; got an empty one.');
}

/** How `Broker.release` counts what it gives back. */
export interface ReleaseOptions {
  /** The tasks started here (a stopping worker's): they stay counted against their rate limit. */
  started?: boolean;
}

/** What `Broker.requeue` answers: the record after the call, and whether it went back to its queue. */
export type RequeueOutcome = { requeued: boolean; record: TaskRecord } | null;

/** The record of a requeued task, or the typed error saying why it was not requeued. */
export function requeuedRecord(uuid: string, outcome: RequeueOutcome): TaskRecord {
  if (outcome === null) throw new TaskNotFoundError(uuid);
  if (!outcome.requeued) throw new TaskStateError(uuid, outcome.record.status, 'only a task that ended error or cancel can be requeued');
  return outcome.record;
}

/** Retention of finished records, applied by every change that finishes a task. */
export interface Retention {
  deleteFinishedTasks: boolean;
  resultTtlMs: number;
  keepFinishedTasks: number;
}

/**
 * Broker: takes tasks in and hands them to workers under leases. Holds the link to Storage,
 * where the records it changes live.
 */
export abstract class Broker {
  abstract readonly storage: Storage;

  abstract start(): Promise<void>;
  abstract stop(): Promise<void>;

  /**
   * Stores and queues new tasks, all or none. Returns one uuid per task: its own, or for a task
   * whose unique key is already held, the uuid of the holder (the task itself is dropped).
   */
  abstract enqueue(tasks: NewTask[]): Promise<string[]>;

  /**
   * Enqueues one task as `enqueue` does, unless the backend's clock is past `deadline` (Unix ms)
   * when the task would be stored: null then, and nothing is stored. A backend whose calls may be
   * sent again after a reconnect checks the deadline as the call runs there.
   */
  async enqueueBefore(task: NewTask, deadline: number): Promise<string | null> {
    if (Date.now() > deadline) return null;
    const [uuid] = await this.enqueue([task]);
    return uuid!;
  }

  /**
   * Takes up to `max` tasks for `workerId`, each under a lease of `leaseMs`, within their rate
   * limits. Never blocks. Stores the `settle` outcomes first, in the same step, as `complete`
   * would: a busy worker hands in one batch and takes the next in one round trip.
   */
  abstract claim(request: ClaimRequest, settle?: TaskOutcome[]): Promise<ClaimBatch>;

  /** Resolves when work may have arrived, after `timeoutMs`, or when `signal` aborts. */
  abstract waitForWork(timeoutMs: number, signal: AbortSignal): Promise<void>;

  /**
   * An idle worker's step: `waitForWork`, then `claim`. When `signal` aborts the wait it resolves
   * with null, or with what a claim that ran as the wait ended took, for the caller to hand back.
   * A backend may do both in one exchange (Redis sends the claim right behind the blocking read, so
   * it runs the moment work arrives, without a round trip in between).
   */
  async claimAfterWait(timeoutMs: number, signal: AbortSignal, request: ClaimRequest): Promise<ClaimBatch | null> {
    await this.waitForWork(timeoutMs, signal);
    if (signal.aborted) return null;
    return this.claim(request);
  }

  /** Stores outcomes; false for each task whose lease was lost (its outcome is discarded). */
  abstract complete(outcomes: TaskOutcome[], retention: Retention): Promise<boolean[]>;

  /** Extends leases; returns the uuids whose lease is lost. */
  abstract renew(leases: Lease[], leaseMs: number): Promise<string[]>;

  /**
   * Gives held tasks back to the head of the queue (of their waiting line, when tasks of their name
   * wait), in the order they were claimed: a batch claimed ahead that found no free slot, or a
   * stopping worker's tasks, with `started` when they started (they stay counted against their
   * rate limit; unstarted ones leave its window's count). A task whose cancel was asked for ends
   * `cancel` instead. Returns how many went back.
   */
  abstract release(leases: Lease[], retention: Retention, options?: ReleaseOptions): Promise<number>;

  /**
   * Re-queues tasks whose lease expired; after `maxStalls` a task ends `error` instead. Wakes an
   * idle worker when it re-queued or freed anything, and, as a safety net for a lost wake-up (the
   * one idle worker that knew when something is due died), when a delayed task or a waiting line
   * is due with no wake-up pending, unless the whole queue is paused.
   */
  abstract recover(maxStalls: number, retention: Retention): Promise<RecoverOutcome>;

  /**
   * Whether a recovery sweep now could take live workers' tasks: the backend cannot be reached
   * (a sweep held until it is back would run first thing), or came back less than `leaseMs` ago,
   * when leases may have run out only because their workers could not renew them. False for a
   * backend that is never out of reach.
   */
  recoveryPaused(_leaseMs: number): boolean {
    return false;
  }

  /**
   * Whether a call made now would be held until the backend can be reached again (Redis down with
   * whenRedisDown 'wait'), rather than answered or refused. False for a backend never out of reach.
   */
  holdingCalls(): boolean {
    return false;
  }

  /**
   * Cancels a task: one not started never runs (status `cancel`); for a running one the request
   * reaches its worker through `onCancelRequested`. Returns the record after the call, or null.
   */
  abstract cancel(uuid: string, reason: string, retention: Retention): Promise<TaskRecord | null>;

  /**
   * Puts a task that ended `error` or `cancel` back at the tail of its queue as `new`, under its
   * uuid, with attempt 1 again; its last traceback joins `errors`, and the finished index and a
   * result TTL no longer apply to it. A task in another status is left as it is (`requeued`
   * false). Null when there is no such task.
   */
  abstract requeue(uuid: string): Promise<RequeueOutcome>;

  /**
   * Pauses (or resumes) starting tasks: of the whole queue, or of the task `taskName` only. While
   * paused, claims start none of them (they stay `new`, in order; running tasks go on); a task of
   * a paused name met by a claim waits aside, and starts first after the resume. Pauses are kept
   * in the backend, so they hold for every worker until resumed.
   */
  abstract setPaused(paused: boolean, taskName?: string): Promise<void>;

  /**
   * Wakes one idle worker (one in `waitForWork`), or the next to wait should none be idle. A
   * stopping worker hands over with it what its last claim may have told it alone: when the next
   * delayed task or waiting line is due (the woken worker's claim learns it).
   */
  abstract wakeWorker(): Promise<void>;

  /**
   * Calls `listener` with the uuid of each running task whose cancel is asked for; resolves to an
   * unsubscribe. `missed`, when given, is called once the subscription is back after a lapse
   * (a lost connection): cancels asked for meanwhile went unheard, and their records tell.
   */
  abstract onCancelRequested(listener: (uuid: string) => void, missed?: () => void): Promise<() => Promise<void>>;

  /** Stores progress (JSON) reported by a running task; false when the lease is lost. */
  abstract progress(lease: Lease, progressJson: string): Promise<boolean>;
}
