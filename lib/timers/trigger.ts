import { CronTime } from 'cron';
import type { ScheduleTiming } from '../core/schedule.js';
import { ZoneClock } from './zone-clock.js';

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
  return timing.cron !== undefined ? new CronTrigger(timing.cron, timing.timezone) : new IntervalTrigger(timing.every!);
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

/** Changes of offset a search may step over: two a year, over the years cron looks ahead. */
const MAX_CHANGES = 20;
/** Longer than any hour that repeats (clocks set back by at most two hours anywhere). */
const LONGEST_REPEAT_MS = 3 * 3_600_000;

/**
 * A cron expression read on the wall clock of its zone, as cron daemons do around daylight-saving
 * changes. The cron library walks the wall times in UTC (no hour skipped or repeated there), and
 * each is placed at the instant the zone shows it. An expression naming its hours (`0 2 * * *`)
 * fires each wall time once: in an hour that repeats, in its first pass only; in one that is
 * skipped, as the clocks jump. One firing in every hour (`*\/5 * * * *`) keeps its rhythm: both
 * passes of an hour that repeats, nothing for one that is skipped. Either way the ticks do not
 * depend on when they are asked for, where the library's own zone arithmetic gave some twice
 * around a change, and some that are not the expression's.
 */
class CronTrigger implements Trigger {
  private readonly walls: CronTime;
  private readonly clock: ZoneClock;
  private readonly everyHour: boolean;

  constructor(cron: string, zone: string | undefined) {
    this.walls = new CronTime(cron, 'UTC');
    this.clock = new ZoneClock(zone);
    this.everyHour = this.walls.toJSON()[2] === '*';
  }

  nextAfter(time: number): number {
    let offset = this.clock.offsetAt(time);
    // From `segment` on, the zone is `offset` ahead of UTC, until the next change of offset.
    let [after, segment] = [this.skipSecondPass(time, offset), time];
    for (let changes = 0; changes <= MAX_CHANGES; changes++) {
      const wall = this.walls.getNextDateFrom(new Date(after + offset), 'UTC').toMillis();
      const tick = wall - offset;
      const change = this.clock.firstChange(segment, tick);
      if (change === undefined) return tick;
      const next = this.clock.offsetAt(change);
      const setForward = next > offset;
      // A fixed-hour tick of a skipped hour fires as the clocks jump.
      if (setForward && !this.everyHour && wall < change + next) return change;
      // Set back: fixed hours go on after the hour that repeats, every-hour ticks through it again.
      after = setForward || this.everyHour ? change - 1 : change + offset - next - 1;
      [offset, segment] = [next, change];
    }
    throw new Error(`no tick found after ${new Date(time).toISOString()}`);
  }

  /** Where a fixed-hour search from `time` starts: past the second pass of an hour that repeats, if `time` is in one. */
  private skipSecondPass(time: number, offset: number): number {
    if (this.everyHour) return time;
    const earlier = this.clock.offsetAt(time - LONGEST_REPEAT_MS);
    if (earlier <= offset) return time;
    const change = this.clock.firstChange(time - LONGEST_REPEAT_MS, time)!;
    return Math.max(time, change + earlier - offset - 1);
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
