import { Injectable, Logger } from '@nestjs/common';
import { OnTrigger, QTasksPlugin, type TriggerEvent } from '../../lib/index.js';

/** Counts outcomes per task: a plugin with a trigger, as injectable as any provider. */
@Injectable()
export class OutcomeCounter {
  private readonly counts = new Map<string, number>();

  count(key: string): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }

  snapshot(): Record<string, number> {
    return Object.fromEntries(this.counts);
  }
}

@QTasksPlugin()
export class AuditPlugin {
  private readonly logger = new Logger(AuditPlugin.name);

  constructor(private readonly counter: OutcomeCounter) {}

  /** Informs only: it returns nothing, so nothing changes. */
  @OnTrigger('worker_execute_after')
  audit({ record, outcome }: TriggerEvent<'worker_execute_after'>): void {
    this.counter.count(`${record.taskName}:${outcome.status}`);
    this.logger.log(`${record.taskName} ${record.uuid} -> ${outcome.status}`);
  }
}
