import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { createTickJob } from '../../lib/timers/tick-job.js';
import type { Trigger } from '../../lib/timers/trigger.js';

const EVERY_MS = 20;
const trigger: Trigger = { nextAfter: (time) => time + EVERY_MS, latestBetween: () => null };

describe("a schedule's tick job", () => {
  it('reads a timeout of 0 once its date has passed, where cron throws "Date in past" (its timer callback reads it, and the throw escaped uncaught)', async () => {
    const job = createTickJob(trigger, () => undefined);
    await sleep(3 * EVERY_MS);
    expect(job.cronTime.getTimeout()).toBe(0);
  });

  it('fires again and again, re-armed for the next date at each tick', async () => {
    let fired = 0;
    const job = createTickJob(trigger, () => void fired++);
    job.start();
    try {
      await sleep(20 * EVERY_MS);
    } finally {
      await job.stop();
    }
    expect(fired).toBeGreaterThanOrEqual(5);
  });
});
