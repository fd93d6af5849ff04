import { Injectable, Logger, Module, type DynamicModule, type OnApplicationShutdown } from '@nestjs/common';
import { QueueTasks, type QTasksModuleOptions } from '../lib/index.js';
import { isRedisInstalled, startRedisServer, type RedisServerHandle } from '../lib/testing/index.js';

/** Where the sample keeps its tasks: a configured Redis, a private redis-server, or memory. */
export interface EmbeddedBackend {
  kind: 'configured' | 'private-redis' | 'memory';
  /** What to pass to QTasksModule. */
  options: Pick<QTasksModuleOptions, 'url' | 'backend'>;
  /** Stops the private redis-server, if one was started. */
  stop(): Promise<void>;
}

export interface ChooseBackendOptions {
  env?: Record<string, string | undefined>;
  /** The redis-server binary to look for on PATH. */
  redisBinary?: string;
  logger?: Pick<Logger, 'log'>;
}

/**
 * The sample's default when no Redis is configured: QTASKS_URL if set; else a private
 * redis-server child on a free port when the binary is on PATH; else the memory backend.
 * Logs which one it chose.
 */
export async function chooseBackend(options: ChooseBackendOptions = {}): Promise<EmbeddedBackend> {
  const { env = process.env, redisBinary = 'redis-server', logger = new Logger('Sample') } = options;
  const url = env.QTASKS_URL;
  if (url) {
    logger.log(`tasks in Redis at ${url} (QTASKS_URL)`);
    return { kind: 'configured', options: { url }, stop: async () => undefined };
  }
  if (isRedisInstalled(redisBinary)) {
    const server: RedisServerHandle = await startRedisServer({ binary: redisBinary });
    logger.log(`QTASKS_URL is not set: started a private ${redisBinary} at ${server.url}; it stops when the app closes`);
    return { kind: 'private-redis', options: { url: server.url }, stop: () => server.destroy() };
  }
  logger.log(`QTASKS_URL is not set and ${redisBinary} is not on PATH: tasks are kept in this process's memory`);
  return { kind: 'memory', options: { backend: 'memory' }, stop: async () => undefined };
}

/** Stops the embedded backend at shutdown, once the tasks are stopped. */
@Injectable()
class EmbeddedBackendCloser implements OnApplicationShutdown {
  constructor(
    private readonly backend: EmbeddedBackend,
    private readonly queueTasks: QueueTasks,
  ) {}

  async onApplicationShutdown(): Promise<void> {
    // Nest shuts the global tasks module down after this one, but the worker needs the server
    // while it hands back unfinished work: stop it first (its own shutdown then has nothing to do).
    await this.queueTasks.stop();
    await this.backend.stop();
  }
}

/** Wraps the app's root module so that closing the app also stops the embedded backend. */
@Module({})
export class EmbeddedBackendHost {
  static wrap(app: DynamicModule, backend: EmbeddedBackend): DynamicModule {
    return {
      module: EmbeddedBackendHost,
      imports: [app],
      providers: [
        {
          provide: EmbeddedBackendCloser,
          inject: [QueueTasks],
          useFactory: (queueTasks: QueueTasks) => new EmbeddedBackendCloser(backend, queueTasks),
        },
      ],
    };
  }
}
