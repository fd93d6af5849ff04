import { AppStoppedError } from '../../core/errors.js';
import type { ScheduleDefinition, ScheduleState } from '../../core/schedule.js';
import type { TaskCatalogEntry } from '../../core/task-registry.js';
import { GlobalConfig, type ScheduleAtTick, type WorkerStatus } from '../global-config.js';

export interface MemoryGlobalConfigOptions {
  /** The app's name, which a call made once it stopped names in its AppStoppedError. */
  name?: string;
}

/**
 * GlobalConfig in process memory. Values are kept as JSON text, as in Redis, so what a caller
 * reads back is a copy; heartbeats expire when read after their time to live. Once stopped it
 * refuses calls with AppStoppedError, as RedisGlobalConfig does once its connection is closed.
 */
export class MemoryGlobalConfig extends GlobalConfig {
  private readonly appName: string;
  /**
   * Starts not yet matched by a stop: the apps of one process may share this GlobalConfig, and
   * one app's stop must not close it under the others.
   */
  private openStarts = 0;
  /** Set when the last start was matched by a stop; calls made before the first start work. */
  private stopped = false;
  private readonly settings = new Map<string, string>();
  private readonly catalogEntries = new Map<string, string>();
  private readonly statuses = new Map<string, { raw: string; expiresAt: number }>();
  /** Schedule definitions as JSON text, and their run state (times in ms), by schedule name. */
  private readonly scheduleDefinitions = new Map<string, string>();
  private readonly scheduleRuns = new Map<string, { lastRun?: number; lastTaskUuid?: string; nextRun?: number }>();
  /** Schedules removed by `removeSchedule` and not published since (Redis's mark `r`). */
  private readonly removedSchedules = new Set<string>();

  constructor(options: MemoryGlobalConfigOptions = {}) {
    super();
    this.appName = options.name ?? 'QueueTasks';
  }

  async start(): Promise<void> {
    this.openStarts++;
    this.stopped = false;
  }

  async stop(): Promise<void> {
    // A stop with no start left to match (one called by hand, say) changes nothing.
    if (this.openStarts === 0) return;
    this.openStarts--;
    this.stopped = this.openStarts === 0;
  }

  private refuseIfStopped(): void {
    if (this.stopped) throw new AppStoppedError(this.appName);
  }

  protected async writeSetting(key: string, json: string): Promise<void> {
    this.refuseIfStopped();
    this.settings.set(key, json);
  }

  protected async readSetting(key: string): Promise<string | undefined> {
    this.refuseIfStopped();
    return this.settings.get(key);
  }

  protected async readAllSettings(): Promise<Record<string, string>> {
    this.refuseIfStopped();
    return Object.fromEntries(this.settings);
  }

  protected async writeStatus(status: WorkerStatus, ttlMs: number): Promise<void> {
    this.refuseIfStopped();
    this.statuses.set(status.id, { raw: JSON.stringify(status), expiresAt: Date.now() + ttlMs });
  }

  async removeStatus(workerId: string): Promise<void> {
    this.refuseIfStopped();
    this.statuses.delete(workerId);
  }

  async workers(): Promise<WorkerStatus[]> {
    this.refuseIfStopped();
    const now = Date.now();
    const live: WorkerStatus[] = [];
    for (const [id, { raw, expiresAt }] of this.statuses) {
      if (expiresAt <= now) this.statuses.delete(id);
      else live.push(JSON.parse(raw) as WorkerStatus);
    }
    return live;
  }

  async publishCatalog(entries: TaskCatalogEntry[]): Promise<void> {
    this.refuseIfStopped();
    for (const entry of entries) this.catalogEntries.set(entry.name, JSON.stringify(entry));
  }

  async catalog(): Promise<TaskCatalogEntry[]> {
    this.refuseIfStopped();
    return [...this.catalogEntries.values()].map((raw) => JSON.parse(raw) as TaskCatalogEntry);
  }

  async publishSchedule(schedule: ScheduleDefinition, nextRun: Date): Promise<void> {
    this.refuseIfStopped();
    this.scheduleDefinitions.set(schedule.name, JSON.stringify(schedule));
    this.removedSchedules.delete(schedule.name);
    this.scheduleRuns.set(schedule.name, { ...this.scheduleRuns.get(schedule.name), nextRun: nextRun.getTime() });
  }

  // As schedule-run.lua: an older tick, reported late, never overwrites a newer one.
  async recordScheduleRun(name: string, tick: Date, taskUuid: string, nextRun: Date): Promise<boolean | 'removed'> {
    this.refuseIfStopped();
    if (this.removedSchedules.has(name)) return 'removed';
    const run = this.scheduleRuns.get(name) ?? {};
    if (run.lastRun !== undefined && tick.getTime() <= run.lastRun) return false;
    this.scheduleRuns.set(name, { lastRun: tick.getTime(), lastTaskUuid: taskUuid, nextRun: nextRun.getTime() });
    return true;
  }

  async removeSchedule(name: string): Promise<void> {
    this.refuseIfStopped();
    this.scheduleDefinitions.delete(name);
    this.scheduleRuns.delete(name);
    this.removedSchedules.add(name);
  }

  async scheduleAtTick(name: string): Promise<ScheduleAtTick> {
    this.refuseIfStopped();
    const raw = this.scheduleDefinitions.get(name);
    return { removed: this.removedSchedules.has(name), published: raw === undefined ? undefined : this.withRun(raw) };
  }

  // The run state stays, as in Redis: the schedule's own app catches up from it when it starts.
  async dropSchedule(name: string): Promise<void> {
    this.refuseIfStopped();
    this.scheduleDefinitions.delete(name);
  }

  async schedule(name: string): Promise<ScheduleState | undefined> {
    this.refuseIfStopped();
    const raw = this.scheduleDefinitions.get(name);
    return raw === undefined ? undefined : this.withRun(raw);
  }

  async schedules(): Promise<ScheduleState[]> {
    this.refuseIfStopped();
    return [...this.scheduleDefinitions.values()].map((raw) => this.withRun(raw));
  }

  private withRun(raw: string): ScheduleState {
    const state: ScheduleState = JSON.parse(raw) as ScheduleDefinition;
    const run = this.scheduleRuns.get(state.name) ?? {};
    if (run.lastRun !== undefined) state.lastRun = new Date(run.lastRun);
    if (run.lastTaskUuid !== undefined) state.lastTaskUuid = run.lastTaskUuid;
    if (run.nextRun !== undefined) state.nextRun = new Date(run.nextRun);
    return state;
  }
}
