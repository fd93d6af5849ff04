import { Injectable, Logger } from '@nestjs/common';
import type { CallHandler, TaskExecutionContext, TaskInterceptor } from '../../lib/index.js';

/** Around every task (a module option): logs how long each took, errors included. */
@Injectable()
export class TimingInterceptor implements TaskInterceptor {
  private readonly logger = new Logger('TaskTiming');

  async intercept(context: TaskExecutionContext, next: CallHandler): Promise<unknown> {
    const started = performance.now();
    try {
      return await next.handle();
    } finally {
      this.logger.log(`${context.getHandler()} took ${(performance.now() - started).toFixed(1)} ms`);
    }
  }
}
