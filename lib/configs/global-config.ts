import { InvalidOptionError, shownValue } from '../core/errors.js';
import { toJson } from '../core/json.js';
import type { ScheduleDefinition, ScheduleState } from '../core/schedule.js';
import type { TaskCatalogEntry } from '../core/task-registry.js';
import { PluginRunner } from '../plugins/plugin-runner.js';

/** A schedule as a timer finds it in GlobalConfig before a tick (see scheduleAtTick). */
export interface ScheduleAtTick {
  /** Marked removed by `removeSchedule` in some instance, and not published since. */
  removed: boolean;
  published: ScheduleState | undefined;
}

/** A live worker's heartbeat. */
export interface WorkerStatus {
  id: string;
  host: string;
  pid: number;
  startedAt: number;
  /** Tasks running now. */
  running: number;
  maxTasksProcess: number;
  tasks: string[];
}

/**
 * GlobalConfig: settings shared by every process of one app, the task catalogue and worker
 * heartbeats, stored where a dashboard or the CLI can read them with no app running.
 */
export abstract class GlobalConfig {
  /** The app's plugins (set by QueueTasks): set, get, get_all and set_status fire triggers. */
  plugins = new PluginRunner();

  abstract start(): Promise<void>;
  abstract stop(): Promise<void>;

  // set, get, getAll and setStatus fire their triggers here, once for every backend; a backend
  // only stores and reads the JSON text.

  /** Stores `value` as JSON; one JSON would not give back as it is fails with NotSerializableError. */
  async set(key: string, value: unknown): Promise<void> {
    assertSettingKey(key);
    const answer = await this.plugins.trigger('global_config_set', { key, value });
    await this.writeSetting(key, toJson(answer.value, `GlobalConfig setting "${key}"`));
  }

  async get<T = unknown>(key: string): Promise<T | undefined> {
    assertSettingKey(key);
    const raw = await this.readSetting(key);
    // As in getAll, a value that is not JSON (written by hand or by another tool) reads as absent.
    const { value } = await this.plugins.trigger('global_config_get', { key, value: raw === undefined ? undefined : parseJsonOrUndefined(raw) });
    return value as T | undefined;
  }

  async getAll(): Promise<Record<string, unknown>> {
    const all = await this.readAllSettings();
    const values = Object.fromEntries(
      Object.entries(all).flatMap(([key, raw]) => {
        const value = parseJsonOrUndefined(raw);
        return value === undefined ? [] : [[key, value]];
      }),
    );
    return (await this.plugins.trigger('global_config_get_all', { values })).values;
  }

  /** Records a heartbeat that expires after `ttlMs` unless renewed. */
  async setStatus(given: WorkerStatus, ttlMs: number): Promise<void> {
    const { status } = await this.plugins.trigger('global_config_set_status', { status: given, ttlMs });
    await this.writeStatus(status, ttlMs);
  }

  protected abstract writeSetting(key: string, json: string): Promise<void>;
  protected abstract readSetting(key: string): Promise<string | undefined>;
  protected abstract readAllSettings(): Promise<Record<string, string>>;
  protected abstract writeStatus(status: WorkerStatus, ttlMs: number): Promise<void>;

  abstract removeStatus(workerId: string): Promise<void>;
  /** Workers whose heartbeat has not expired. */
  abstract workers(): Promise<WorkerStatus[]>;

  abstract publishCatalog(entries: TaskCatalogEntry[]): Promise<void>;
  abstract catalog(): Promise<TaskCatalogEntry[]>;

  /** Stores a timer's schedule (replacing one of the same name) and when it runs next. */
  abstract publishSchedule(schedule: ScheduleDefinition, nextRun: Date): Promise<void>;
  /**
   * Records the task enqueued for a tick, unless a later tick is already recorded (instances
   * report the same tick, possibly out of order). Returns whether it was recorded, or `'removed'`
   * when the schedule is marked removed (by `removeSchedule` in any instance): nothing is
   * recorded, and the timer stops the schedule.
   */
  abstract recordScheduleRun(name: string, tick: Date, taskUuid: string, nextRun: Date): Promise<boolean | 'removed'>;
  /**
   * Removes a schedule for every instance: it is marked removed until published again, and the
   * instances still running it stop it at their next tick.
   */
  abstract removeSchedule(name: string): Promise<void>;
  /**
   * What a timer asks before enqueueing each tick, read at once: whether the schedule is marked
   * removed, and its published definition with its run state.
   */
  abstract scheduleAtTick(name: string): Promise<ScheduleAtTick>;
  /**
   * Deletes a schedule's definition and leaves no removal mark: an instance still running it goes
   * on (the start-up cleanup of schedules that look abandoned). Its run state is kept (in Redis for
   * 30 days), so its own app, when it starts again, still catches up from its last run.
   */
  abstract dropSchedule(name: string): Promise<void>;
  abstract schedule(name: string): Promise<ScheduleState | undefined>;
  abstract schedules(): Promise<ScheduleState[]>;
}

/** `raw` parsed, or undefined when it is not JSON (no JSON text parses to undefined). */
function parseJsonOrUndefined(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return undefined;
  }
}

/**
 * The stored entries that are JSON objects named by a string `identity` field (a worker's id, a
 * schedule's name...), parsed. The others are left out: an entry written by hand or by another
 * tool must not hide the rest from a dashboard or a worker.
 */
export function readableObjects<T extends object>(raws: readonly (string | null)[], identity: keyof T & string): T[] {
  return raws.flatMap((raw) => {
    const value = raw === null ? undefined : parseJsonOrUndefined(raw);
    const named = typeof value === 'object' && value !== null && typeof (value as Record<string, unknown>)[identity] === 'string';
    return named ? [value as T] : [];
  });
}

/**
 * From plain JavaScript, `set(undefined, v)` would store under "" (another setting's key) and
 * `set({}, v)` under "[object Object]".
 */
function assertSettingKey(key: unknown): void {
  if (typeof key !== 'string' || key === '') {
    throw new InvalidOptionError(`A GlobalConfig setting's key must be a non-empty string, got ${shownValue(key)}.`);
  }
}
