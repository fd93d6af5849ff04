import { TaskTimeoutError } from '../core/errors.js';
import type { CallHandler, TaskExecutionContext, TaskInterceptor } from '../core/interceptor.js';

/**
 * The `maxTime` option: aborts the task's signal with TaskTimeoutError when the time is up. The
 * executor stops waiting at that moment, so the slot is freed even if the task ignores the signal.
 */
class TimeLimitInterceptor implements TaskInterceptor {
  async intercept(context: TaskExecutionContext, next: CallHandler): Promise<unknown> {
    const maxTime = context.definition.options.maxTime;
    if (!maxTime) return next.handle();
    const timer = setTimeout(() => context.abort(new TaskTimeoutError(context.definition.name, maxTime)), maxTime);
    try {
      return await next.handle();
    } finally {
      clearTimeout(timer);
    }
  }
}

export const timeLimit: TaskInterceptor = new TimeLimitInterceptor();
