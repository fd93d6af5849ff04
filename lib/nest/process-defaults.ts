import { Module, type DynamicModule, type Type } from '@nestjs/common';
import { QTASKS_PROCESS_DEFAULTS } from './tokens.js';

/** Defaults an entry point sets for its process; QTasksModule options, when given, win. */
export interface ProcessDefaults {
  /** Whether timers fire in this process. */
  timers: boolean;
}

@Module({})
class QTasksProcessDefaultsModule {}

@Module({})
class QTasksProcessModule {}

/**
 * Wraps an app's root module so that QTasksModule, wherever it is imported, sees `defaults`
 * (through a global provider): how an entry point like `QTasksStarter.runForever` marks its
 * process as worker-only without the app's module having to know.
 */
export function withProcessDefaults(module: Type<unknown> | DynamicModule, defaults: ProcessDefaults): DynamicModule {
  return {
    module: QTasksProcessModule,
    imports: [
      {
        module: QTasksProcessDefaultsModule,
        global: true,
        providers: [{ provide: QTASKS_PROCESS_DEFAULTS, useValue: defaults }],
        exports: [QTASKS_PROCESS_DEFAULTS],
      },
      module,
    ],
  };
}
