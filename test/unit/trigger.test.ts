import { describe, expect, it } from 'vitest';
import { InvalidScheduleError, NotSerializableError } from '../../lib/index.js';
import { buildSchedule } from '../../lib/timers/build-schedule.js';
import { createTrigger } from '../../lib/timers/trigger.js';

const at = (iso: string) => Date.parse(iso);

describe('triggers', () => {
  it('every: ticks on multiples of the interval since the epoch, the same in every process', () => {
    const trigger = createTrigger({ every: 5000 });
    expect(trigger.nextAfter(at('2026-01-01T00:00:03.200Z'))).toBe(at('2026-01-01T00:00:05Z'));
    expect(trigger.nextAfter(at('2026-01-01T00:00:05Z'))).toBe(at('2026-01-01T00:00:10Z'));
    expect(trigger.latestBetween(0, at('2026-01-01T00:00:09.999Z'))).toBe(at('2026-01-01T00:00:05Z'));
    expect(trigger.latestBetween(at('2026-01-01T00:00:05Z'), at('2026-01-01T00:00:09.999Z'))).toBeNull();
  });

  it('cron with seconds: next is strictly after, latest includes a tick at the bound itself', () => {
    const trigger = createTrigger({ cron: '*/10 * * * * *', timezone: 'UTC' });
    expect(trigger.nextAfter(at('2026-01-01T00:00:10Z'))).toBe(at('2026-01-01T00:00:20Z'));
    expect(trigger.nextAfter(at('2026-01-01T00:00:10.001Z'))).toBe(at('2026-01-01T00:00:20Z'));
    expect(trigger.latestBetween(0, at('2026-01-01T00:00:29.900Z'))).toBe(at('2026-01-01T00:00:20Z'));
    expect(trigger.latestBetween(0, at('2026-01-01T00:00:30Z'))).toBe(at('2026-01-01T00:00:30Z'));
    expect(trigger.latestBetween(at('2026-01-01T00:00:20Z'), at('2026-01-01T00:00:29Z'))).toBeNull();
  });

  it('cron: finds the latest tick far back (yearly) and stops at `since`', () => {
    const yearly = createTrigger({ cron: '0 0 0 1 1 *', timezone: 'UTC' });
    expect(yearly.latestBetween(0, at('2026-06-15T12:00:00Z'))).toBe(at('2026-01-01T00:00:00Z'));
    expect(yearly.latestBetween(at('2026-01-01T00:00:00Z'), at('2026-06-15T12:00:00Z'))).toBeNull();
  });

  it('time zones: a 09:00 cron fires at 09:00 local time, following daylight saving', () => {
    const tokyo = createTrigger({ cron: '0 0 9 * * *', timezone: 'Asia/Tokyo' });
    // 00:00:10 UTC is 09:00:10 in Tokyo: today's run has passed, the next is tomorrow 09:00 (00:00 UTC).
    expect(tokyo.nextAfter(at('2026-01-01T00:00:10Z'))).toBe(at('2026-01-02T00:00:00Z'));
    const newYork = createTrigger({ cron: '0 9 * * *', timezone: 'America/New_York' });
    expect(newYork.nextAfter(at('2026-01-10T00:00:00Z'))).toBe(at('2026-01-10T14:00:00Z'));
    expect(newYork.nextAfter(at('2026-07-10T00:00:00Z'))).toBe(at('2026-07-10T13:00:00Z'));
  });

  it('time moves on across a fall-back change, where the cron library answers a time before the one asked', () => {
    // Santiago falls back at 03:00 UTC on 5 April 2026; there the library answers 02:00:01 UTC for
    // "the second after 03:00:00 UTC", and looking for the latest tick looped for ever.
    const santiago = createTrigger({ cron: '* * * * * *', timezone: 'America/Santiago' });
    const after = santiago.nextAfter(at('2026-04-05T03:00:00Z'));
    expect(after).toBeGreaterThan(at('2026-04-05T03:00:00Z'));
    expect(santiago.latestBetween(at('2026-04-05T02:59:59Z'), at('2026-04-05T03:00:00.300Z'))).toBe(at('2026-04-05T03:00:00Z'));
    // The next tick after the change is no further than the end of the hour that repeats.
    expect(after).toBeLessThanOrEqual(at('2026-04-05T04:00:00Z'));
  });
});

describe('schedule checks', () => {
  const refuse = (options: Parameters<typeof buildSchedule>[1], pattern: RegExp) => {
    let caught: unknown;
    try {
      buildSchedule('report', options, 'ReportService.report');
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(InvalidScheduleError);
    expect((caught as InvalidScheduleError).code).toBe('INVALID_SCHEDULE');
    expect((caught as Error).message).toMatch(/^Schedule "report" \(ReportService\.report\) is invalid: /);
    expect((caught as Error).message).toMatch(pattern);
  };

  it('refuses bad expressions, zones and intervals with a typed error naming the schedule and its source', () => {
    refuse({ cron: '61 * * * * *' }, /cron expression "61 \* \* \* \* \*": Field value \(61\) is out of range/);
    refuse({ cron: 'every day' }, /cron expression "every day"/);
    refuse({ cron: '0 0 0 30 2 *' }, /No execution date was found/);
    refuse({ cron: '* * * * *', timezone: 'Mars/Olympus' }, /in time zone "Mars\/Olympus": Invalid timezone/);
    refuse({}, /exactly one of `cron` and `every`/);
    refuse({ cron: '* * * * *', every: 1000 }, /exactly one of `cron` and `every`/);
    refuse({ every: 999 }, /`every` must be a whole number of milliseconds from 1000 to 2147483647 \(about 24\.8 days; use `cron` for longer\), got 999/);
    refuse({ every: 1e16 }, /`every` must be a whole number of milliseconds from 1000 to 2147483647 .*got 10000000000000000/);
    refuse({ cron: '* * * * *', timezone: '' }, /`timezone` must be an IANA time zone name such as "Europe\/Paris", got ""/);
    refuse({ cron: '* * * * *', timezone: 5 as unknown as string }, /`timezone` must be an IANA time zone name .*got 5/);
    refuse({ every: 1000, timezone: 'UTC' }, /`timezone` applies to `cron` only/);
    refuse({ every: 1000, args: 'x' as unknown as unknown[] }, /`args` must be an array/);
  });

  it('refuses arguments JSON cannot carry and bad priorities', () => {
    expect(() => buildSchedule('report', { every: 1000, args: [() => 1] }, 'x')).toThrow(NotSerializableError);
    expect(() => buildSchedule('report', { every: 1000, priority: 1.5 }, 'x')).toThrow(/priority of schedule "report" \(x\)/);
  });

  it('keeps what it was given, named after the task unless named', () => {
    const { definition } = buildSchedule('report', { cron: '0 * * * *', timezone: 'Europe/Paris', args: [1], priority: 2 }, 'x');
    expect(definition).toEqual({ name: 'report', taskName: 'report', cron: '0 * * * *', timezone: 'Europe/Paris', args: [1], priority: 2, catchUp: false });
    expect(buildSchedule('report', { every: 60_000, name: 'report-minutely', catchUp: true }, 'x').definition).toEqual({
      name: 'report-minutely',
      taskName: 'report',
      every: 60_000,
      args: [],
      catchUp: true,
    });
  });
});
