import { InvalidOptionError } from './errors.js';
import { assertTimerRange, MAX_TIMER_MS } from './timing.js';

/** App-level settings; names follow the original QueueTasks where it has them. */
export interface QTasksConfig {
  /** Tasks one worker runs at once (and the most it claims). */
  maxTasksProcess: number;
  /** Re-run tasks whose worker died (their lease expired). */
  runningOlderTasks: boolean;
  /** Delete a task's record as soon as it finishes. */
  deleteFinishedTasks: boolean;
  /** Expiry of finished records in ms; 0 keeps them. */
  resultTtlMs: number;
  /**
   * Keep only the newest N finished records per final status (success, error, cancel); older ones
   * are deleted as new ones finish. 0 keeps all. Bounds Redis memory over a long run.
   */
  keepFinishedTasks: number;
  taskDefaultPriority: number;
  /** How long a claim lasts without renewal; a dead worker's tasks run again after it. */
  leaseMs: number;
  /** Times a task may lose its worker before it ends `error` instead of running again. */
  maxStalls: number;
  /** Time running tasks get to finish at shutdown before they are handed back to the queue. */
  shutdownGraceMs: number;
  /**
   * Longest wait for a plugin handler that answered with a promise; then the trigger fails with
   * PluginTimeoutError. `Infinity` waits for ever.
   */
  pluginTimeoutMs: number;
  /** Largest accepted JSON of a task's arguments, in bytes. */
  maxPayloadBytes: number;
  /** TTL of a worker's heartbeat in GlobalConfig (the original's global_config_status_ttl). */
  globalConfigStatusTtlMs: number;
}

export const DEFAULT_CONFIG: Readonly<QTasksConfig> = Object.freeze({
  maxTasksProcess: 10,
  runningOlderTasks: true,
  deleteFinishedTasks: false,
  resultTtlMs: 0,
  keepFinishedTasks: 0,
  taskDefaultPriority: 0,
  leaseMs: 10_000,
  maxStalls: 3,
  shutdownGraceMs: 10_000,
  pluginTimeoutMs: 30_000,
  maxPayloadBytes: 1024 * 1024,
  globalConfigStatusTtlMs: 20_000,
});

const ENV_PREFIX = 'QTASKS_';

/** Defaults, then `QTASKS_*` environment variables (e.g. QTASKS_MAX_TASKS_PROCESS), then code. */
export function resolveConfig(
  given: Partial<QTasksConfig> = {},
  env: Record<string, string | undefined> = process.env,
): QTasksConfig {
  const config: QTasksConfig = { ...DEFAULT_CONFIG };
  // Settings whose value came from the environment, by the variable that set it: a bad one is
  // named by that variable, which is where it must be fixed.
  const fromEnv = new Map<keyof QTasksConfig, string>();
  for (const key of Object.keys(DEFAULT_CONFIG) as (keyof QTasksConfig)[]) {
    const variable = ENV_PREFIX + key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase();
    const raw = env[variable];
    if (raw === undefined) continue;
    Object.assign(config, { [key]: parseEnvValue(key, variable, raw) });
    fromEnv.set(key, variable);
  }
  if (typeof given !== 'object' || given === null || Array.isArray(given)) {
    throw new InvalidOptionError(`config must be an object of settings, got ${JSON.stringify(given)}.`);
  }
  for (const [key, value] of Object.entries(given)) {
    if (!Object.hasOwn(DEFAULT_CONFIG, key)) throw unknownKeyError(`config.${key} is not a setting`, key, Object.keys(DEFAULT_CONFIG), 'the settings');
    if (value === undefined) continue;
    Object.assign(config, { [key]: value });
    fromEnv.delete(key as keyof QTasksConfig);
  }
  validate(config, (key) => (fromEnv.has(key) ? `Environment variable ${fromEnv.get(key)}: config.${key}` : `config.${key}`));
  return config;
}

function parseEnvValue(key: keyof QTasksConfig, variable: string, raw: string): number | boolean {
  if (typeof DEFAULT_CONFIG[key] === 'boolean') {
    if (!['true', 'false', '1', '0'].includes(raw)) {
      throw new InvalidOptionError(`Environment variable ${variable}: config.${key} must be true or false, got "${raw}".`);
    }
    return raw === 'true' || raw === '1';
  }
  // Number('') and Number(' ') are 0: an empty variable would silently become a zero. Infinity
  // passes (pluginTimeoutMs takes it); validation refuses it for the other settings.
  const value = raw.trim() === '' ? Number.NaN : Number(raw);
  if (Number.isNaN(value)) throw new InvalidOptionError(`Environment variable ${variable}: config.${key} must be a number, got "${raw}".`);
  return value;
}

/**
 * A misspelt key of an options object, which would otherwise be ignored with its default silently
 * kept: `problem`, then the known key closest to it, or the list of them all.
 */
export function unknownKeyError(problem: string, key: string, known: readonly string[], listName: string): InvalidOptionError {
  const distances = known.map((name) => ({ name, distance: editDistance(key.toLowerCase(), name.toLowerCase()) }));
  const near = distances.filter(({ distance }) => distance <= 2).sort((a, b) => a.distance - b.distance)[0]?.name;
  return new InvalidOptionError(problem + (near ? ` (did you mean ${near}?)` : `; ${listName} are ${known.join(', ')}`) + '.');
}

/** Levenshtein distance: the fewest one-character edits turning a into b. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}

function validate(config: QTasksConfig, setting: (key: keyof QTasksConfig) => string): void {
  const positive: (keyof QTasksConfig)[] = ['maxTasksProcess', 'leaseMs', 'maxPayloadBytes', 'globalConfigStatusTtlMs'];
  for (const key of positive) {
    const value = config[key];
    if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
      throw new InvalidOptionError(`${setting(key)} must be a positive integer, got ${String(value)}.`);
    }
  }
  for (const key of ['resultTtlMs', 'keepFinishedTasks', 'maxStalls', 'shutdownGraceMs'] as const) {
    if (!Number.isInteger(config[key]) || config[key] < 0) {
      throw new InvalidOptionError(`${setting(key)} must be a whole number of 0 or more, got ${String(config[key])}.`);
    }
  }
  // Finishing scripts hand it to SET PX as a Lua number, which Lua writes in exponent form from
  // 1e17 on: SET would refuse it and no task could ever finish. Safe integers are written whole.
  if (config.resultTtlMs > Number.MAX_SAFE_INTEGER) {
    throw new InvalidOptionError(`${setting('resultTtlMs')} must be at most ${Number.MAX_SAFE_INTEGER} ms, got ${String(config.resultTtlMs)}.`);
  }
  // Each times a Node timer: the lease's renewal (a third of it) and recovery (half), the
  // heartbeat (half its TTL) and the wait for running tasks at shutdown.
  for (const key of ['leaseMs', 'globalConfigStatusTtlMs', 'shutdownGraceMs'] as const) assertTimerRange(config[key], setting(key));
  // A Node timer fires at once past MAX_TIMER_MS: a larger timeout would fail every async handler.
  const { pluginTimeoutMs } = config;
  if (pluginTimeoutMs !== Number.POSITIVE_INFINITY && !(Number.isInteger(pluginTimeoutMs) && pluginTimeoutMs > 0 && pluginTimeoutMs <= MAX_TIMER_MS)) {
    throw new InvalidOptionError(
      `${setting('pluginTimeoutMs')} must be a whole number of milliseconds from 1 to ${MAX_TIMER_MS}, or Infinity, got ${String(pluginTimeoutMs)}.`,
    );
  }
  for (const key of ['runningOlderTasks', 'deleteFinishedTasks'] as const) {
    if (typeof config[key] !== 'boolean') throw new InvalidOptionError(`${setting(key)} must be true or false, got ${String(config[key])}.`);
  }
  assertPriority(config.taskDefaultPriority, setting('taskDefaultPriority'));
}

/** Priorities are integers in a range that keeps queue key names short and exact. */
export const PRIORITY_LIMIT = 1_000_000;

export function assertPriority(value: unknown, what: string): asserts value is number {
  if (typeof value !== 'number' || !Number.isInteger(value) || Math.abs(value) > PRIORITY_LIMIT) {
    throw new InvalidOptionError(`${what} must be an integer between -${PRIORITY_LIMIT} and ${PRIORITY_LIMIT}, got ${String(value)}.`);
  }
}

/**
 * A whole number written as text (a CLI option, a query parameter), from `min` to `max`. Plain
 * digits only: Number() also takes '', '1e3' and '0x10', and past the safe range it rounds, so the
 * value would not be what was written.
 */
export function wholeNumberText(name: string, text: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const value = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new InvalidOptionError(`${name} must be a whole number from ${min} to ${max}, got "${text}".`);
  }
  return value;
}
