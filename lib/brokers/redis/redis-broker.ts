import { randomUUID } from 'node:crypto';
import { Cluster } from 'ioredis';
import { AddOutcomeUnknownError, InvalidOptionError, RedisUnavailableError } from '../../core/errors.js';
import type { RateLimits } from '../../core/rate-limit.js';
import type { RunningLimits } from '../../core/running-limit.js';
import type { ClaimedTask, NewTask, TaskOutcome, TaskRecord } from '../../core/task-record.js';
import { neverSent, type RedisClient } from '../../redis/connection.js';
import { mistypedKey, queueKeyTypes } from '../../redis/key-types.js';
import { isWrongTypeError } from '../../redis/record-text.js';
import { passedOverKeys, ScriptRunner, type ScriptName } from '../../redis/scripts.js';
import { encodeNewRecord, decodeRecord } from '../../storages/record-codec.js';
import { RedisStorage, type RedisStorageOptions } from '../../storages/redis/redis-storage.js';
import { EnqueueBatcher, type BatchLimits } from './enqueue-batcher.js';
import { assertPauseTarget, Broker, type ClaimBatch, type ClaimRequest, type Lease, type RecoverOutcome, type ReleaseOptions, type RequeueOutcome, type Retention } from '../broker.js';

/** Concurrent adds joined into one enqueue call carry at most this much (see EnqueueBatcher). */
const ENQUEUE_BATCH_LIMITS: BatchLimits = { tasks: 1000, chars: 4 * 1024 * 1024 };
/** Longest wait for Redis to end an aborted wait for work before its connection is closed (see endWait). */
const END_WAIT_MS = 2_000;
/**
 * How often a worker on a Redis Cluster reads its running tasks' records for cancels it may have
 * missed: ioredis moves a lost cluster subscription to a new connection without any event, so the
 * lapse cannot be seen as it is on a single Redis (see onCancelRequested).
 */
const CLUSTER_CANCEL_RECHECK_MS = 5_000;

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
  /**
   * Tasks of each claimed batch whose outcome is not stored yet. The call that settles a batch's
   * last task also ends its lease (see lua/includes/leases.lua).
   */
  private readonly unsettled = new Map<string, number>();
  /**
   * Numbers each claim and complete call: one the client library sends again after its reply was
   * lost keeps its number, and the script answers it as the first time (see claim.lua).
   */
  private calls = 0;
  /** Names this broker to complete.lua, which keeps each caller's last call. */
  private readonly callerId = randomUUID();
  /** The wake-up list its waits listen to beside the shared marker, so that a stop can end them (see endWait). */
  private readonly ownWakeUp: string;
  /** enqueue.lua's keys, built once: every add sends them. */
  private readonly enqueueKeys: readonly string[];
  private readonly enqueues = new EnqueueBatcher((values) => this.sendEnqueue(values), ENQUEUE_BATCH_LIMITS);

  constructor(options: RedisBrokerOptions = {}) {
    super();
    this.ownsStorage = !options.storage;
    this.storage = options.storage ?? new RedisStorage(options);
    this.scripts = new ScriptRunner(this.storage.client, this.storage.connection.enqueueLane);
    this.enqueueKeys = [this.keys.priorities, this.keys.delayed, this.keys.marker];
    this.ownWakeUp = this.keys.ownWakeUp(this.callerId);
  }

  private get keys() {
    return this.storage.keys;
  }

  /**
   * When the Redis that holds the app's keys started (ms since the epoch), as read at start; 0
   * when it cannot be read (INFO refused).
   */
  private redisStartedAt = 0;

  async start(): Promise<void> {
    await this.storage.connection.connect();
    this.redisStartedAt = await this.readRedisStart();
  }

  /**
   * From Redis's uptime, in whole seconds: rounded down, so the start found is never earlier than
   * the real one. On a cluster, the uptime of the master that holds the app's slot.
   */
  private async readRedisStart(): Promise<number> {
    const uptimeS = await this.scripts.run('uptime', [this.keys.marker], []).catch(() => null);
    return typeof uptimeS === 'number' ? Date.now() - uptimeS * 1000 : 0;
  }

  async stop(): Promise<void> {
    const blocking = await this.blocking?.catch(() => undefined);
    this.blocking = undefined;
    if (blocking) await this.storage.connection.drop(blocking);
    if (this.ownsStorage) await this.storage.stop();
  }

  enqueue(tasks: NewTask[]): Promise<string[]> {
    return this.sendTasks(tasks, this.sendBatched);
  }

  /** One enqueue call of its own (never joined with other adds), checking the deadline in Redis (enqueue-before.lua). */
  override enqueueBefore(task: NewTask, deadline: number): Promise<string | null> {
    return this.sendTasks([task], (values) => this.sendBefore(values, deadline));
  }

  /**
   * Sends the tasks' enqueue values with `send`, after the first connect where it must wait for it;
   * a failure typed: Redis unreachable, or, for a call lost on its way, AddOutcomeUnknownError.
   */
  private sendTasks<T>(tasks: NewTask[], send: (values: string[]) => Promise<T>): Promise<T> {
    if (tasks.length === 0) return Promise.resolve([] as T);
    let values: string[];
    try {
      values = tasks.map(enqueueValue);
    } catch (error) {
      return Promise.reject(error);
    }
    const { connection } = this.storage;
    const opening = connection.firstConnect();
    const sent = (opening ? opening.then(() => send(values)) : send(values)).catch((error: unknown) => {
      const failure = connection.unavailable(error);
      // Lost on its way, not refused before it left (nor before any connect): the caller must know
      // Redis may have stored it.
      const mayHaveRun = !neverSent(error) && connection.connectedOnce;
      if (failure instanceof RedisUnavailableError && mayHaveRun) throw new AddOutcomeUnknownError(failure, tasks.map((task) => task.uuid));
      throw failure;
    });
    // Before start, the call keeps the process alive until it settles (see callStarted); counted
    // beside the caller's chain, so a started app's add makes no closure for it.
    if (!connection.started) {
      const ended = connection.callStarted();
      sent.then(ended, ended);
    }
    return sent;
  }

  /** Built once: every add passes it. */
  private readonly sendBatched = (values: string[]): Promise<string[]> => this.enqueues.enqueue(values);

  private sendEnqueue(values: string[]): Promise<string[]> {
    // Here, not in enqueue: adds joined into a later call may find the app stopped meanwhile.
    this.storage.connection.refuseIfClosed(this.keys.appName);
    return this.scripts.runOnLane('enqueue', this.enqueueKeys, [this.keys.prefix, ...values]).then((uuids) => (uuids as string).split(' '));
  }

  private async sendBefore([value]: string[], deadline: number): Promise<string | null> {
    this.storage.connection.refuseIfClosed(this.keys.appName);
    // On the adds' lane too, so adds keep the order they leave in (a lost call sent again past its
    // deadline answers the task it stored: enqueue-before.lua).
    const uuid = await this.scripts.runOnLane('enqueue-before', this.enqueueKeys, [this.keys.prefix, value!, deadline]);
    return uuid === null ? null : (uuid as string);
  }

  async claim(request: ClaimRequest, settle: TaskOutcome[] = []): Promise<ClaimBatch> {
    return this.claimOn(this.storage.client, request, settle);
  }

  /** A claim on `client`: the main connection, or the blocking one right behind BLPOP. */
  private async claimOn(client: RedisClient, request: ClaimRequest, settle: TaskOutcome[] = []): Promise<ClaimBatch> {
    const { workerId, max, leaseMs, retention, rateLimits, runningLimits } = request;
    const settling = this.settleOnSend(settle);
    const args = [
      this.keys.prefix,
      workerId,
      max,
      leaseMs,
      ...retentionArgs(retention),
      ++this.calls,
      ...limitArgs(rateLimits, runningLimits),
      ...outcomeArgs(settle, settling.ended),
    ];
    const [nextDue, stored, batch, claimed, faults] = (await this.scripts
      .run('claim', this.stateKeys, args, client)
      .catch(settling.undo)
      .catch((error: unknown) => this.namingMistypedKey(error))) as [
      number,
      string,
      string,
      string,
      string | undefined,
    ];
    const tasks: ClaimedTask[] = [];
    const malformed: TaskOutcome[] = [];
    if (claimed !== '') {
      // `<uuid>\n<record>` per task; the n-th task's token is `<batch>:<n>` (see claim.lua).
      const parts = claimed.split('\n');
      for (let i = 0; i < parts.length; i += 2) {
        const [uuid, token] = [parts[i]!, `${batch}:${i / 2 + 1}`];
        try {
          tasks.push({ token, record: decodeRecord(uuid, parts[i + 1]!) });
        } catch (error) {
          // The script checks a record's head only: one the codec refuses fails alone, not its batch.
          malformed.push({ uuid, token, status: 'error', payload: `${(error as Error).name}: ${(error as Error).message}` });
        }
      }
      // One claim is one batch (see lua/includes/leases.lua).
      this.unsettled.set(batch, tasks.length + malformed.length);
    }
    // Should this fail, they come back when the lease ends, and fail then.
    if (malformed.length > 0) await this.complete(malformed, retention).catch(() => undefined);
    const claimBatch: ClaimBatch = { tasks, stored: storedFlags(stored), nextDueInMs: nextDue < 0 ? null : nextDue };
    if (faults) claimBatch.malformedKeys = passedOverKeys(faults);
    return claimBatch;
  }

  async waitForWork(timeoutMs: number, signal: AbortSignal): Promise<void> {
    await this.blockOnMarker(timeoutMs, signal);
  }

  /**
   * The claim goes out on the blocking connection right behind BLPOP, so Redis runs it as soon as
   * the wake-up marker arrives, with no round trip to this process in between. A stop ends the wait
   * from Redis's side (see endWait), so the claim runs then too and its answer arrives: tasks it took
   * (work that arrived just as the worker stopped) are handed back at once, not held until their
   * lease ends. Null when the wait was aborted before it began, or its claim did not answer.
   */
  override async claimAfterWait(timeoutMs: number, signal: AbortSignal, request: ClaimRequest): Promise<ClaimBatch | null> {
    let claim: Promise<ClaimBatch> | undefined;
    await this.blockOnMarker(timeoutMs, signal, (client) => (claim = this.claimOn(client, request)));
    if (!claim) return null;
    // After an abort, a claim that failed (its connection closed: Redis down) took nothing it can tell of.
    return signal.aborted ? claim.catch(() => null) : claim;
  }

  /**
   * BLPOP on the wake-up marker and this broker's own wake-up list, on a connection of its own;
   * `behind` sends more on it at once.
   */
  private async blockOnMarker(timeoutMs: number, signal: AbortSignal, behind?: (client: RedisClient) => Promise<unknown>): Promise<void> {
    if (signal.aborted) return;
    this.blocking ??= this.storage.connection.duplicate();
    const client = await this.blocking;
    // Stopped while the connection was opening: the abort event has fired already, so BLPOP would
    // hold the stop for its whole timeout.
    if (signal.aborted) return;
    const woken = client.blpop(this.keys.marker, this.ownWakeUp, Math.max(timeoutMs, 1) / 1000);
    const answered = Promise.allSettled([woken, behind?.(client)]);
    const onAbort = () => {
      // The next wait opens a connection of its own; this one closes once its wait has answered.
      this.blocking = undefined;
      this.endWait(client, answered);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      await woken;
    } catch (error) {
      if (!signal.aborted) await this.namingMistypedKey(error);
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  /**
   * Ends an aborted wait on `client` by a push to this broker's own wake-up list (end-wait.lua),
   * then closes the connection once the wait and the claim behind it have answered. Closing it at
   * once would end the wait too, but Redis may have run the claim just before, and its answer
   * would be lost with the tasks it took. Should Redis not answer within END_WAIT_MS (it is down),
   * the connection is closed all the same.
   */
  private endWait(client: RedisClient, answered: Promise<unknown>): void {
    const { connection } = this.storage;
    // Not connected: no answer is on its way to be lost, and none would come.
    if (client.status !== 'ready' || connection.client.status !== 'ready') return void connection.drop(client);
    const closeAnyway = setTimeout(() => void connection.drop(client), END_WAIT_MS);
    this.scripts.run('end-wait', [this.ownWakeUp], [END_WAIT_MS]).catch(() => connection.drop(client));
    void answered.then(() => {
      clearTimeout(closeAnyway);
      return connection.drop(client);
    });
  }

  /**
   * Rethrows a claim's or a wait's failure; a refusal of a key of another Redis type (one the claim
   * cannot pass over, or the wake-up marker) as MalformedKeyError naming it, looked up only then.
   */
  private async namingMistypedKey(error: unknown): Promise<never> {
    if (!isWrongTypeError(error)) throw error;
    const named = await mistypedKey(this.storage.client, [...queueKeyTypes(this.keys), [this.keys.marker, 'list']]).catch(() => undefined);
    throw named ?? error;
  }

  async complete(outcomes: TaskOutcome[], retention: Retention): Promise<boolean[]> {
    if (outcomes.length === 0) return [];
    const settling = this.settleOnSend(outcomes);
    const reply = (await this.scripts
      .run('complete', this.stateKeys, [this.keys.prefix, this.callerId, ++this.calls, ...retentionArgs(retention), ...outcomeArgs(outcomes, settling.ended)])
      .catch(settling.undo)) as string;
    return storedFlags(reply);
  }

  /** The keys of the queue and lease state, which claim and complete both change. */
  private get stateKeys(): string[] {
    return [this.keys.priorities, this.keys.delayed, this.keys.marker, this.keys.active];
  }

  async renew(leases: Lease[], leaseMs: number): Promise<string[]> {
    if (leases.length === 0) return [];
    const batches = new Set(leases.map(({ token }) => batchOf(token)));
    const lost = new Set((await this.scripts.run('renew', [this.keys.active], [leaseMs, ...batches])) as string[]);
    return leases.filter(({ token }) => lost.has(batchOf(token))).map(({ uuid }) => uuid);
  }

  async release(leases: Lease[], retention: Retention, { started = false }: ReleaseOptions = {}): Promise<number> {
    if (leases.length === 0) return 0;
    const { ended, undo } = this.settleOnSend(leases);
    const args = [this.keys.prefix, ...retentionArgs(retention), started ? '1' : '0', ended.length, ...ended];
    return (await this.scripts
      .run('release', [this.keys.active, this.keys.priorities, this.keys.marker], [...args, ...leases.flatMap(({ uuid, token }) => [uuid, token])])
      .catch(undo)) as number;
  }

  /**
   * Counts the outcomes (or releases) of a call as settled when it leaves, not when it answers: two
   * calls on their way that settle one batch between them must see each other, or neither would end
   * its lease. Gives the batches this call ends (those whose last unsettled tasks it carries; one
   * this broker did not claim is left to expire, and recover() sweeps what is left of it), and an
   * undo that counts them unsettled again should the call fail (they will be sent again), then
   * rethrows.
   */
  private settleOnSend(leases: { token: string }[]): { ended: string[]; undo: (error: unknown) => never } {
    const settling = countByBatch(leases);
    const ended: string[] = [];
    const known = new Map<string, number>();
    for (const [batch, count] of settling) {
      const unsettled = this.unsettled.get(batch);
      if (unsettled === undefined) continue;
      known.set(batch, count);
      if (unsettled <= count) {
        ended.push(batch);
        this.unsettled.delete(batch);
      } else {
        this.unsettled.set(batch, unsettled - count);
      }
    }
    const undo = (error: unknown): never => {
      for (const [batch, count] of known) this.unsettled.set(batch, (this.unsettled.get(batch) ?? 0) + count);
      throw error;
    };
    return { ended, undo };
  }

  /**
   * Also paused until Redis has been up for a lease, for a worker that connected first after a
   * Redis restart (it saw no reconnect): the live workers, which reconnected, may not have renewed
   * the leases that ran out meanwhile.
   */
  override recoveryPaused(leaseMs: number): boolean {
    const { connection } = this.storage;
    return !connection.ready || connection.sinceReconnectMs() < leaseMs || Date.now() - this.redisStartedAt < leaseMs;
  }

  override holdingCalls(): boolean {
    const { connection } = this.storage;
    return connection.holdsWhileDown && !connection.ready;
  }

  async recover(maxStalls: number, retention: Retention): Promise<RecoverOutcome> {
    const [requeued, failed, malformed] = (await this.scripts.run(
      'recover',
      [this.keys.active, this.keys.priorities, this.keys.marker, this.keys.delayed],
      [this.keys.prefix, maxStalls, ...retentionArgs(retention)],
    )) as [number, number, string[]];
    if (malformed.length === 0) return { requeued, failed };
    const records: RecoverOutcome['malformed'] = [];
    for (let i = 0; i < malformed.length; i += 2) records.push({ uuid: malformed[i]!, reason: malformed[i + 1]! });
    return { requeued, failed, malformed: records };
  }

  async cancel(uuid: string, reason: string, retention: Retention): Promise<TaskRecord | null> {
    const keys = [this.keys.delayed, this.keys.priorities];
    const raw = (await this.runForCaller('cancel', keys, [this.keys.prefix, uuid, reason, ...retentionArgs(retention)])) as string | null;
    return raw === null ? null : decodeRecord(uuid, raw);
  }

  async requeue(uuid: string): Promise<RequeueOutcome> {
    const keys = [this.keys.priorities, this.keys.marker];
    const reply = (await this.runForCaller('requeue-finished', keys, [this.keys.prefix, uuid])) as [number, string] | null;
    return reply && { requeued: reply[0] === 1, record: decodeRecord(uuid, reply[1]) };
  }

  async setPaused(paused: boolean, taskName?: string): Promise<void> {
    assertPauseTarget(taskName);
    await this.runForCaller('pause', [this.keys.marker], [this.keys.prefix, paused ? '1' : '0', taskName ?? '']);
  }

  async wakeWorker(): Promise<void> {
    await this.scripts.run('wake', [this.keys.marker], []);
  }

  /** A script run for an app's caller (not the worker's loop): refused once the app stopped, Redis being unreachable a typed error. */
  private runForCaller(name: ScriptName, keys: string[], args: (string | number)[]): Promise<unknown> {
    return this.storage.connection.whileOpen(this.keys.appName, () => this.scripts.run(name, keys, args));
  }

  async onCancelRequested(listener: (uuid: string) => void, missed?: () => void): Promise<() => Promise<void>> {
    const subscriber = await this.storage.connection.duplicate();
    subscriber.on('message', (_channel: string, uuid: string) => listener(uuid));
    // ioredis subscribes again on 'ready', after this event: the PING, behind that SUBSCRIBE on
    // the same connection, answers once cancels are heard again, so none falls between the two.
    subscriber.on('ready', () => void subscriber.ping().then(missed, () => undefined));
    await subscriber.subscribe(this.keys.cancelChannel);
    const recheck = subscriber instanceof Cluster && missed ? setInterval(missed, CLUSTER_CANCEL_RECHECK_MS).unref() : undefined;
    return () => {
      clearInterval(recheck);
      return this.storage.connection.drop(subscriber);
    };
  }

  async progress(lease: Lease, progressJson: string): Promise<boolean> {
    const stored = await this.scripts.run('progress', [this.keys.record(lease.uuid)], [lease.token, progressJson]);
    return stored === 1;
  }
}

/** The three retention values every finishing script reads with readRetention (lua/includes/finish.lua). */
function retentionArgs(retention: Retention): [string, number, number] {
  return [retention.deleteFinishedTasks ? '1' : '0', retention.resultTtlMs, retention.keepFinishedTasks];
}

/** The tasks' limits as claim.lua reads them (see readLimits in lua/includes/waiting-lines.lua). */
function limitArgs(rateLimits?: RateLimits, runningLimits?: RunningLimits): (string | number)[] {
  // Sent with every claim: most apps have no limit, and pay for no set.
  if (!rateLimits?.size && !runningLimits?.size) return [0];
  const names = new Set([...(rateLimits?.keys() ?? []), ...(runningLimits?.keys() ?? [])]);
  const args: (string | number)[] = [names.size];
  for (const name of names) {
    const rate = rateLimits?.get(name);
    args.push(name, rate?.max ?? 0, rate?.windowMs ?? 0, runningLimits?.get(name) ?? 0);
  }
  return args;
}

/** Outcome flags as the scripts return them: one '1' (stored) or '0' (lease lost) each. */
function storedFlags(flags: string): boolean[] {
  return Array.from(flags, (flag) => flag === '1');
}

/** Outcomes as includes/outcomes.lua reads them: the batches they end, then one value each. */
function outcomeArgs(outcomes: TaskOutcome[], ended: string[]): (string | number)[] {
  const args: (string | number)[] = [ended.length, ...ended];
  for (const { uuid, token, status, retryDelayMs, payload } of outcomes) {
    args.push(`${uuid} ${token} ${status} ${retryDelayMs ?? 0} ${payload}`);
  }
  return args;
}

/** How many of these leases belong to each batch: counted once per call, for its args and its settling. */
function countByBatch(leases: { token: string }[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const { token } of leases) {
    const batch = batchOf(token);
    counts.set(batch, (counts.get(batch) ?? 0) + 1);
  }
  return counts;
}

/** The batch a lease token belongs to: tokens are `<batch>:<n>`. */
function batchOf(token: string): string {
  return token.slice(0, token.lastIndexOf(':'));
}

/** One task as enqueue.lua reads it; the uuid must hold no space to stay one field. */
function enqueueValue(task: NewTask): string {
  if (!/^\S+$/.test(task.uuid)) throw new InvalidOptionError(`Task uuid "${task.uuid}" must be non-empty and hold no whitespace.`);
  const unique = task.uniqueKey ?? '';
  return `${task.uuid} ${task.priority} ${task.delayMs} ${task.uniqueTtlMs ?? 0} ${Buffer.byteLength(unique)} ${unique}${encodeNewRecord(task)}`;
}
