import { afterEach, describe, expect, it, vi } from 'vitest';
import { QTasksTimer, QueueTasks } from '../../lib/index.js';
import { createTrigger } from '../../lib/timers/trigger.js';

// Europe/Berlin in 2026: clocks go from 02:00 to 03:00 at 01:00 UTC on 29 March, and from 03:00
// back to 02:00 at 01:00 UTC on 25 October (02:00-02:59 is shown twice).
const SPRING_EVE = '2026-03-28T12:00:00Z';
const AUTUMN_EVE = '2026-10-24T12:00:00Z';
const quiet = { log: () => undefined, warn: () => undefined, error: () => undefined };

/**
 * Runs an app (memory backend, fake clock) with one Europe/Berlin cron schedule from `from` for
 * 36 hours, optionally restarted at `restartAt`, and returns the ticks that enqueued a task.
 */
async function ticksOver36Hours(cron: string, from: string, restartAt?: string): Promise<string[]> {
  vi.useFakeTimers({ now: Date.parse(from) });
  const end = Date.parse(from) + 36 * 3_600_000;
  const enqueued: string[] = [];
  const startApp = async () => {
    const app = new QueueTasks({ backend: 'memory', worker: false, logger: quiet });
    app.task({ name: 'nightly', cron, timezone: 'Europe/Berlin' }, () => undefined);
    new QTasksTimer(app).onTick((event) => event.added && enqueued.push(event.tick.toISOString()));
    await app.start();
    return app;
  };
  let app = await startApp();
  try {
    if (restartAt) {
      await vi.advanceTimersByTimeAsync(Date.parse(restartAt) - Date.now());
      await app.stop();
      app = await startApp();
    }
    while (Date.now() < end) await vi.advanceTimersByTimeAsync(60_000);
  } finally {
    await app.stop();
  }
  return enqueued;
}

describe('cron schedules across daylight-saving changes (Europe/Berlin)', () => {
  afterEach(() => vi.useRealTimers());

  it('0 2 * * *: once on the day 02:00 is skipped (as the clocks jump), once on the day it repeats (its first pass)', async () => {
    expect(await ticksOver36Hours('0 2 * * *', SPRING_EVE)).toEqual(['2026-03-29T01:00:00.000Z', '2026-03-30T00:00:00.000Z']);
    expect(await ticksOver36Hours('0 2 * * *', AUTUMN_EVE)).toEqual(['2026-10-25T00:00:00.000Z']);
  });

  it('0 3 * * *: once on the day clocks go back, at 03:00 local time, not also at the change', async () => {
    expect(await ticksOver36Hours('0 3 * * *', AUTUMN_EVE)).toEqual(['2026-10-25T02:00:00.000Z']);
  });

  it('a fixed-hour tick runs once even for an instance started during the hour that repeats', async () => {
    expect(await ticksOver36Hours('30 2 * * *', AUTUMN_EVE, '2026-10-25T01:10:00Z')).toEqual(['2026-10-25T00:30:00.000Z']);
    expect(await ticksOver36Hours('15 1-3 * * *', AUTUMN_EVE)).toEqual([
      '2026-10-24T23:15:00.000Z', // 01:15 summer time
      '2026-10-25T00:15:00.000Z', // 02:15 summer time; not again at 02:15 winter time
      '2026-10-25T02:15:00.000Z', // 03:15 winter time
    ]);
  });

  it('an every-hour schedule keeps its rhythm: both passes of the hour that repeats, nothing for the skipped one', () => {
    const ticks = (from: string, count: number) => {
      const trigger = createTrigger({ cron: '30 * * * *', timezone: 'Europe/Berlin' });
      const found = [Date.parse(from)];
      for (let i = 0; i < count; i++) found.push(trigger.nextAfter(found.at(-1)!));
      return found.slice(1).map((tick) => new Date(tick).toISOString());
    };
    expect(ticks('2026-03-29T00:00:00Z', 3)).toEqual(['2026-03-29T00:30:00.000Z', '2026-03-29T01:30:00.000Z', '2026-03-29T02:30:00.000Z']);
    expect(ticks('2026-10-25T00:00:00Z', 3)).toEqual(['2026-10-25T00:30:00.000Z', '2026-10-25T01:30:00.000Z', '2026-10-25T02:30:00.000Z']);
  });
});
