import { setTimeout as sleep } from 'node:timers/promises';
import type { GlobalConfig } from '../../configs/global-config.js';
import { MalformedRecordError, QTasksError, RedisUnavailableError } from '../../core/errors.js';
import { isFinal, type TaskRecord, type TaskStatus } from '../../core/task-record.js';
import { reconnectDelayMs, RedisConnection, type RedisClient, type RedisConnectionOptions } from '../../redis/connection.js';
import { RedisKeys } from '../../redis/keys.js';
import { getRecordText } from '../../redis/record-text.js';
import { ScriptRunner } from '../../redis/scripts.js';
import { Storage, type TaskWatch } from '../storage.js';
import { decodeRecord, readRecordHead, RECORD_HEAD_BYTES } from '../record-codec.js';

export interface RedisStorageOptions extends RedisConnectionOptions {
  /** App name; all keys live under `qtasks:{name}:`. */
  name?: string;
  globalConfig?: GlobalConfig | null;
  /** A connection shared with other components (it is then not closed by this storage). */
  connection?: RedisConnection;
}

/** How long a waiter mark lives for waits without a timeout; renewed while the wait lasts. */
const OPEN_WAIT_MARK_MS = 60_000;
/**
 * While any wait is open, how often the waited tasks' statuses are read again. Completions are
 * pushed; this only finds one whose message was lost while the subscription lapsed, which no event
 * reports on a cluster (ioredis moves the subscription to another node when its node fails).
 */
const RECHECK_MS = 5_000;
/** Waited records whose heads one pipeline reads. */
const RECHECK_CHUNK = 1_000;

interface Waiter {
  finished(record: TaskRecord | null): void;
  abort(error: unknown): void;
  cancel(): void;
}

/**
 * Records in Redis: one compact JSON string per task. Finishing scripts publish a task's final
 * record on the app's channel when a client marked that it waits, so `waitFinished` never polls.
 */
export class RedisStorage extends Storage {
  readonly keys: RedisKeys;
  readonly connection: RedisConnection;
  readonly globalConfig: GlobalConfig | null;
  private readonly ownsConnection: boolean;
  private readonly scripts: ScriptRunner;
  private readonly waiters = new Map<string, Set<Waiter>>();
  /** The connection for completion messages once opened, and once subscribed (see subscribe). */
  private subscriberOpened?: Promise<RedisClient>;
  private subscriber?: Promise<RedisClient>;
  private markRenewal?: NodeJS.Timeout;
  private recheck?: NodeJS.Timeout;
  /** The re-read on its way: one at a time, so ticks during an outage do not pile reads up. */
  private rechecking?: Promise<void>;
  /** Aborted by stop: ends the waits held while Redis is unreachable (see subscribeHeld). */
  private stopping = new AbortController();
  /** Watches under way (see watchStarted). */
  private watches = 0;

  constructor(options: RedisStorageOptions = {}) {
    super();
    this.keys = new RedisKeys(options.name ?? 'QueueTasks');
    this.ownsConnection = !options.connection;
    this.connection = options.connection ?? new RedisConnection(options);
    this.globalConfig = options.globalConfig ?? null;
    this.scripts = new ScriptRunner(this.connection.client);
  }

  get client(): RedisClient {
    return this.connection.client;
  }

  async start(): Promise<void> {
    if (this.stopping.signal.aborted) this.stopping = new AbortController();
    await this.connection.connect();
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    clearInterval(this.markRenewal);
    clearInterval(this.recheck);
    this.markRenewal = this.recheck = undefined;
    for (const waiters of this.waiters.values()) {
      for (const waiter of [...waiters]) waiter.abort(new QTasksError('STOPPED', 'Storage stopped while a wait was pending.'));
    }
    await this.closeSubscription();
    if (this.ownsConnection) await this.connection.close();
  }

  async get(uuid: string): Promise<TaskRecord | null> {
    const raw = await this.connection.whileOpen(this.keys.appName, () => getRecordText(this.client, this.keys.record(uuid), uuid));
    return raw === null ? null : decodeRecord(uuid, raw);
  }

  async remove(uuid: string): Promise<boolean> {
    return (await this.client.del(this.keys.record(uuid))) > 0;
  }

  async watch(uuid: string, timeoutMs?: number): Promise<TaskWatch> {
    this.connection.refuseIfClosed(this.keys.appName);
    const deadline = timeoutMs === undefined ? Infinity : Date.now() + timeoutMs;
    const watchEnded = this.watchStarted();
    try {
      const opening = this.connection.firstConnect();
      if (opening) await opening;
      await this.subscribeHeld(deadline);
    } catch (error) {
      watchEnded();
      throw error;
    }
    let waiter!: Waiter;
    let timer: NodeJS.Timeout | undefined;
    const finished = new Promise<TaskRecord | null>((resolve, reject) => {
      const end = () => {
        clearTimeout(timer);
        this.removeWaiter(uuid, waiter);
        watchEnded();
      };
      waiter = {
        finished: (record) => (end(), resolve(record)),
        abort: (error) => (end(), reject(error)),
        cancel: end,
      };
      if (timeoutMs !== undefined) {
        // What is left of it: time held for Redis to come back counts too.
        timer = setTimeout(() => this.get(uuid).then(waiter.finished, waiter.abort), Math.max(0, deadline - Date.now()));
      }
    });
    // A stop may reject it before its owner awaits it; that must not count as unhandled.
    finished.catch(() => undefined);
    // A stop while the mark is on its way ends this call too: with Redis gone ('wait'), the mark
    // could be held for a reconnect that never comes. Once the mark is in, `stopped` is ended
    // (its rejection ignored), so no promise of this call is left pending.
    let endStopped!: (reason: unknown) => void;
    const stopped = new Promise<never>((_, reject) => (endStopped = reject));
    stopped.catch(() => undefined);
    finished.catch(endStopped);
    this.addWaiter(uuid, waiter);
    let current: TaskRecord | null;
    try {
      const mark = this.mark(uuid, timeoutMs === undefined ? OPEN_WAIT_MARK_MS : timeoutMs + 1000);
      mark.catch(() => undefined);
      const raw = (await Promise.race([mark, stopped])) as string | null;
      current = raw === null ? null : decodeRecord(uuid, raw);
    } catch (error) {
      waiter.cancel();
      throw error instanceof QTasksError ? error : this.connection.unavailable(error);
    } finally {
      endStopped(undefined);
    }
    return { finished, cancel: waiter.cancel, current };
  }

  /**
   * Counts a watch under way; returns the function that ends it. Until then, the process stays up
   * for its answer even before start (see RedisConnection.callStarted). Before start, the last
   * watch to end also closes the subscription, which nothing else uses then: it would keep the
   * process alive (a cluster's subscription socket is out of callStarted's reach).
   */
  private watchStarted(): () => void {
    const callEnded = this.connection.callStarted();
    this.watches++;
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      callEnded();
      if (--this.watches === 0 && !this.connection.started) void this.closeSubscription();
    };
  }

  /** Closes the subscription, if any; the next watch opens it again. */
  private async closeSubscription(): Promise<void> {
    // Not the subscribed promise: with Redis gone and whenRedisDown 'wait', a SUBSCRIBE already on
    // its way waits for a reconnect forever. Opening always ends, in a connection or an error.
    const opened = this.subscriberOpened;
    this.subscriberOpened = this.subscriber = undefined;
    const subscriber = await opened?.catch(() => undefined);
    if (subscriber) await this.connection.drop(subscriber);
  }

  /** Sets or extends the waiter mark; replies with the record as it is now. */
  private mark(uuid: string, ttlMs: number): Promise<unknown> {
    return this.scripts.run('watch', [this.keys.waiter(uuid), this.keys.waiting, this.keys.record(uuid)], [ttlMs, uuid]);
  }

  /**
   * The subscription, opened now if it is not open yet. Redis unreachable with whenRedisDown
   * 'wait' holds the wait, as it holds an add: opening is tried again (a connection that never
   * connected does not reconnect by itself) until Redis is back, the wait's own timeout has
   * passed (tried once more then), or the storage stops.
   */
  private async subscribeHeld(deadline: number): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.subscribe();
        return;
      } catch (error) {
        // The last pause ends at the deadline, for a last try there: Redis back before the wait's
        // timeout passed answers it, rather than a failure as soon as the next pause would pass it.
        const pauseMs = Math.min(reconnectDelayMs(attempt), deadline - Date.now());
        if (!this.connection.holdsWhileDown || !(error instanceof RedisUnavailableError) || pauseMs <= 0) throw error;
        await sleep(pauseMs, undefined, { signal: this.stopping.signal }).catch(() => {
          throw new QTasksError('STOPPED', 'Storage stopped while a wait was held for Redis to come back.');
        });
      }
    }
  }

  private subscribe(): Promise<RedisClient> {
    this.subscriber ??= this.openSubscriber().catch((error: unknown) => {
      this.subscriber = this.subscriberOpened = undefined; // the next watch tries again
      throw this.connection.unavailable(error);
    });
    return this.subscriber;
  }

  private async openSubscriber(): Promise<RedisClient> {
    this.subscriberOpened = this.connection.duplicate();
    const subscriber = await this.subscriberOpened;
    subscriber.on('message', (_channel: string, message: string) => this.onFinished(message));
    // After a reconnect, completions published while disconnected were missed: read them.
    subscriber.on('ready', () => this.recheckWaiters());
    try {
      await subscriber.subscribe(this.keys.doneChannel);
    } catch (error) {
      void this.connection.drop(subscriber);
      throw error;
    }
    return subscriber;
  }

  private onFinished(message: string): void {
    const parts = message.split('\n');
    for (let i = 0; i + 1 < parts.length; i += 2) {
      const uuid = parts[i]!;
      const waiters = this.waiters.get(uuid);
      if (!waiters) continue;
      let record: TaskRecord;
      try {
        record = decodeRecord(uuid, parts[i + 1]!);
      } catch (error) {
        // Its final record cannot be read (a plugin stored a result that is not JSON, a record
        // edited by hand): the waits end with that, not never.
        for (const waiter of [...waiters]) waiter.abort(error);
        continue;
      }
      for (const waiter of [...waiters]) waiter.finished(record);
    }
  }

  /**
   * Settles the waits of tasks that finished meanwhile, unless a re-read is on its way already or
   * Redis is not reachable now (its reconnect starts one).
   */
  private recheckWaiters(): void {
    if (this.rechecking || this.client.status !== 'ready') return;
    this.rechecking = this.readWaited()
      .catch(() => undefined)
      .finally(() => (this.rechecking = undefined));
  }

  /**
   * Reads the waited records' heads, and whole records only for the finished ones; for a record
   * that is gone, the final record its waiter mark may keep (see includes/finish.lua).
   */
  private async readWaited(): Promise<void> {
    const uuids = [...this.waiters.keys()];
    for (let start = 0; start < uuids.length; start += RECHECK_CHUNK) {
      const chunk = uuids.slice(start, start + RECHECK_CHUNK);
      const pipeline = this.client.pipeline();
      for (const uuid of chunk) pipeline.getrange(this.keys.record(uuid), 0, RECORD_HEAD_BYTES - 1);
      const heads = (await pipeline.exec()) ?? [];
      const finished: string[] = [];
      const gone: string[] = [];
      chunk.forEach((uuid, index) => {
        const [error, raw] = heads[index] ?? [];
        if (error) return;
        // GETRANGE answers '' for a key that does not exist.
        if (raw === '') return void gone.push(uuid);
        const status = typeof raw === 'string' ? readRecordHead(raw)?.status : undefined;
        if (status !== undefined && isFinal(status as TaskStatus)) finished.push(uuid);
      });
      await Promise.all([...finished.map((uuid) => this.settleFinished(uuid)), this.settleFromMarks(gone)]);
    }
  }

  /** Ends the waits of tasks whose record went as they finished, from the final record their mark keeps. */
  private async settleFromMarks(uuids: string[]): Promise<void> {
    if (uuids.length === 0) return;
    const marks = await this.client.mget(uuids.map((uuid) => this.keys.waiter(uuid)));
    uuids.forEach((uuid, index) => {
      const raw = marks[index];
      // '1' (or none): a plain mark, the task not finished, or not added yet (run watches first).
      if (!raw || raw === '1') return;
      this.onFinished(`${uuid}\n${raw}`);
    });
  }

  private async settleFinished(uuid: string): Promise<void> {
    let record: TaskRecord | null;
    try {
      record = await this.get(uuid);
    } catch (error) {
      if (!(error instanceof MalformedRecordError)) throw error;
      for (const waiter of [...(this.waiters.get(uuid) ?? [])]) waiter.abort(error);
      return;
    }
    if (record && isFinal(record.status)) for (const waiter of [...(this.waiters.get(uuid) ?? [])]) waiter.finished(record);
  }

  private addWaiter(uuid: string, waiter: Waiter): void {
    let set = this.waiters.get(uuid);
    if (!set) this.waiters.set(uuid, (set = new Set()));
    set.add(waiter);
    this.markRenewal ??= setInterval(() => this.renewMarks(), OPEN_WAIT_MARK_MS / 3).unref();
    this.recheck ??= setInterval(() => this.recheckWaiters(), RECHECK_MS).unref();
  }

  private removeWaiter(uuid: string, waiter: Waiter): void {
    const set = this.waiters.get(uuid);
    set?.delete(waiter);
    if (set?.size === 0) this.waiters.delete(uuid);
    if (this.waiters.size === 0) {
      clearInterval(this.markRenewal);
      clearInterval(this.recheck);
      this.markRenewal = this.recheck = undefined;
    }
  }

  private renewMarks(): void {
    for (const uuid of this.waiters.keys()) {
      this.mark(uuid, OPEN_WAIT_MARK_MS).catch(() => undefined);
    }
  }
}
