import { Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { QueueTasks } from '../core/queue-tasks.js';

/**
 * Binds the Starter to Nest's lifecycle: tasks are registered at module init (TaskExplorer), the
 * components start once the whole app is up, and stop (with the grace time) on shutdown.
 */
@Injectable()
export class QTasksLifecycle implements OnApplicationBootstrap, OnApplicationShutdown {
  constructor(private readonly queueTasks: QueueTasks) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.queueTasks.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.queueTasks.stop();
  }
}
