import type { ScheduleDefinition, ScheduleState } from '../../core/schedule.js';
import type { TaskCatalogEntry } from '../../core/task-registry.js';
import { GlobalConfig, type WorkerStatus } from '../global-config.js';

/**
 * GlobalConfig in process memory. Values are kept as JSON text, as in Redis, so what a caller
 * reads back is a copy; heartbeats expire when read after their time to live.
 */
export class MemoryGlobalConfig extends GlobalConfig {
  private readonly settings = new Map<string, string>();
  private readonly catalogEntries = new Map<string, string>();
  private readonly statuses = new Map<string, { raw: string; expiresAt: number }>();
  /** Schedule definitions as JSON text, and their run state (times in ms), by schedule name. */
  private readonly scheduleDefinitions = new Map<string, string>();
  private readonly scheduleRuns = new Map<string, { lastRun?: number; lastTaskUuid?: string; nextRun?: number }>();
  /** Schedules removed by `removeSchedule` and not published since (Redis's mark `r`). */
  private readonly removedSchedules = new Set<string>();

  async start(): Promise<void> {}
  async stop(): Promise<void> {}

  protected async writeSetting(key: string, json: string): Promise<void> {
    this.settings.set(key, json);
  }

  protected async readSetting(key: string): Promise<string | undefined> {
    return this.settings.get(key);
  }

  protected async readAllSettings(): Promise<Record<string, string>> {
    return Object.fromEntries(this.settings);
  }

  protected async writeStatus(status: WorkerStatus, ttlMs: number): Promise<void> {
    this.statuses.set(status.id, { raw: JSON.stringify(status), expiresAt: Date.now() + ttlMs });
  }

  async removeStatus(workerId: string): Promise<void> {
    this.statuses.delete(workerId);
  }

  async workers(): Promise<WorkerStatus[]> {
    const now = Date.now();
    const live: WorkerStatus[] = [];
    for (const [id, { raw, expiresAt }] of this.statuses) {
      if (expiresAt <= now) this.statuses.delete(id);
      else live.push(JSON.parse(raw) as WorkerStatus);
    }
    return live;
  }

  async publishCatalog(entries: TaskCatalogEntry[]): Promise<void> {
    for (const entry of entries) this.catalogEntries.set(entry.name, JSON.stringify(entry));
  }

  async catalog(): Promise<TaskCatalogEntry[]> {
    return [...this.catalogEntries.values()].map((raw) => JSON.parse(raw) as TaskCatalogEntry);
  }

  async publishSchedule(schedule: ScheduleDefinition, nextRun: Date): Promise<void> {
    this.scheduleDefinitions.set(schedule.name, JSON.stringify(schedule));
    this.removedSchedules.delete(schedule.name);
    this.scheduleRuns.set(schedule.name, { ...this.scheduleRuns.get(schedule.name), nextRun: nextRun.getTime() });
  }

  // As schedule-run.lua: an older tick, reported late, never overwrites a newer one.
  async recordScheduleRun(name: string, tick: Date, taskUuid: string, nextRun: Date): Promise<boolean | 'removed'> {
    if (this.removedSchedules.has(name)) return 'removed';
    const run = this.scheduleRuns.get(name) ?? {};
    if (run.lastRun !== undefined && tick.getTime() <= run.lastRun) return false;
    this.scheduleRuns.set(name, { lastRun: tick.getTime(), lastTaskUuid: taskUuid, nextRun: nextRun.getTime() });
    return true;
  }

  async removeSchedule(name: string): Promise<void> {
    await this.dropSchedule(name);
    this.removedSchedules.add(name);
  }

  async scheduleRemoved(name: string): Promise<boolean> {
    return this.removedSchedules.has(name);
  }

  async dropSchedule(name: string): Promise<void> {
    this.scheduleDefinitions.delete(name);
    this.scheduleRuns.delete(name);
  }

  async schedule(name: string): Promise<ScheduleState | undefined> {
    const raw = this.scheduleDefinitions.get(name);
    return raw === undefined ? undefined : this.withRun(raw);
  }

  async schedules(): Promise<ScheduleState[]> {
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
