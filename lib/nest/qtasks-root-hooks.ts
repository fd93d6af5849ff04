import { Injectable, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { QueueTasks } from '../core/queue-tasks.js';
import { QTasksLifecycle } from './qtasks-lifecycle.js';

/**
 * List it in the providers of the app's root module to run tasks only while the whole app is up.
 * Nest runs the root module's hooks last at bootstrap and first at shutdown, so the worker and the
 * timers start after every other module's onApplicationBootstrap and stop (running tasks given
 * the grace time) before every other module's onModuleDestroy. The connections still open first
 * and close last (QTasksLifecycle), so the app can enqueue in its own hooks.
 */
@Injectable()
export class QTasksRootHooks implements OnApplicationBootstrap, OnModuleDestroy {
  constructor(
    private readonly queueTasks: QueueTasks,
    lifecycle: QTasksLifecycle,
  ) {
    lifecycle.handOverWork();
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.queueTasks.startWork();
  }

  async onModuleDestroy(): Promise<void> {
    await this.queueTasks.stopWork();
  }
}
