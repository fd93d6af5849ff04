import type { Broker } from '../brokers/broker.js';
import type { GlobalConfig } from '../configs/global-config.js';
import type { QTasksConfig } from '../core/config.js';
import type { RateLimits } from '../core/rate-limit.js';
import type { RunningLimits } from '../core/running-limit.js';
import type { TaskExecutor } from '../core/executor.js';
import type { QTasksLogger } from '../core/logger.js';
import type { PluginRunner } from '../plugins/plugin-runner.js';

/** What the app hands a worker before it starts. */
export interface WorkerContext {
  broker: Broker;
  executor: TaskExecutor;
  config: QTasksConfig;
  globalConfig: GlobalConfig | null;
  taskNames: string[];
  /** The tasks' rate limits, by name: the worker's claims keep them. */
  rateLimits: RateLimits;
  /** The tasks' maxRunning, by name: the worker's claims keep them. */
  runningLimits: RunningLimits;
  logger: QTasksLogger;
  plugins: PluginRunner;
}

/** Worker: claims tasks from the broker and runs them. */
export abstract class Worker {
  abstract readonly id: string;
  /** Tasks running right now. */
  abstract readonly running: number;
  /** A broker given to the worker itself (the original's `AsyncWorker(broker=...)`), if any. */
  abstract readonly broker?: Broker;

  abstract attach(context: WorkerContext): void;
  abstract start(): Promise<void>;
  /** Stops claiming, lets running tasks finish within `graceMs`, then gives back the rest. */
  abstract stop(graceMs: number): Promise<void>;
}
