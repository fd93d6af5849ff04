import { CronJob, CronTime } from 'cron';
import type { Trigger } from './trigger.js';

/**
 * One date, as cron's own date time, but whose timeout is 0 once the date has passed. Cron's
 * throws then ("Date in past"), and its timer callback asks for it again when Node's timer fires
 * a little before the wall clock says it should: the throw escaped as an uncaught exception, and
 * the schedule stopped firing.
 */
class OneDate extends CronTime {
  constructor(private readonly at: number) {
    super(new Date(at));
  }

  override getTimeout(): number {
    return Math.max(0, this.at - Date.now());
  }
}

/**
 * The CronJob (from `cron`, the library @nestjs/schedule runs its jobs on) that calls `onFire`
 * at each tick of a schedule. It is armed for one date at a time, the trigger's next tick, and
 * re-armed as it fires (a date passed by then fires at once): cron cannot express an arbitrary
 * interval, and its own reading of a cron expression in a time zone wakes at the wrong times
 * around daylight-saving changes (twice for one tick, or for none), which the trigger does not.
 */
export function createTickJob(trigger: Trigger, onFire: () => void): CronJob {
  const nextDate = () => new OneDate(trigger.nextAfter(Date.now()));
  const first = trigger.nextAfter(Date.now());
  const job = CronJob.from({
    // CronJob.from takes a Date; the OneDate set below is what arms it.
    cronTime: new Date(first),
    onTick: () => {
      job.setTime(nextDate());
      job.start();
      onFire();
    },
    start: false,
  });
  job.setTime(new OneDate(first));
  return job;
}
