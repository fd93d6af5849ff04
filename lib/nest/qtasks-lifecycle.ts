import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown, type OnModuleDestroy } from '@nestjs/common';
import { QueueTasks } from '../core/queue-tasks.js';
import { WebView } from '../webview/web-view.js';

/**
 * Binds the Starter to Nest's lifecycle: tasks are registered at module init (TaskExplorer), the
 * components start at application bootstrap. Nest runs a global module's hooks first at bootstrap
 * and last at shutdown (QTasksModule's before and after other global modules', see
 * hook-order.ts), so by default the worker may run tasks before the app's own
 * onApplicationBootstrap hooks and until after their onModuleDestroy. With QTasksRootHooks in the
 * app's root module, the work starts after every other bootstrap hook and ends before every other
 * destroy hook instead (see there). Shutdown takes two phases. The work ends in the first
 * (onModuleDestroy: timers stop, running tasks finish within the grace time); the connections
 * close in the last phase, so code running until then can still enqueue. The dashboard (WebView,
 * when configured) serves from start-up until that last phase.
 */
@Injectable()
export class QTasksLifecycle implements OnApplicationBootstrap, OnModuleDestroy, OnApplicationShutdown {
  /** Set when QTasksRootHooks starts and ends the work instead. */
  private workHandedOver = false;

  constructor(
    private readonly queueTasks: QueueTasks,
    @Inject(WebView) private readonly webView: WebView | null,
  ) {}

  /** Leaves starting and ending the work to the caller (QTasksRootHooks); called before any hook. */
  handOverWork(): void {
    this.workHandedOver = true;
  }

  async onApplicationBootstrap(): Promise<void> {
    try {
      // The dashboard first: one that cannot listen (its port taken) fails the bootstrap before
      // the worker has claimed any task.
      await this.webView?.start();
      await this.queueTasks.start({ work: !this.workHandedOver });
    } catch (error) {
      // A failed bootstrap leaves no handle behind: no dashboard, no connection (not even one
      // opened by an add in an onModuleInit hook).
      await this.onApplicationShutdown().catch(() => undefined);
      throw error;
    }
  }

  async onModuleDestroy(): Promise<void> {
    if (!this.workHandedOver) await this.queueTasks.stopWork();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.webView?.stop();
    await this.queueTasks.stop();
  }
}
