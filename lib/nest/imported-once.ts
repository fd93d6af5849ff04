import type { ModulesContainer } from '@nestjs/core';
import { InvalidOptionError } from '../core/errors.js';
import { QTASKS_OPTIONS } from './tokens.js';

/**
 * Refuses a second QTasksModule.forRoot/forRootAsync in one Nest app. Each import is a module of
 * its own, which would build a queue with its own worker and timers, registering and running
 * every task of the app, while injections get one queue or the other by import order. Read from
 * this app's container, as several apps may run in one process.
 */
export function assertImportedOnce(modules: ModulesContainer): void {
  const imports = [...modules.values()].filter((module) => module.providers.has(QTASKS_OPTIONS)).length;
  if (imports < 2) return;
  throw new InvalidOptionError(
    `QTasksModule.forRoot or forRootAsync is imported ${imports} times in this app (QTasksTestingModule.forRoot counts as one), ` +
      'each import running a queue of its own: import it once, in the root module (it is global, so every module can inject its providers).',
  );
}
