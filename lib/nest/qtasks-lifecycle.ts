import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown, type OnModuleDestroy } from '@nestjs/common';
import { QueueTasks } from '../core/queue-tasks.js';
import { WebView } from '../webview/web-view.js';

/**
 * Binds the Starter to Nest's lifecycle: tasks are registered at module init (TaskExplorer), the
 * components start at application bootstrap. Nest runs a global module's hooks first at bootstrap
 * and last at shutdown, so the worker may run tasks before the app's own onApplicationBootstrap
 * hooks and until after their onModuleDestroy: what tasks use is ready in onModuleInit and released
 * in beforeApplicationShutdown or onApplicationShutdown. Shutdown takes two phases. The work ends
 * in the first (onModuleDestroy: timers stop, running tasks finish within the grace time), so
 * providers that release their resources in the later phases still have them while tasks finish.
 * The connections close in the last phase, so code running until then can still enqueue.
 * The dashboard (WebView, when configured) serves from start-up until that last phase.
 */
@Injectable()
export class QTasksLifecycle implements OnApplicationBootstrap, OnModuleDestroy, OnApplicationShutdown {
  constructor(
    private readonly queueTasks: QueueTasks,
    @Inject(WebView) private readonly webView: WebView | null,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.queueTasks.start();
    await this.webView?.start();
  }

  async onModuleDestroy(): Promise<void> {
    await this.queueTasks.stopWork();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.webView?.stop();
    await this.queueTasks.stop();
  }
}
