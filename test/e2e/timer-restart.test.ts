import { afterEach, expect, it, vi } from 'vitest';
import { MemoryGlobalConfig, QTasksTimer, QueueTasks, RedisUnavailableError, type ScheduleAtTick, type TickEvent } from '../../lib/index.js';

const quiet = { log: () => undefined, warn: () => undefined, error: () => undefined };

/** A GlobalConfig whose `scheduleAtTick` calls wait while `gate` is set, and fail if it rejects: a call cut off on its way. */
class GatedGlobalConfig extends MemoryGlobalConfig {
  gate: Promise<void> | undefined;
  calls = 0;

  override async scheduleAtTick(name: string): Promise<ScheduleAtTick> {
    this.calls++;
    await this.gate;
    return super.scheduleAtTick(name);
  }
}

/** A started memory app on `globalConfig`, its timer running schedule "x" every minute, and the ticks it hears. */
async function startWithSchedule(globalConfig: MemoryGlobalConfig) {
  const app = new QueueTasks({ backend: 'memory', worker: false, globalConfig, logger: quiet });
  app.task('report', () => 'report');
  const timer = new QTasksTimer(app);
  const ticks: TickEvent[] = [];
  timer.onTick((event) => ticks.push(event));
  await timer.add('report', { name: 'x', every: 60_000 });
  await app.start();
  return { app, timer, ticks };
}

afterEach(() => vi.useRealTimers());

it('a tick whose call failed after its run stopped is not tried again in the run started since (stop() then start())', async () => {
  vi.useFakeTimers({ now: Date.parse('2026-01-01T00:00:30Z') });
  const globalConfig = new GatedGlobalConfig();
  const { app, timer, ticks } = await startWithSchedule(globalConfig);
  try {
    let cut!: (error: Error) => void;
    globalConfig.gate = new Promise((_, reject) => (cut = reject));
    await vi.advanceTimersByTimeAsync(60_000);
    expect(globalConfig.calls).toBe(1);
    // Calls from now on answer: only the tick already held can fail.
    globalConfig.gate = undefined;
    const stopped = timer.stop();
    // Stop waits that long for a tick on its way, then goes on without it.
    await vi.advanceTimersByTimeAsync(2_000);
    await stopped;
    await timer.start();
    cut(new RedisUnavailableError('127.0.0.1:6379', new Error('connection cut')));
    // A tick tried again would be, a second later; the new run's own next tick is a minute away.
    await vi.advanceTimersByTimeAsync(10_000);
    expect(ticks).toEqual([]);
    expect(globalConfig.calls).toBe(1);
  } finally {
    await app.stop();
  }
});

it('a tick makes one GlobalConfig read before its enqueue, and records its run after', async () => {
  vi.useFakeTimers({ now: Date.parse('2026-01-01T00:00:30Z') });
  const calls: string[] = [];
  // Every method call on the GlobalConfig, by name, once the timer is armed.
  const globalConfig = new Proxy(new MemoryGlobalConfig(), {
    get(target, key, receiver) {
      const value: unknown = Reflect.get(target, key, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        calls.push(String(key));
        return (value as (...given: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  const { app, ticks } = await startWithSchedule(globalConfig);
  try {
    calls.length = 0;
    await vi.advanceTimersByTimeAsync(60_000);
    expect(ticks).toHaveLength(1);
    expect(calls).toEqual(['scheduleAtTick', 'recordScheduleRun']);
  } finally {
    await app.stop();
  }
});
