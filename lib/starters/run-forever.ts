import type { DynamicModule, INestApplicationContext, Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { withProcessDefaults } from '../nest/process-defaults.js';

export interface RunForeverOptions {
  /** Signals that stop the process; default SIGINT and SIGTERM. */
  signals?: NodeJS.Signals[];
  /**
   * Fire timer schedules here too. Default false: a worker-only process leaves schedules to the
   * other processes (QTasksModule's own `timers` option, when set, wins over this).
   */
  timers?: boolean;
}

/**
 * The worker-only entry point (the original's `app.run_forever(starter=starter)`): a Nest
 * application context with no HTTP server, running until a signal, then closed cleanly.
 */
export class QTasksStarter {
  static async runForever(module: Type<unknown> | DynamicModule, options: RunForeverOptions = {}): Promise<INestApplicationContext> {
    const app = await NestFactory.createApplicationContext(withProcessDefaults(module, { timers: options.timers ?? false }));
    const signals = options.signals ?? ['SIGINT', 'SIGTERM'];
    const onSignal = () => {
      for (const signal of signals) process.off(signal, onSignal);
      // Closing runs the Starter's stop: no new claims, running tasks finish, connections close,
      // so the event loop empties and the process exits by itself with code 0.
      void app.close().then(
        () => void setTimeout(() => exitWithOpenHandles(), 5_000).unref(),
        (error: unknown) => {
          console.error(error);
          process.exit(1);
        },
      );
    };
    for (const signal of signals) process.on(signal, onSignal);
    return app;
  }
}

/** Only runs when something still holds the event loop 5 s after close: name it, and fail. */
function exitWithOpenHandles(): void {
  console.error(`qtasks: the process did not exit after shutdown; open: ${process.getActiveResourcesInfo().join(', ')}`);
  process.exit(70);
}
