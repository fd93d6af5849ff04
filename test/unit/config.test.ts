import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../../lib/core/config.js';
import { DEFAULT_CONFIG, InvalidOptionError, type QTasksConfig } from '../../lib/index.js';

describe('settings', () => {
  it('take QTASKS_* environment values over defaults, and code over both', () => {
    const env = { QTASKS_MAX_TASKS_PROCESS: '4', QTASKS_DELETE_FINISHED_TASKS: 'true', QTASKS_LEASE_MS: '2500' };
    const config = resolveConfig({ leaseMs: 3000 }, env);
    expect(config).toEqual({ ...DEFAULT_CONFIG, maxTasksProcess: 4, deleteFinishedTasks: true, leaseMs: 3000 });
  });

  it('refuse bad values with a message naming the setting', () => {
    expect(() => resolveConfig({ maxTasksProcess: 0 }, {})).toThrow(InvalidOptionError);
    expect(() => resolveConfig({ maxTasksProcess: 0 }, {})).toThrow('config.maxTasksProcess must be a positive integer, got 0.');
    expect(() => resolveConfig({}, { QTASKS_RUNNING_OLDER_TASKS: 'maybe' })).toThrow(/runningOlderTasks must be true or false/);
    expect(() => resolveConfig({}, { QTASKS_LEASE_MS: 'soon' })).toThrow(/leaseMs must be a number/);
  });

  it('refuse an unknown setting, naming it and the setting it is close to', () => {
    const misspelt = { maxTaskProcess: 4 } as Partial<QTasksConfig>;
    expect(() => resolveConfig(misspelt, {})).toThrow(InvalidOptionError);
    expect(() => resolveConfig(misspelt, {})).toThrow('config.maxTaskProcess is not a setting (did you mean maxTasksProcess?).');
    expect(() => resolveConfig({ speed: 3 } as Partial<QTasksConfig>, {})).toThrow(
      `config.speed is not a setting; the settings are ${Object.keys(DEFAULT_CONFIG).join(', ')}.`,
    );
  });

  it('refuse a config that is not an object, and a switch that is not true or false', () => {
    expect(() => resolveConfig(null as never, {})).toThrow('config must be an object of settings, got null.');
    expect(() => resolveConfig({ deleteFinishedTasks: 'yes' as never }, {})).toThrow('config.deleteFinishedTasks must be true or false, got yes.');
  });

  it('take pluginTimeoutMs as a whole number of ms a Node timer can wait, or Infinity (from code or the environment)', () => {
    expect(resolveConfig({}, {}).pluginTimeoutMs).toBe(30_000);
    expect(resolveConfig({ pluginTimeoutMs: Infinity }, {}).pluginTimeoutMs).toBe(Infinity);
    expect(resolveConfig({}, { QTASKS_PLUGIN_TIMEOUT_MS: 'Infinity' }).pluginTimeoutMs).toBe(Infinity);
    expect(resolveConfig({}, { QTASKS_PLUGIN_TIMEOUT_MS: '250' }).pluginTimeoutMs).toBe(250);
    for (const bad of [0, -1, 1.5, 2 ** 31, -Infinity, Number.NaN, '200']) {
      expect(() => resolveConfig({ pluginTimeoutMs: bad as number }, {})).toThrow(
        `config.pluginTimeoutMs must be a whole number of milliseconds from 1 to 2147483647, or Infinity, got ${String(bad)}.`,
      );
    }
    // Infinity from the environment is refused where it means nothing.
    expect(() => resolveConfig({}, { QTASKS_LEASE_MS: 'Infinity' })).toThrow(
      'Environment variable QTASKS_LEASE_MS: config.leaseMs must be a positive integer, got Infinity.',
    );
  });

  it('refuse leaseMs, globalConfigStatusTtlMs and shutdownGraceMs past what a Node timer waits, which would fire after 1 ms', () => {
    for (const key of ['leaseMs', 'globalConfigStatusTtlMs', 'shutdownGraceMs'] as const) {
      expect(resolveConfig({ [key]: 2 ** 31 - 1 }, {})[key]).toBe(2 ** 31 - 1);
      expect(() => resolveConfig({ [key]: 2 ** 31 }, {})).toThrow(InvalidOptionError);
      expect(() => resolveConfig({ [key]: 2 ** 31 }, {})).toThrow(
        `config.${key} must be at most 2147483647 ms, about 24.8 days (a longer timer fires at once), got 2147483648.`,
      );
    }
    expect(() => resolveConfig({}, { QTASKS_SHUTDOWN_GRACE_MS: '1e10' })).toThrow(
      'Environment variable QTASKS_SHUTDOWN_GRACE_MS: config.shutdownGraceMs must be at most 2147483647 ms',
    );
  });
});
