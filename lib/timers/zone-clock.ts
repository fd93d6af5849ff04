/** Steps of the search for a change of offset: no zone changes twice within a week. */
const WEEK_MS = 7 * 86_400_000;

/**
 * The wall clock of one time zone. A wall time is written as the Unix ms that UTC shows the same
 * date and time at, so cron can walk wall times in UTC, where no hour is skipped or repeated.
 */
export class ZoneClock {
  private readonly format: Intl.DateTimeFormat;

  /** `zone` undefined: the system's. Throws for a zone Intl does not know. */
  constructor(zone: string | undefined) {
    try {
      this.format = new Intl.DateTimeFormat('en-US', {
        timeZone: zone,
        hourCycle: 'h23',
        year: 'numeric',
        month: 'numeric',
        day: 'numeric',
        hour: 'numeric',
        minute: 'numeric',
        second: 'numeric',
      });
    } catch {
      throw new Error('Invalid timezone.');
    }
  }

  /** How far the zone's wall clock is ahead of UTC at `instant` (ms). */
  offsetAt(instant: number): number {
    const parts = this.format.formatToParts(instant);
    const field = (type: Intl.DateTimeFormatPartTypes) => Number(parts.find((part) => part.type === type)!.value);
    const second = Math.floor(instant / 1000) * 1000;
    return Date.UTC(field('year'), field('month') - 1, field('day'), field('hour'), field('minute'), field('second')) - second;
  }

  /** The first instant of `(from, to]` whose offset is not the one at `from`; undefined when there is none. */
  firstChange(from: number, to: number): number | undefined {
    const offset = this.offsetAt(from);
    for (let start = from; start < to; start += WEEK_MS) {
      const end = Math.min(start + WEEK_MS, to);
      if (this.offsetAt(end) !== offset) return this.changeWithin(start, end);
    }
    return undefined;
  }

  /** The instant the offset changes, between `from` and `to` (one change, on a whole second). */
  private changeWithin(from: number, to: number): number {
    const offset = this.offsetAt(from);
    let [before, after] = [Math.floor(from / 1000), Math.ceil(to / 1000)];
    while (after - before > 1) {
      const middle = Math.floor((before + after) / 2);
      if (this.offsetAt(middle * 1000) === offset) before = middle;
      else after = middle;
    }
    return after * 1000;
  }
}
