import type { ModulesContainer } from '@nestjs/core';
import { QTASKS_OPTIONS } from './tokens.js';

/**
 * Runs QTasksModule's lifecycle hooks before every other module's at bootstrap and after them at
 * shutdown, as a global module's are meant to run. Nest orders hooks by module distance and gives
 * every global module the same one (Number.MAX_VALUE), so among global modules the import order
 * decides: one imported before QTasksModule would run its onModuleInit before the tasks are
 * registered (an add there failing with UnknownTaskError), and its onModuleDestroy after the
 * worker stopped. Only an infinite distance sorts above theirs.
 */
export function runHooksOutermost(modules: ModulesContainer): void {
  for (const module of modules.values()) {
    if (module.providers.has(QTASKS_OPTIONS)) module.distance = Number.POSITIVE_INFINITY;
  }
}
