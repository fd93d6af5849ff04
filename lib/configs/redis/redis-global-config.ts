import type { ChainableCommander } from 'ioredis';
import type { ScheduleDefinition, ScheduleState } from '../../core/schedule.js';
import type { TaskCatalogEntry } from '../../core/task-registry.js';
import { RedisConnection, type RedisConnectionOptions } from '../../redis/connection.js';
import { RedisKeys } from '../../redis/keys.js';
import { ScriptRunner } from '../../redis/scripts.js';
import { GlobalConfig, readableObjects, type WorkerStatus } from '../global-config.js';

/**
 * How long a removed schedule stays marked removed: longer than the longest `every` (about 24.8
 * days), so every instance still running it ticks into the mark. One that does not (a cron rarer
 * than that) goes on with it.
 */
const REMOVED_MARK_MS = 30 * 24 * 3_600_000;

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
    await this.whileOpen(() => this.client.hset(this.keys.settings, key, json));
  }

  protected async readSetting(key: string): Promise<string | undefined> {
    return (await this.whileOpen(() => this.client.hget(this.keys.settings, key))) ?? undefined;
  }

  protected readAllSettings(): Promise<Record<string, string>> {
    return this.whileOpen(() => this.client.hgetall(this.keys.settings));
  }

  protected async writeStatus(status: WorkerStatus, ttlMs: number): Promise<void> {
    const now = Date.now();
    // Heartbeats of workers gone without a goodbye (killed, crashed) are removed by the writers,
    // before this one is written: readers only filter them out, as they may read a replica. Only
    // those a whole TTL past their end, so a writer whose clock runs ahead removes no live one.
    const expired = await this.client.zrangebyscore(this.keys.workers, '-inf', now - ttlMs);
    const write = this.client.multi();
    if (expired.length > 0) write.zrem(this.keys.workers, ...expired).hdel(this.keys.workerInfo, ...expired);
    await execAll(write.zadd(this.keys.workers, now + ttlMs, status.id).hset(this.keys.workerInfo, status.id, JSON.stringify(status)));
  }

  async removeStatus(workerId: string): Promise<void> {
    await execAll(this.client.multi().zrem(this.keys.workers, workerId).hdel(this.keys.workerInfo, workerId));
  }

  async workers(): Promise<WorkerStatus[]> {
    const live = await this.whileOpen(() => this.client.zrangebyscore(this.keys.workers, Date.now(), '+inf'));
    if (live.length === 0) return [];
    return readableObjects<WorkerStatus>(await this.whileOpen(() => this.client.hmget(this.keys.workerInfo, ...live)), 'id');
  }

  async publishCatalog(entries: TaskCatalogEntry[]): Promise<void> {
    if (entries.length === 0) return;
    await this.client.hset(
      this.keys.catalog,
      Object.fromEntries(entries.map((entry) => [entry.name, JSON.stringify(entry)])),
    );
  }

  async catalog(): Promise<TaskCatalogEntry[]> {
    return readableObjects<TaskCatalogEntry>(Object.values(await this.whileOpen(() => this.client.hgetall(this.keys.catalog))), 'name');
  }

  async publishSchedule(schedule: ScheduleDefinition, nextRun: Date): Promise<void> {
    const run = this.keys.scheduleRun(schedule.name);
    await this.whileOpen(() =>
      execAll(
        this.client
          .multi()
          .hset(this.keys.schedules, schedule.name, JSON.stringify(schedule))
          // Published again after a removal: its ticks enqueue again, and its run state is kept.
          .hdel(run, 'r')
          .persist(run)
          .hset(run, 'n', nextRun.getTime()),
      ),
    );
  }

  async recordScheduleRun(name: string, tick: Date, taskUuid: string, nextRun: Date): Promise<boolean | 'removed'> {
    const recorded = await this.whileOpen(() =>
      this.scripts.run('schedule-run', [this.keys.scheduleRun(name)], [tick.getTime(), taskUuid, nextRun.getTime()]),
    );
    return recorded === -1 ? 'removed' : recorded === 1;
  }

  /**
   * Deletes the definition and run state, and leaves the mark `r` in the run hash: instances that
   * still run the schedule find it before their next tick's enqueue (scheduleRemoved) or when
   * recording it (schedule-run.lua), and stop it. The mark goes when the schedule is published
   * again, or after REMOVED_MARK_MS.
   */
  async removeSchedule(name: string): Promise<void> {
    const run = this.keys.scheduleRun(name);
    await this.whileOpen(() =>
      execAll(this.client.multi().hdel(this.keys.schedules, name).del(run).hset(run, 'r', Date.now()).pexpire(run, REMOVED_MARK_MS)),
    );
  }

  async scheduleRemoved(name: string): Promise<boolean> {
    return (await this.whileOpen(() => this.client.hexists(this.keys.scheduleRun(name), 'r'))) === 1;
  }

  async dropSchedule(name: string): Promise<void> {
    await this.whileOpen(() => execAll(this.client.multi().hdel(this.keys.schedules, name).del(this.keys.scheduleRun(name))));
  }

  async schedule(name: string): Promise<ScheduleState | undefined> {
    const [raw, run] = await this.whileOpen(() => Promise.all([this.client.hget(this.keys.schedules, name), this.runFields(name)]));
    const [definition] = readableObjects<ScheduleDefinition>([raw], 'name');
    return definition && this.withRun(definition, run);
  }

  async schedules(): Promise<ScheduleState[]> {
    return this.whileOpen(async () => {
      const definitions = readableObjects<ScheduleDefinition>(Object.values(await this.client.hgetall(this.keys.schedules)), 'name');
      return Promise.all(definitions.map(async (definition) => this.withRun(definition, await this.runFields(definition.name))));
    });
  }

  /**
   * Runs a call the app makes (settings, schedules, the catalogue and heartbeats read): once the app
   * stopped it is refused with AppStoppedError, and while Redis cannot be reached (whenRedisDown
   * 'fail') it fails as RedisUnavailableError, not with ioredis's own error. The heartbeats and the
   * catalogue written at start go without: the worker logs a failed heartbeat, the start fails.
   */
  private whileOpen<T>(command: () => Promise<T>): Promise<T> {
    return this.connection.whileOpen(this.keys.appName, command);
  }

  private runFields(name: string): Promise<(string | null)[]> {
    return this.client.hmget(this.keys.scheduleRun(name), 'l', 'u', 'n');
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
 * Runs a MULTI, failing with the error of its first failed command: exec() resolves with each
 * command's error beside its reply (a key of another Redis type, say) instead of rejecting.
 */
async function execAll(multi: ChainableCommander): Promise<void> {
  for (const [error] of (await multi.exec()) ?? []) if (error) throw error;
}
