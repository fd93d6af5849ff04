import { CronTime } from 'cron';
import type { ScheduleTiming } from '../core/schedule.js';

/** The smallest fixed interval: below a second a queue is the wrong tool, and cron cannot go lower either. */
export const MIN_EVERY_MS = 1000;

/**
 * The ticks of a schedule, as absolute times. Every instance computes the same ticks, which is
 * what lets a tick's time serve as its idempotency key.
 */
export interface Trigger {
  /** The first tick strictly after `time` (Unix ms). */
  nextAfter(time: number): number;
  /** The latest tick in (`since`, `until`], or null when there is none. */
  latestBetween(since: number, until: number): number | null;
}

/** Builds the trigger of a timing; throws the cron library's error for a bad expression or zone. */
export function createTrigger(timing: ScheduleTiming): Trigger {
  return timing.cron !== undefined ? new CronTrigger(new CronTime(timing.cron, timing.timezone ?? null)) : new IntervalTrigger(timing.every!);
}

/** `every` ms, aligned to the Unix epoch (so `every: 60_000` ticks on whole minutes). */
class IntervalTrigger implements Trigger {
  constructor(private readonly everyMs: number) {}

  nextAfter(time: number): number {
    return (Math.floor(time / this.everyMs) + 1) * this.everyMs;
  }

  latestBetween(since: number, until: number): number | null {
    const tick = Math.floor(until / this.everyMs) * this.everyMs;
    return tick > since ? tick : null;
  }
}

/** Far enough to step over any daylight-saving change (at most two hours anywhere). */
const MAX_DST_STEP_MS = 4 * 3_600_000;

class CronTrigger implements Trigger {
  constructor(private readonly cronTime: CronTime) {}

  nextAfter(time: number): number {
    const fromLater = (stepMs: number) => this.cronTime.getNextDateFrom(new Date(time + stepMs), this.cronTime.timeZone).toMillis();
    let next = fromLater(0);
    if (next > time) return next;
    // Around a daylight-saving change the cron library can answer a time that is not after the one
    // asked (the right wall-clock time under the offset from before the change): ask from later
    // points, doubling, then narrow down to the earliest one it answers right. The ticks of the
    // hour that repeats may be skipped, but time moves on.
    let [wrong, right] = [0, 1000];
    while ((next = fromLater(right)) <= time) {
      if (right > MAX_DST_STEP_MS) throw new Error(`the cron library gives no tick after ${new Date(time).toISOString()}`);
      [wrong, right] = [right, right * 2];
    }
    while (right - wrong > 1000) {
      const middle = wrong + Math.floor((right - wrong) / 2000) * 1000;
      const answer = fromLater(middle);
      if (answer > time) [right, next] = [middle, answer];
      else wrong = middle;
    }
    return next;
  }

  latestBetween(since: number, until: number): number | null {
    // Cron has no "previous tick": look back over windows that double in length until one holds a
    // tick, then walk forward to the last tick before `until`. Usually the first window (1 s) does.
    for (let windowMs = 1000; ; windowMs *= 2) {
      const from = Math.max(since, until - windowMs);
      let tick = this.nextAfter(from);
      if (tick <= until) {
        for (let next = this.nextAfter(tick); next <= until; next = this.nextAfter(next)) tick = next;
        return tick;
      }
      if (from === since) return null;
    }
  }
}
