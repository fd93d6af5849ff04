import type { Broker } from '../brokers/broker.js';
import type { GlobalConfig } from '../configs/global-config.js';
import type { QTasksConfig } from '../core/config.js';
import type { QTasksLogger } from '../core/logger.js';
import { AppStoppedError } from '../core/errors.js';
import { traceback } from '../core/executor.js';
import type { TaskRegistry } from '../core/task-registry.js';
import type { PluginRunner } from '../plugins/plugin-runner.js';
import type { Storage } from '../storages/storage.js';
import type { Worker } from '../workers/worker.js';

/** The components a Starter brings up and down. */
export interface StartableApp {
  readonly name: string;
  readonly config: QTasksConfig;
  readonly registry: TaskRegistry;
  readonly broker: Broker;
  readonly storage: Storage;
  readonly globalConfig: GlobalConfig | null;
  readonly worker: Worker | null;
  readonly logger: QTasksLogger;
  readonly plugins: PluginRunner;
}

/** A part that starts after the core components and stops before them (timers, for one). */
export interface StartHook {
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starter: starts the components in dependency order (global config, storage, broker, worker,
 * then hooks) and stops them the other way round, giving running tasks the grace time. The stop
 * has two steps, so a host can end the work early and close the connections late: `stopWork`
 * (hooks, then the worker) and `stop` (whatever `stopWork` has not done, then the connections).
 */
export class Starter {
  private readonly hooks: StartHook[] = [];
  private started = false;
  private starting?: Promise<void>;
  private working = false;
  /** The end of the work under way, if any: a stopWork or stop called meanwhile waits for it (see stopWork). */
  private endingWork?: Promise<void>;
  /** The start triggers wait for the work when it starts later (see `start`). */
  private startFired = false;
  /** Counts the stops: a start that sees it change was stopped while under way (see `startOnce`). */
  private stops = 0;
  /**
   * Whether the current start started the GlobalConfig and no stop has stopped it since: one shared
   * by several apps counts starts and stops, so each start's is stopped once only, though both a
   * stop() during the start and the start itself then close.
   */
  private globalConfigStarted = false;

  /** Whether the work (worker, hooks) has been started and not stopped since. */
  get workStarted(): boolean {
    return this.working;
  }

  /** Adds a part started last and stopped first. */
  addHook(hook: StartHook): void {
    this.hooks.push(hook);
  }

  /**
   * Starts the components, then the work (the worker and the hooks) unless `work` is false: a host
   * may start the work later with `startWork` (Nest: after the app's own bootstrap hooks).
   */
  start(app: StartableApp, { work = true }: { work?: boolean } = {}): Promise<void> {
    // A start under way: this call ends as that one does, not at once while the app is not up yet
    // (nor when that start fails). Once it ended, a start after a failed one tries again.
    this.starting ??= this.startOnce(app, work).finally(() => (this.starting = undefined));
    return this.starting;
  }

  private async startOnce(app: StartableApp, work: boolean): Promise<void> {
    if (this.started) return;
    this.started = true;
    const stops = this.stops;
    const steps = [
      () => this.startGlobalConfig(app),
      () => app.storage.start(),
      () => app.broker.start(),
      () => app.globalConfig?.publishCatalog(app.registry.catalog()),
      () => (work ? this.startWork(app) : undefined),
    ];
    try {
      for (const step of steps) {
        await step();
        // A stop() meanwhile closed what the start had opened: going on would open more.
        this.refuseIfStoppedSince(app, stops);
      }
    } catch (error) {
      const interrupted = this.stops !== stops;
      // Close whatever did open, so a failed bootstrap leaves no handle behind (after a stop() too:
      // a step under way then may have opened something since).
      this.started = false;
      await this.closeAll(app).catch(() => undefined);
      throw interrupted ? stoppedWhileStarting(app) : error;
    }
    app.logger.log(
      `app "${app.name}" started: ${app.registry.names().length} task(s), worker ${app.worker ? app.worker.id : 'off'}`,
    );
  }

  /** Starts the work: the worker claims, the hooks (timers) run; then the start triggers fire. */
  async startWork(app: StartableApp): Promise<void> {
    if (!this.started || this.working) return;
    this.working = true;
    const stops = this.stops;
    const startedHooks: StartHook[] = [];
    try {
      await app.worker?.start();
      this.refuseIfStoppedSince(app, stops);
      for (const hook of this.hooks) {
        await hook.start();
        startedHooks.push(hook);
        this.refuseIfStoppedSince(app, stops);
      }
      if (!this.startFired) {
        this.startFired = true;
        await this.fire(app, 'start');
      }
    } catch (error) {
      // Undo what did start: a failed start leaves no work running, and may be tried again.
      this.working = this.startFired = false;
      for (const hook of startedHooks.reverse()) await hook.stop().catch(() => undefined);
      await app.worker?.stop(0).catch(() => undefined);
      throw this.stops === stops ? error : stoppedWhileStarting(app);
    }
  }

  private startGlobalConfig(app: StartableApp): Promise<void> | undefined {
    // Marked before it resolves: a stop() meanwhile stops it, the start's own close then does not.
    this.globalConfigStarted = true;
    return app.globalConfig?.start();
  }

  private async stopGlobalConfig(app: StartableApp): Promise<void> {
    if (!this.globalConfigStarted) return;
    this.globalConfigStarted = false;
    await app.globalConfig?.stop();
  }

  private refuseIfStoppedSince(app: StartableApp, stops: number): void {
    if (this.stops !== stops) throw stoppedWhileStarting(app);
  }

  /**
   * Ends the work: no more timer ticks or claims, running tasks finish within the grace time.
   * The connections stay open, so the app can still enqueue, read and wait.
   */
  stopWork(app: StartableApp): Promise<void> {
    // A call made while the work is ending (a second app.close() racing the first on Nest 11)
    // ends with it: a stop going on at once would close the connections under tasks finishing
    // within their grace, and lose their results.
    if (this.working) {
      this.working = false;
      this.endingWork = this.endWork(app).finally(() => (this.endingWork = undefined));
    }
    return this.endingWork ?? Promise.resolve();
  }

  private async endWork(app: StartableApp): Promise<void> {
    for (const hook of [...this.hooks].reverse()) await hook.stop();
    await app.worker?.stop(app.config.shutdownGraceMs);
  }

  async stop(app: StartableApp): Promise<void> {
    if (!this.started) return;
    this.started = false;
    this.stops++;
    await this.closeAll(app);
    // A start this stop interrupted ends (AppStoppedError) before this returns: a start() made
    // next is a new one, not that one.
    await this.starting?.catch(() => undefined);
  }

  /**
   * Stops the work and the components (runs twice when stop() is called during start(): the
   * GlobalConfig's stop only the first time); the stop triggers if the start's fired.
   */
  private async closeAll(app: StartableApp): Promise<void> {
    // Stop triggers answer start triggers: none when the work never started.
    const fired = this.startFired;
    this.startFired = false;
    await this.stopWork(app);
    await app.broker.stop();
    await app.storage.stop();
    await this.stopGlobalConfig(app);
    if (fired) await this.fire(app, 'stop').catch((error: unknown) => app.logger.error(traceback(error)));
  }

  /** The components' start (or stop) triggers, in start order, then the starter's own. */
  private async fire(app: StartableApp, phase: 'start' | 'stop'): Promise<void> {
    const { plugins, name: appName } = app;
    if (app.globalConfig) await plugins.trigger(`global_config_${phase}`, { appName });
    await plugins.trigger(`storage_${phase}`, { appName });
    await plugins.trigger(`broker_${phase}`, { appName });
    if (app.worker) await plugins.trigger(`worker_${phase}`, { workerId: app.worker.id });
    await plugins.trigger(`starter_${phase}`, { appName });
  }
}

/** How a start ends when stop() was called while it was under way (a start's own failure would only name what the stop closed). */
function stoppedWhileStarting(app: StartableApp): AppStoppedError {
  return new AppStoppedError(app.name, 'by a stop() called while its start() was under way: the start gave up, and what it had opened is closed');
}
