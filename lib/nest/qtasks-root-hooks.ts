import { Injectable, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { QueueTasks } from '../core/queue-tasks.js';
import { QTasksLifecycle } from './qtasks-lifecycle.js';

/**
 * List it in the providers of the app's root module to run tasks only while the app's other
 * modules are up. Nest runs the root module's hooks after every other module's at bootstrap and
 * before them at shutdown, so the worker and the timers start after the other modules'
 * onApplicationBootstrap and stop (running tasks given the grace time) before their
 * onModuleDestroy. Hooks of the root module's own providers are not ordered against it (Nest
 * orders one module's providers by their dependency depth): keep what tasks use in a module of
 * its own. The connections still open first and close last (QTasksLifecycle), so the app can
 * enqueue in its own hooks.
 */
@Injectable()
export class QTasksRootHooks implements OnApplicationBootstrap, OnModuleDestroy {
  constructor(
    private readonly queueTasks: QueueTasks,
    private readonly lifecycle: QTasksLifecycle,
  ) {
    lifecycle.handOverWork();
  }

  async onApplicationBootstrap(): Promise<void> {
    try {
      await this.queueTasks.startWork();
    } catch (error) {
      // A failed bootstrap leaves no handle behind (dashboard, connections), as when the work
      // starts with the components.
      await this.lifecycle.onApplicationShutdown().catch(() => undefined);
      throw error;
    }
  }

  async onModuleDestroy(): Promise<void> {
    await this.queueTasks.stopWork();
  }
}
