import { assertPriority } from '../core/config.js';
import { InvalidScheduleError, shownValue } from '../core/errors.js';
import { toJson } from '../core/json.js';
import { MAX_TIMER_MS } from '../core/timing.js';
import type { ScheduleDefinition, ScheduleOptions } from '../core/schedule.js';
import { createTrigger, MIN_EVERY_MS, type Trigger } from './trigger.js';

export interface BuiltSchedule {
  definition: ScheduleDefinition;
  trigger: Trigger;
}

/**
 * Checks a schedule and builds its trigger. `where` says where it was declared (e.g.
 * "ReportService.report" or `timer.add("report")`), so the error points at the code to fix.
 */
export function buildSchedule(taskName: string, options: ScheduleOptions, where: string): BuiltSchedule {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidScheduleError(taskName, where, `its options must be an object such as { every: 60_000 }, got ${shownValue(options)}.`);
  }
  const name = options.name ?? taskName;
  const fail = (reason: string, cause?: unknown): never => {
    throw new InvalidScheduleError(name, where, reason, { cause });
  };
  if (!name) fail('its name is empty.');
  const { cron, every, timezone } = options;
  if ((cron === undefined) === (every === undefined)) fail('give exactly one of `cron` and `every`.');
  if (every !== undefined && (!Number.isInteger(every) || every < MIN_EVERY_MS || every > MAX_TIMER_MS)) {
    fail(
      `\`every\` must be a whole number of milliseconds from ${MIN_EVERY_MS} to ${MAX_TIMER_MS} (about 24.8 days; ` +
        `use \`cron\` for longer), got ${String(every)}.`,
    );
  }
  if (timezone !== undefined && cron === undefined) fail('`timezone` applies to `cron` only.');
  if (timezone !== undefined && (typeof timezone !== 'string' || timezone === '')) {
    fail(`\`timezone\` must be an IANA time zone name such as "Europe/Paris", got ${JSON.stringify(timezone)}.`);
  }
  if (options.catchUp !== undefined && typeof options.catchUp !== 'boolean') fail('`catchUp` must be true or false.');
  const args = options.args ?? [];
  if (!Array.isArray(args)) fail('`args` must be an array.');
  toJson(args, `Arguments of schedule "${name}"`);
  if (options.priority !== undefined) assertPriority(options.priority, `priority of schedule "${name}" (${where})`);

  let trigger: Trigger;
  try {
    trigger = createTrigger({ cron, every, timezone });
    // Also proves the expression ever fires (a 30th of February parses but never comes).
    trigger.nextAfter(Date.now());
  } catch (error) {
    const what = cron === undefined ? '' : `cron expression "${cron}"${timezone ? ` in time zone "${timezone}"` : ''}: `;
    return fail(`${what}${error instanceof Error ? error.message.split('\n')[0] : String(error)}`, error);
  }
  const definition: ScheduleDefinition = { name, taskName, args, catchUp: options.catchUp ?? false };
  if (cron !== undefined) definition.cron = cron;
  if (every !== undefined) definition.every = every;
  if (timezone !== undefined) definition.timezone = timezone;
  if (options.priority !== undefined) definition.priority = options.priority;
  return { definition, trigger };
}
