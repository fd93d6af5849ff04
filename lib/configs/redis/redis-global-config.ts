import type { ChainableCommander } from 'ioredis';
import { MalformedKeyError } from '../../core/errors.js';
import type { ScheduleDefinition, ScheduleState } from '../../core/schedule.js';
import type { TaskCatalogEntry } from '../../core/task-registry.js';
import { RedisConnection, type RedisConnectionOptions } from '../../redis/connection.js';
import { RedisKeys } from '../../redis/keys.js';
import { mistypedKey } from '../../redis/key-types.js';
import { isWrongTypeError } from '../../redis/record-text.js';
import { ScriptRunner } from '../../redis/scripts.js';
import { GlobalConfig, readableObjects, type ScheduleAtTick, type WorkerStatus } from '../global-config.js';

/**
 * How long a removed schedule stays marked removed: longer than the longest `every` (about 24.8
 * days), so every instance still running it ticks into the mark. One that does not (a cron rarer
 * than that) goes on with it.
 */
const REMOVED_MARK_MS = 30 * 24 * 3_600_000;

/**
 * How long the run state of a schedule dropped as abandoned is kept (publishing it again keeps it
 * for good): its own app, down meanwhile while another started, still catches up from its last run.
 */
const DROPPED_RUN_MS = REMOVED_MARK_MS;

/** A run hash's fields read with a schedule, in withRun's order: last run, its task, next run. */
const RUN_FIELDS = ['l', 'u', 'n'] as const;

export interface RedisGlobalConfigOptions extends RedisConnectionOptions {
  name?: string;
  connection?: RedisConnection;
}

/**
 * GlobalConfig in Redis: a hash of settings, a hash for the task catalogue, heartbeats as a
 * sorted set of expiry times beside a hash of worker details (Redis 7.0 has no per-field TTL),
 * and timer schedules as a hash of definitions plus one small hash of run state per schedule.
 */
export class RedisGlobalConfig extends GlobalConfig {
  readonly keys: RedisKeys;
  readonly connection: RedisConnection;
  private readonly ownsConnection: boolean;
  private readonly scripts: ScriptRunner;

  constructor(options: RedisGlobalConfigOptions = {}) {
    super();
    this.keys = new RedisKeys(options.name ?? 'QueueTasks');
    this.ownsConnection = !options.connection;
    this.connection = options.connection ?? new RedisConnection(options);
    this.scripts = new ScriptRunner(this.connection.client);
  }

  private get client() {
    return this.connection.client;
  }

  async start(): Promise<void> {
    await this.connection.connect();
  }

  async stop(): Promise<void> {
    if (this.ownsConnection) await this.connection.close();
  }

  protected async writeSetting(key: string, json: string): Promise<void> {
    await this.whileOpen([this.keys.settings], () => this.client.hset(this.keys.settings, key, json));
  }

  protected async readSetting(key: string): Promise<string | undefined> {
    return (await this.whileOpen([this.keys.settings], () => this.client.hget(this.keys.settings, key))) ?? undefined;
  }

  protected readAllSettings(): Promise<Record<string, string>> {
    return this.whileOpen([this.keys.settings], () => this.client.hgetall(this.keys.settings));
  }

  protected async writeStatus(status: WorkerStatus, ttlMs: number): Promise<void> {
    const now = Date.now();
    await this.typedWrongType(this.heartbeatKeys, async () => {
      // Heartbeats of workers gone without a goodbye (killed, crashed) are removed by the writers,
      // before this one is written: readers only filter them out, as they may read a replica. Only
      // those a whole TTL past their end, so a writer whose clock runs ahead removes no live one.
      const expired = await this.client.zrangebyscore(this.keys.workers, '-inf', now - ttlMs);
      const write = this.client.multi();
      if (expired.length > 0) write.zrem(this.keys.workers, ...expired).hdel(this.keys.workerInfo, ...expired);
      await execAll(write.zadd(this.keys.workers, now + ttlMs, status.id).hset(this.keys.workerInfo, status.id, JSON.stringify(status)));
    });
  }

  async removeStatus(workerId: string): Promise<void> {
    await this.typedWrongType(this.heartbeatKeys, () => execAll(this.client.multi().zrem(this.keys.workers, workerId).hdel(this.keys.workerInfo, workerId)));
  }

  async workers(): Promise<WorkerStatus[]> {
    return this.whileOpen(this.heartbeatKeys, async () => {
      const live = await this.client.zrangebyscore(this.keys.workers, Date.now(), '+inf');
      if (live.length === 0) return [];
      return readableObjects<WorkerStatus>(await this.client.hmget(this.keys.workerInfo, ...live), 'id');
    });
  }

  async publishCatalog(entries: TaskCatalogEntry[]): Promise<void> {
    if (entries.length === 0) return;
    await this.typedWrongType([this.keys.catalog], () =>
      this.client.hset(this.keys.catalog, Object.fromEntries(entries.map((entry) => [entry.name, JSON.stringify(entry)]))),
    );
  }

  async catalog(): Promise<TaskCatalogEntry[]> {
    return readableObjects<TaskCatalogEntry>(Object.values(await this.whileOpen([this.keys.catalog], () => this.client.hgetall(this.keys.catalog))), 'name');
  }

  async publishSchedule(schedule: ScheduleDefinition, nextRun: Date): Promise<void> {
    const keys = [this.keys.schedules, this.keys.scheduleRun(schedule.name)];
    await this.whileOpen(keys, () => this.scripts.run('schedule-publish', keys, [schedule.name, JSON.stringify(schedule), nextRun.getTime()]));
  }

  async recordScheduleRun(name: string, tick: Date, taskUuid: string, nextRun: Date): Promise<boolean | 'removed'> {
    const run = this.keys.scheduleRun(name);
    const recorded = await this.whileOpen([run], () =>
      this.scripts.run('schedule-run', [run], [tick.getTime(), taskUuid, nextRun.getTime()]),
    );
    return recorded === -1 ? 'removed' : recorded === 1;
  }

  /**
   * Deletes the definition and run state, and leaves the mark `r` in the run hash: instances that
   * still run the schedule find it before their next tick's enqueue (scheduleAtTick) or when
   * recording it (schedule-run.lua), and stop it. The mark goes when the schedule is published
   * again, or after REMOVED_MARK_MS.
   */
  async removeSchedule(name: string): Promise<void> {
    const keys = [this.keys.schedules, this.keys.scheduleRun(name)];
    // The run key is replaced whatever it held: only the definitions' hash must be a hash.
    await this.whileOpen([this.keys.schedules], () => this.scripts.run('schedule-remove', keys, [name, Date.now(), REMOVED_MARK_MS]));
  }

  /** One transaction, so a tick costs one round trip and sees the mark and the definition as of one moment. */
  async scheduleAtTick(name: string): Promise<ScheduleAtTick> {
    const run = this.keys.scheduleRun(name);
    const [raw, [removed, ...runFields]] = (await this.whileOpen([this.keys.schedules, run], () =>
      execAll(this.client.multi().hget(this.keys.schedules, name).hmget(run, 'r', ...RUN_FIELDS)),
    )) as [string | null, (string | null)[]];
    const [definition] = readableObjects<ScheduleDefinition>([raw], 'name');
    return { removed: removed !== null, published: definition && this.withRun(definition, runFields) };
  }

  async dropSchedule(name: string): Promise<void> {
    const run = this.keys.scheduleRun(name);
    await this.whileOpen([this.keys.schedules], () => execAll(this.client.multi().hdel(this.keys.schedules, name).pexpire(run, DROPPED_RUN_MS)));
  }

  async schedule(name: string): Promise<ScheduleState | undefined> {
    const [raw, run] = await this.whileOpen([this.keys.schedules], () => Promise.all([this.client.hget(this.keys.schedules, name), this.runFields(name)]));
    const [definition] = readableObjects<ScheduleDefinition>([raw], 'name');
    return definition && this.withRun(definition, run);
  }

  async schedules(): Promise<ScheduleState[]> {
    const { schedules, unreadable } = await this.readableSchedules();
    if (unreadable[0]) throw unreadable[0];
    return schedules;
  }

  /**
   * The schedules, for a reader listing them all (the dashboard, the CLI): one whose run-state key
   * holds another Redis type is listed without its run state, and that key's error given beside.
   */
  async readableSchedules(): Promise<{ schedules: ScheduleState[]; unreadable: MalformedKeyError[] }> {
    return this.whileOpen([this.keys.schedules], async () => {
      const definitions = readableObjects<ScheduleDefinition>(Object.values(await this.client.hgetall(this.keys.schedules)), 'name');
      const unreadable: MalformedKeyError[] = [];
      const runOf = (name: string) =>
        this.runFields(name).catch((error: unknown) => {
          if (!(error instanceof MalformedKeyError)) throw error;
          unreadable.push(error);
          return [];
        });
      const schedules = await Promise.all(definitions.map(async (definition) => this.withRun(definition, await runOf(definition.name))));
      return { schedules, unreadable };
    });
  }

  /**
   * Runs a call the app makes (settings, schedules, the catalogue and heartbeats read): once the app
   * stopped it is refused with AppStoppedError, and while Redis cannot be reached (whenRedisDown
   * 'fail') it fails as RedisUnavailableError, not with ioredis's own error; one of `keys` holding
   * another Redis type fails it as MalformedKeyError (see typedWrongType). The heartbeats and the
   * catalogue written at start go without the first two: the worker logs a failed heartbeat, the
   * start fails.
   */
  private whileOpen<T>(keys: string[], command: () => Promise<T>): Promise<T> {
    return this.connection.whileOpen(this.keys.appName, () => this.typedWrongType(keys, command));
  }

  /**
   * Runs a command on `keys`; should Redis refuse it because one holds another Redis type (written
   * by hand or by another tool), it fails with MalformedKeyError naming that key and its type,
   * rather than with Redis's bare WRONGTYPE. That key is left as it is, for its owner to see.
   */
  private async typedWrongType<T>(keys: string[], command: () => Promise<T>): Promise<T> {
    try {
      return await command();
    } catch (error) {
      throw isWrongTypeError(error) ? await this.malformedKey(keys, error) : error;
    }
  }

  /** Of `keys`, the first holding another type than the app keeps there, as MalformedKeyError; else `error` (the key changed since). */
  private async malformedKey(keys: string[], error: unknown): Promise<unknown> {
    // Every GlobalConfig key is a hash, but for the heartbeats' expiry times.
    const expected = keys.map((key): [string, string] => [key, key === this.keys.workers ? 'zset' : 'hash']);
    return (await mistypedKey(this.client, expected)) ?? error;
  }

  /** The heartbeats: a sorted set of expiry times beside a hash of worker details. */
  private get heartbeatKeys(): string[] {
    return [this.keys.workers, this.keys.workerInfo];
  }

  /** A schedule's run state; a run key of another Redis type fails with MalformedKeyError naming it. */
  private runFields(name: string): Promise<(string | null)[]> {
    const run = this.keys.scheduleRun(name);
    return this.typedWrongType([run], () => this.client.hmget(run, ...RUN_FIELDS));
  }

  private withRun(definition: ScheduleDefinition, [lastRun, lastTaskUuid, nextRun]: (string | null)[]): ScheduleState {
    const state: ScheduleState = { ...definition };
    if (lastRun) state.lastRun = new Date(Number(lastRun));
    if (lastTaskUuid) state.lastTaskUuid = lastTaskUuid;
    if (nextRun) state.nextRun = new Date(Number(nextRun));
    return state;
  }
}

/**
 * Runs a MULTI and resolves with its replies, failing with the error of its first failed command:
 * exec() resolves with each command's error beside its reply (a key of another Redis type, say)
 * instead of rejecting.
 */
async function execAll(multi: ChainableCommander): Promise<unknown[]> {
  const results = (await multi.exec()) ?? [];
  for (const [error] of results) if (error) throw error;
  return results.map(([, reply]) => reply);
}
