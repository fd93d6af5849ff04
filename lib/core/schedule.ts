/** When a schedule fires; exactly one of `cron` and `every` is set. */
export interface ScheduleTiming {
  /** Cron expression with an optional seconds field, e.g. `'*\/10 * * * * *'` or `'0 9 * * 1-5'`. */
  cron?: string;
  /** Fixed interval in milliseconds (at least 1000), aligned to the Unix epoch so every instance agrees on the ticks. */
  every?: number;
  /** IANA time zone of a cron expression, e.g. `'Europe/Paris'`; default the system's. */
  timezone?: string;
  /**
   * What to do at start-up about ticks missed while no instance was running: `true` enqueues one
   * task standing for all of them, `false` (default) skips them.
   */
  catchUp?: boolean;
}

/** A schedule of one task, as given to the timer (`timer.add`, or `@Task({ cron })`). */
export interface ScheduleOptions extends ScheduleTiming {
  /** Id of the schedule, unique in the app; defaults to the task's name. */
  name?: string;
  /** Arguments each scheduled task gets. */
  args?: unknown[];
  /** Priority of the scheduled tasks; defaults to the task's own. */
  priority?: number;
}

/** A validated schedule, as published in GlobalConfig. */
export interface ScheduleDefinition extends ScheduleTiming {
  name: string;
  taskName: string;
  args: unknown[];
  priority?: number;
  catchUp: boolean;
}

/** What the last tick did, and when the next one is due. */
export interface ScheduleRun {
  /** Time of the last tick that enqueued a task (the tick's own time, not when it was enqueued). */
  lastRun?: Date;
  /** The task enqueued for that tick. */
  lastTaskUuid?: string;
  /** The next tick, as computed by the last instance that ran or published the schedule. */
  nextRun?: Date;
}

/** A schedule and its run state, as the dashboard and the CLI read it from GlobalConfig. */
export type ScheduleState = ScheduleDefinition & ScheduleRun;

/** Every field of a definition, so that tsc keeps sameDefinition in step with ScheduleDefinition. */
const DEFINITION_FIELDS: Record<keyof ScheduleDefinition, true> = {
  name: true,
  taskName: true,
  cron: true,
  every: true,
  timezone: true,
  args: true,
  priority: true,
  catchUp: true,
};

/**
 * Whether two definitions say the same, whatever else they carry (a stored one comes with its run
 * state) and in whatever order their fields were written (another version may write another).
 */
export function sameDefinition(a: ScheduleDefinition, b: ScheduleDefinition): boolean {
  return Object.keys(DEFINITION_FIELDS).every((field) => {
    const key = field as keyof ScheduleDefinition;
    return JSON.stringify(a[key]) === JSON.stringify(b[key]);
  });
}
