import { CronJob, CronTime } from 'cron';
import type { ScheduleDefinition } from '../core/schedule.js';
import type { Trigger } from './trigger.js';

/**
 * The CronJob (from `cron`, the library @nestjs/schedule runs its jobs on) that calls `onFire`
 * at each tick of a schedule. Cron cannot express an arbitrary interval, so an `every` job is
 * armed for one date at a time and re-armed as it fires.
 */
export function createTickJob(definition: ScheduleDefinition, trigger: Trigger, onFire: () => void): CronJob {
  if (definition.cron !== undefined) {
    return CronJob.from({ cronTime: definition.cron, timeZone: definition.timezone, onTick: onFire, start: false });
  }
  const nextDate = () => new Date(trigger.nextAfter(Date.now()));
  const rearm = () => {
    job.setTime(new CronTime(nextDate()));
    try {
      job.start();
    } catch {
      // The date passed while arming (cron refuses a date in the past): that tick is due now.
      void job.stop();
      onFire();
      rearm();
    }
  };
  const job = CronJob.from({
    cronTime: nextDate(),
    onTick: () => {
      rearm();
      onFire();
    },
    start: false,
  });
  return job;
}
