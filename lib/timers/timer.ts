import type { CronJob } from 'cron';
import { setMaxListeners } from 'node:events';
import {
  AddTooLateError,
  DuplicateScheduleError,
  errorMessage,
  InvalidOptionError,
  InvalidScheduleError,
  RedisUnavailableError,
  shownValue,
  UnknownTaskError,
} from '../core/errors.js';
import type { QueueTasks } from '../core/queue-tasks.js';
import { sameDefinition, type ScheduleDefinition, type ScheduleOptions, type ScheduleState } from '../core/schedule.js';
import { storedArgsJson } from '../core/json.js';
import { pause, settleWithin } from '../core/timing.js';
import { validatedAtEnqueue } from '../plugins/validation/validation.plugin.js';
import type { StartHook } from '../starters/starter.js';
import { buildSchedule, type BuiltSchedule } from './build-schedule.js';
import { createTickJob } from './tick-job.js';

/**
 * Where a timer lists its cron jobs: @nestjs/schedule's SchedulerRegistry has this shape, and the
 * Nest module passes the app's own. The engine does not import it, so a process without Nest loads
 * no Nest.
 */
export interface CronJobRegistry {
  addCronJob(name: string, job: CronJob): void;
  deleteCronJob(name: string): void;
  doesExist(type: 'cron', name: string): boolean;
}

export interface TimerOptions {
  /** Where the cron jobs are also listed; without one, the timer alone holds them. */
  registry?: CronJobRegistry;
  /**
   * `false`: schedules are still checked at start and listed, but this process fires none
   * (a worker-only process). Default true.
   */
  enabled?: boolean;
}

/** What one instance did at one tick of a schedule. */
export interface TickEvent {
  schedule: string;
  taskName: string;
  /** The tick's own time (the same in every instance). */
  tick: Date;
  /** The tick's task: enqueued here (`added`) or by another instance first. */
  uuid: string;
  added: boolean;
  /** The task stands for ticks missed while no instance was running. */
  catchUp: boolean;
}

interface Schedule extends BuiltSchedule {
  /** Latest tick handled here; a fire never handles a tick twice. */
  lastTick: number;
  /** Set as its arming begins (before the job exists), cleared when disarmed: it is armed once. */
  armed?: boolean;
  job?: CronJob;
  /** Set while its published definition differs and this instance leaves it the ticks (see firesHere). */
  yielded?: boolean;
  /** Set while its ticks find Redis unreachable (see noteUnreachable). */
  outage?: Outage;
}

/**
 * A run of ticks of one schedule that found Redis unreachable, told in a few lines rather than one
 * per tick: its first failure, a reminder every REMIND_EVERY_MS, and its end.
 */
interface Outage {
  /** When the first of its ticks found Redis unreachable. */
  since: number;
  /** When a line last told of it; unset while none did ('wait' mode, whose ticks wait silently). */
  toldAt?: number;
  /** Ticks given up, too late to enqueue only once. */
  givenUp?: { count: number; first: number; last: number };
}

interface AddedSchedule {
  schedule: Schedule;
  where: string;
  /** Its check, when `add` made it (its task was known). */
  checked?: Promise<void>;
}

/** Shortest life of a tick's idempotency key: covers clock skew between instances and late fires. */
const MIN_KEY_TTL_MS = 60_000;
/** Longest wait at stop for ticks still being enqueued. */
const STOP_WAIT_MS = 2_000;
/**
 * A published schedule whose next run is this long past was fired by no instance meanwhile: its
 * code is gone (removed, renamed), and the next timer to start drops it from GlobalConfig; an
 * instance whose own definition of it differs publishes that one in its place.
 */
const ABANDONED_AFTER_MS = 60_000;
/** Pause between tries of a tick whose enqueue found Redis unreachable. */
const TICK_RETRY_MS = 1_000;
/**
 * Longest silence about a schedule whose ticks still find Redis unreachable: an outage of hours
 * says it goes on a few times an hour, where a line per tick would bury everything else.
 */
const REMIND_EVERY_MS = 5 * 60_000;

/**
 * The timer (the original's `AsyncTimer`): enqueues tasks on cron or fixed-interval schedules.
 * Started and stopped by the app's Starter (it adds itself as a hook). Each tick's enqueue carries
 * an idempotency key made of the schedule and the tick's time, taken atomically by the enqueue
 * script, so any number of instances running the same schedule enqueue one task per tick.
 */
export class QTasksTimer implements StartHook {
  readonly registry: CronJobRegistry | undefined;
  readonly enabled: boolean;
  private readonly added = new Map<string, AddedSchedule>();
  private readonly schedules = new Map<string, Schedule>();
  private readonly listeners = new Set<(event: TickEvent) => void>();
  private readonly inFlight = new Set<Promise<void>>();
  private started = false;
  /** Set while a start checks its schedules: an add meanwhile waits for the outcome. */
  private starting: Promise<void> | undefined;
  private stopping = stopSignalController();

  constructor(
    private readonly app: QueueTasks,
    options: TimerOptions = {},
  ) {
    this.registry = options.registry;
    this.enabled = options.enabled ?? true;
    app.starter.addHook(this);
  }

  /** True while this process fires schedules. */
  get running(): boolean {
    return this.started && this.enabled;
  }

  /**
   * Adds a schedule of `taskName` (the original's `timer.add_task("test", trigger=...)`). Before
   * the app starts it is kept until start; after, it runs at once. A bad schedule is refused here;
   * one that cannot be published (Redis down with whenRedisDown 'fail') is not kept, so it can be
   * added again.
   */
  async add(taskName: string, options: ScheduleOptions): Promise<ScheduleDefinition> {
    if (this.starting) await this.starting;
    const where = `timer.add("${taskName}")`;
    const schedule: Schedule = { ...buildSchedule(taskName, options, where), lastTick: 0 };
    const { name } = schedule.definition;
    if (this.added.has(name) || this.schedules.has(name)) throw new DuplicateScheduleError(name);
    // Before start its task may not be registered yet: start checks it then.
    const checked = this.started || this.app.registry.get(taskName) ? this.check(schedule, where) : undefined;
    // Kept before the check ends, so a start the caller did not wait for sees it (and waits for the check).
    this.added.set(name, { schedule, where, checked });
    try {
      await checked;
    } catch (error) {
      this.added.delete(name);
      throw error;
    }
    // A start made while it was checked armed it already.
    if (this.started && !this.schedules.has(name)) {
      this.schedules.set(name, schedule);
      if (this.enabled) {
        try {
          await this.arm(schedule);
        } catch (error) {
          this.forget(schedule);
          throw error;
        }
      }
    }
    return schedule.definition;
  }

  /**
   * Stops a schedule (waiting for an enqueue under way) and removes it from GlobalConfig; false
   * when there is none of that name. A declared schedule comes back at the next start.
   */
  async remove(name: string): Promise<boolean> {
    const schedule = this.schedules.get(name) ?? this.added.get(name)?.schedule;
    if (!schedule) return false;
    this.forget(schedule);
    await Promise.allSettled([...this.inFlight]);
    // A process firing none (timers off) still removes it for the instances that fire it.
    if (this.started) await this.app.globalConfig?.removeSchedule(name);
    return true;
  }

  /** Another instance removed the schedule: it stops here too, as if removed here. */
  private stopRemovedElsewhere(schedule: Schedule): void {
    const { name } = schedule.definition;
    if (this.schedules.get(name) !== schedule) return; // stopped here already
    this.forget(schedule);
    this.app.logger.log(`timer: schedule "${name}" was removed by another instance; stopped here too`);
  }

  /** Stops a schedule here and drops it from this process (a declared one comes back at the next start). */
  private forget(schedule: Schedule): void {
    const { name } = schedule.definition;
    this.disarm(schedule);
    this.reportOutage(schedule, 'stopped');
    // Only this very schedule: a failed add must not drop another one under the same name.
    if (this.schedules.get(name) === schedule) this.schedules.delete(name);
    if (this.added.get(name)?.schedule === schedule) this.added.delete(name);
  }

  /** The schedules of this process (declared ones once the app started), with their run state. */
  async list(): Promise<ScheduleState[]> {
    const all = this.started ? [...this.schedules.values()] : [...this.added.values()].map((entry) => entry.schedule);
    return Promise.all(
      all.map(async ({ definition, trigger }) => {
        const stored = this.started ? await this.app.globalConfig?.schedule(definition.name) : undefined;
        return {
          ...definition,
          lastRun: stored?.lastRun,
          lastTaskUuid: stored?.lastTaskUuid,
          nextRun: new Date(trigger.nextAfter(Date.now())),
        };
      }),
    );
  }

  /** Calls `listener` after each tick this instance handled; returns the unsubscribe. */
  onTick(listener: (event: TickEvent) => void): () => void {
    if (typeof listener !== 'function') throw new InvalidOptionError(`timer.onTick needs a function, got ${shownValue(listener)}.`);
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Checks every schedule (a bad one fails the app's start), then arms them when enabled. */
  async start(): Promise<void> {
    let checkedAll!: () => void;
    this.starting = new Promise((resolve) => (checkedAll = resolve));
    try {
      this.schedules.clear();
      this.stopping = stopSignalController();
      const declared: AddedSchedule[] = this.app.registry
        .definitions()
        .filter(({ options }) => options.cron !== undefined || options.every !== undefined)
        .map(({ name, options, source }) => ({ schedule: { ...buildSchedule(name, options, source), lastTick: 0 }, where: source }));
      for (const { schedule, where, checked } of [...declared, ...this.added.values()]) {
        const { name } = schedule.definition;
        if (this.schedules.has(name)) throw new DuplicateScheduleError(name);
        await (checked ?? this.check(schedule, where));
        this.schedules.set(name, schedule);
      }
      this.started = true;
    } finally {
      this.starting = undefined;
      checkedAll();
    }
    if (!this.enabled) {
      this.app.logger.log(`timer off in this process (${this.schedules.size} schedule(s) known)`);
      return;
    }
    try {
      // A copy: an add waiting for the start inserts and arms its schedule while this loop awaits.
      for (const schedule of [...this.schedules.values()]) await this.arm(schedule);
    } catch (error) {
      // The start fails: no job it armed may go on firing (the Starter stops only started parts).
      await this.stop();
      throw error;
    }
    // Only tidies what the dashboard and the CLI list: no reason to fail the start.
    await this.dropAbandoned().catch((error: unknown) =>
      this.app.logger.warn(`timer: could not remove abandoned schedules from GlobalConfig: ${errorMessage(error)}`),
    );
    this.app.logger.log(`timer started: ${this.schedules.size} schedule(s)`);
  }

  /**
   * Removes from GlobalConfig the schedules no instance fires any more, so the dashboard and the
   * CLI stop listing them. One that another instance fires (added there at run time, or by a newer
   * version) has its next run moved on at every tick, and stays.
   */
  private async dropAbandoned(): Promise<void> {
    const { globalConfig } = this.app;
    if (!globalConfig) return;
    const overdue = Date.now() - ABANDONED_AFTER_MS;
    for (const { name, nextRun } of await globalConfig.schedules()) {
      if (this.schedules.has(name) || nextRun === undefined || nextRun.getTime() > overdue) continue;
      // No removal mark: an instance that does run it (added there at run time, its tick late) goes on.
      await globalConfig.dropSchedule(name);
      this.app.logger.log(`timer: schedule "${name}" removed from GlobalConfig: no instance fired it since ${nextRun.toISOString()}`);
    }
  }

  /** Stops every job, then waits for the enqueues already under way. */
  async stop(): Promise<void> {
    this.started = false;
    this.stopping.abort();
    for (const schedule of this.schedules.values()) this.disarm(schedule);
    // A tick still enqueuing finishes, but a Redis that is gone cannot hold the stop.
    await settleWithin([...this.inFlight], STOP_WAIT_MS);
    for (const schedule of this.schedules.values()) this.reportOutage(schedule, 'stopped');
  }

  /**
   * Refuses a schedule that could never enqueue: an unknown task, or arguments every tick's add
   * would refuse (over maxPayloadBytes, failing their DTO validation), which would only log an
   * error at every tick. Arguments a plugin may rewrite at enqueue are left to the ticks.
   */
  private async check({ definition }: Schedule, where: string): Promise<void> {
    const task = this.app.registry.get(definition.taskName);
    if (!task) {
      const unknown = new UnknownTaskError(definition.taskName, this.app.registry.names());
      throw new InvalidScheduleError(definition.name, where, unknown.message, { cause: unknown });
    }
    if (definition.catchUp && !this.app.globalConfig) {
      throw new InvalidScheduleError(definition.name, where, '`catchUp` needs a GlobalConfig, where the last run is kept.');
    }
    // A plugin that rewrites the arguments at enqueue may make them pass (or fail): the ticks say.
    if (!this.app.argsReachChecksAsGiven) return;
    try {
      storedArgsJson(definition.taskName, definition.args, this.app.config.maxPayloadBytes);
      await validatedAtEnqueue(task, definition.args);
    } catch (error) {
      throw new InvalidScheduleError(definition.name, where, `its arguments would fail every tick: ${errorMessage(error)}`, { cause: error });
    }
  }

  private async arm(schedule: Schedule): Promise<void> {
    if (schedule.armed) return;
    schedule.armed = true;
    const { definition, trigger } = schedule;
    const now = Date.now();
    schedule.lastTick = now;
    await this.app.globalConfig?.publishSchedule(definition, new Date(trigger.nextAfter(now)));
    if (definition.catchUp) await this.catchUp(schedule);
    if (!schedule.armed) return; // disarmed meanwhile (removed, stopped)
    schedule.job = createTickJob(trigger, () => this.fire(schedule));
    this.registry?.addCronJob(this.jobName(definition.name), schedule.job);
    schedule.job.start();
  }

  private disarm(schedule: Schedule): void {
    const jobName = this.jobName(schedule.definition.name);
    // ScheduleModule deletes every registered job at shutdown, possibly before this runs.
    if (this.registry?.doesExist('cron', jobName)) this.registry.deleteCronJob(jobName);
    void schedule.job?.stop();
    schedule.job = undefined;
    schedule.armed = false;
  }

  /** Enqueues one task for the ticks missed since the last recorded run, keyed by the latest of them. */
  private async catchUp(schedule: Schedule): Promise<void> {
    const lastRun = (await this.app.globalConfig!.schedule(schedule.definition.name))?.lastRun;
    if (!lastRun) return;
    // Not a time (written by hand, say): the app still starts, as if the schedule had never run.
    if (Number.isNaN(lastRun.getTime())) {
      this.app.logger.warn(
        `timer: schedule "${schedule.definition.name}" has an unreadable last run in GlobalConfig: taken as none, so no missed tick is caught up`,
      );
      return;
    }
    const missed = schedule.trigger.latestBetween(lastRun.getTime(), Date.now());
    if (missed === null) return;
    schedule.lastTick = missed;
    this.app.logger.log(`timer: schedule "${schedule.definition.name}" catches up on ticks missed since ${lastRun.toISOString()}`);
    await this.track(this.enqueueTick(schedule, missed, true, this.stopping.signal));
  }

  private fire(schedule: Schedule): void {
    const tick = schedule.trigger.latestBetween(schedule.lastTick, Date.now());
    if (tick === null) return;
    schedule.lastTick = tick;
    void this.track(this.enqueueTick(schedule, tick, false, this.stopping.signal));
  }

  /**
   * Enqueues the tick's task once across instances. While Redis is unreachable the tick is tried
   * again, as long as its key would still stop another instance from enqueueing it too: an outage
   * shorter than that loses no tick. Past that, the tick is given up, not enqueued a second time.
   * `run` is the stop signal of the run the tick began in: a tick ends with its run, even when a
   * new run started meanwhile (stop() then start()).
   */
  private async enqueueTick(schedule: Schedule, tick: number, catchUp: boolean, run: AbortSignal): Promise<void> {
    const { definition, trigger } = schedule;
    const uniqueTtlMs = Math.max(MIN_KEY_TTL_MS, 3 * (trigger.nextAfter(tick) - tick));
    const triesEnd = tick + uniqueTtlMs / 2;
    for (;;) {
      try {
        if (!(await this.callsAnswered(schedule, triesEnd, run))) return;
        // Past the tries' end the tick's key may have expired after another instance enqueued the tick.
        if (Date.now() >= triesEnd) {
          this.giveUpLateTick(schedule, tick);
          return;
        }
        const fires = await this.firesHere(schedule);
        const enqueued = fires
          ? await this.app.addOnce(definition.taskName, definition.args, {
              priority: definition.priority,
              uniqueKey: `timer:${definition.name}:${tick}`,
              uniqueTtlMs,
              // Checked again by Redis as the add runs: a call held on its way at a cut (this add, or
              // the check above) answers once Redis is back, however late.
              deadline: triesEnd,
            })
          : undefined;
        // Redis answered: the schedule's outage, if any, is over.
        this.reportOutage(schedule, 'reached');
        if (!enqueued) return;
        const { uuid, added } = enqueued;
        const nextRun = new Date(trigger.nextAfter(Date.now()));
        const recorded = await this.app.globalConfig?.recordScheduleRun(definition.name, new Date(tick), uuid, nextRun);
        this.emitTick({ schedule: definition.name, taskName: definition.taskName, tick: new Date(tick), uuid, added, catchUp });
        if (recorded === 'removed') this.stopRemovedElsewhere(schedule);
        return;
      } catch (error) {
        if (!(await this.tryAgainAfter(error, schedule, tick, triesEnd, run))) return;
      }
    }
  }

  /**
   * Whether a tick whose try threw `error` is tried again, after a pause. A tick that found Redis
   * unreachable is, until its tries end; it is counted in the schedule's outage rather than logged
   * on its own. Any other error ends the tick, logged.
   */
  private async tryAgainAfter(error: unknown, schedule: Schedule, tick: number, triesEnd: number, run: AbortSignal): Promise<boolean> {
    if (!(error instanceof AddTooLateError || error instanceof RedisUnavailableError)) {
      this.logTickError(schedule, tick, error, '');
      return false;
    }
    const lastTry = error instanceof AddTooLateError || Date.now() + TICK_RETRY_MS >= triesEnd;
    // Also on a last try: a tick that starts late (a catch-up) may be the first of the outage.
    if (error instanceof RedisUnavailableError) {
      this.noteUnreachable(schedule, () => this.logTickError(schedule, tick, error, lastTry ? ', too late to try again' : ', trying again every second'));
    }
    if (lastTry) {
      this.giveUpLateTick(schedule, tick);
      return false;
    }
    if (run.aborted) return false;
    await pause(TICK_RETRY_MS, run);
    return true;
  }

  private logTickError(schedule: Schedule, tick: number, error: unknown, next: string): void {
    this.app.logger.error(
      `timer: schedule "${schedule.definition.name}" could not enqueue its tick of ${new Date(tick).toISOString()}${next}: ${errorMessage(error)}`,
      error instanceof Error ? error.stack : undefined,
    );
  }

  /**
   * Whether this instance enqueues the schedule's tick, as GlobalConfig has it. Not when it is
   * marked removed: stopped here before its tick (a remove made after this check lets this one tick
   * through; recording it then finds the mark and stops it). Nor when its published definition
   * differs from this one (another deploy's, published when it started): the published one wins, so
   * two deploys running together never fire the union of both. Unless no instance fired that one
   * for ABANDONED_AFTER_MS past its next run: its deploy is gone, and this definition replaces it.
   */
  private async firesHere(schedule: Schedule): Promise<boolean> {
    const { globalConfig } = this.app;
    if (!globalConfig) return true;
    const { definition, trigger } = schedule;
    const { removed, published } = await globalConfig.scheduleAtTick(definition.name);
    if (removed) {
      // Read from Redis: an outage of this schedule ended here, not with its stop.
      this.reportOutage(schedule, 'reached');
      this.stopRemovedElsewhere(schedule);
      return false;
    }
    // None published (dropped as abandoned by a timer without it): this instance goes on with its own.
    if (!published || sameDefinition(published, definition)) {
      if (schedule.yielded) this.app.logger.log(`timer: schedule "${definition.name}" is published as defined here again: fired here again`);
      schedule.yielded = false;
      return true;
    }
    const { nextRun } = published;
    if (!nextRun || nextRun.getTime() < Date.now() - ABANDONED_AFTER_MS) {
      await globalConfig.publishSchedule(definition, new Date(trigger.nextAfter(Date.now())));
      this.app.logger.log(
        `timer: schedule "${definition.name}": no instance fired its definition in GlobalConfig ${nextRun ? `since ${nextRun.toISOString()}` : 'yet'}; ` +
          'replaced by the one defined here, fired here',
      );
      schedule.yielded = false;
      return true;
    }
    if (!schedule.yielded) {
      this.app.logger.log(
        `timer: schedule "${definition.name}" differs here from its definition in GlobalConfig (published by an instance started since, or a timer.add): ` +
          'its ticks are left to the instances that run the published one',
      );
    }
    schedule.yielded = true;
    return false;
  }

  /**
   * Waits while a call would be held until Redis is back (whenRedisDown 'wait'): the tick would be
   * held with it, however long after its tries end, and a long outage would pile ticks up. It
   * waits here instead, until `triesEnd` at most. False when the tick's run stopped meanwhile.
   */
  private async callsAnswered(schedule: Schedule, triesEnd: number, run: AbortSignal): Promise<boolean> {
    while (!run.aborted && this.app.broker.holdingCalls() && Date.now() < triesEnd) {
      // Silent at first: a short outage only delays the ticks; a long one is reminded of.
      this.noteUnreachable(schedule);
      await pause(Math.min(TICK_RETRY_MS, triesEnd - Date.now()), run);
    }
    return !run.aborted;
  }

  /** Counts a tick given up; reportOutage logs them, one line for a whole outage. */
  private giveUpLateTick(schedule: Schedule, tick: number): void {
    const outage = (schedule.outage ??= { since: Date.now() });
    const { givenUp } = outage;
    outage.givenUp = givenUp
      ? { count: givenUp.count + 1, first: Math.min(givenUp.first, tick), last: Math.max(givenUp.last, tick) }
      : { count: 1, first: tick, last: tick };
  }

  /**
   * A tick of the schedule found Redis unreachable. The first of an outage calls `tellFirst` (when
   * given), the next ones are silent but for a reminder every REMIND_EVERY_MS.
   */
  private noteUnreachable(schedule: Schedule, tellFirst?: () => void): void {
    const now = Date.now();
    const { outage } = schedule;
    if (!outage) {
      schedule.outage = { since: now, toldAt: tellFirst ? now : undefined };
      tellFirst?.();
      return;
    }
    if (now - (outage.toldAt ?? outage.since) < REMIND_EVERY_MS) return;
    outage.toldAt = now;
    const givenUp = outage.givenUp ? `${outage.givenUp.count} tick(s) given up so far` : 'no tick given up yet';
    this.app.logger.error(`timer: schedule "${schedule.definition.name}" still cannot reach Redis, ${lastedSince(outage, now)}: ${givenUp}`);
  }

  /**
   * Ends the schedule's outage, once a tick of it reached Redis again or as it stops: one line
   * with the ticks given up, or that none was when an earlier line told of the outage.
   */
  private reportOutage(schedule: Schedule, end: 'reached' | 'stopped'): void {
    const { outage } = schedule;
    if (!outage) return;
    schedule.outage = undefined;
    const { name } = schedule.definition;
    const lasted = lastedSince(outage, Date.now());
    const { givenUp } = outage;
    if (givenUp) {
      const [first, last] = [givenUp.first, givenUp.last].map((tick) => new Date(tick).toISOString());
      const ticks = givenUp.count === 1 ? `its tick of ${first}` : `${givenUp.count} ticks, from ${first} to ${last}`;
      this.app.logger.error(
        `timer: schedule "${name}" gave up ${ticks}: Redis could not be reached before the end of their tries, too late to enqueue them only once ` +
          `(unreachable ${lasted}; ${end === 'reached' ? 'reached again' : 'not reached again before the schedule stopped'})`,
      );
    } else if (outage.toldAt !== undefined) {
      const how = end === 'reached' ? 'reaches Redis again' : 'stopped before reaching Redis again';
      this.app.logger.log(`timer: schedule "${name}" ${how}, unreachable ${lasted}: no tick given up`);
    }
  }

  /**
   * Tells every listener. One that throws is logged here: the tick's task is enqueued all the same,
   * so it must not be reported as a failed enqueue, nor keep the other listeners from hearing it.
   */
  private emitTick(event: TickEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (error) {
        this.app.logger.error(
          `timer: an onTick listener threw at the tick of ${event.tick.toISOString()} of schedule "${event.schedule}" ` +
            `(its task ${event.uuid} is enqueued all the same): ${errorMessage(error)}`,
          error instanceof Error ? error.stack : undefined,
        );
      }
    }
  }

  private async track(work: Promise<void>): Promise<void> {
    this.inFlight.add(work);
    try {
      await work;
    } finally {
      this.inFlight.delete(work);
    }
  }

  private jobName(schedule: string): string {
    return `qtasks:${this.app.name}:${schedule}`;
  }
}

/**
 * The controller whose signal ends the timer's retry pauses. Each tick still retrying through a
 * Redis outage listens to it, so a 1-second schedule passes Node's 10 listeners in a 12 s outage:
 * no leak (each pause removes its listener), but Node would warn of one.
 */
function stopSignalController(): AbortController {
  const controller = new AbortController();
  setMaxListeners(0, controller.signal);
  return controller;
}

/** How long an outage lasted until `now`, and since when: "for 65 s, since 2024-…Z". */
function lastedSince({ since }: Outage, now: number): string {
  return `for ${Math.round((now - since) / 1000)} s, since ${new Date(since).toISOString()}`;
}
