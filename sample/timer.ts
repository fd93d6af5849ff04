import 'reflect-metadata';
import { Injectable, Logger, Module, type OnModuleInit } from '@nestjs/common';
import { QTasksModule, QTasksStarter, QTasksTimer, Task } from '../lib/index.js';

// A process that fires schedules and runs their tasks (the original's `timer.run_forever()`).
// Start it several times: each tick still enqueues one task. Stop with Ctrl-C.
const logger = new Logger('TimerSample');

@Injectable()
class ReportService implements OnModuleInit {
  constructor(private readonly timer: QTasksTimer) {}

  /** Declared: every 10 seconds, with these arguments. */
  @Task({ name: 'report', cron: '*/10 * * * * *', args: ['every 10 s'] })
  report(kind: string) {
    logger.log(`report (${kind}) runs in process ${process.pid}`);
    return kind;
  }

  /** Programmatic: the same task on a second schedule (the original's `timer.add_task`). */
  async onModuleInit() {
    await this.timer.add('report', { name: 'report-fast', every: 3000, args: ['every 3 s'] });
    this.timer.onTick((event) => {
      const who = event.added ? 'enqueued here' : 'already enqueued by another instance';
      logger.log(`tick ${event.tick.toISOString()} of "${event.schedule}": ${event.uuid} ${who}`);
    });
  }
}

@Module({
  imports: [QTasksModule.forRoot({ name: 'QueueTasksTimerSample', url: process.env.QTASKS_URL ?? 'redis://127.0.0.1:6379' })],
  providers: [ReportService],
})
class TimerSampleModule {}

// runForever is the worker-only entry, where timers are off unless asked for.
await QTasksStarter.runForever(TimerSampleModule, { timers: true });
