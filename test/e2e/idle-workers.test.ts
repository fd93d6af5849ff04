import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { QueueTasks } from '../../lib/index.js';
import { appsOnTestRedis } from '../helpers/plain-app.js';

describe('idle workers and a delayed task', () => {
  const { apps } = appsOnTestRedis();

  it('a worker that stops while only it knows when a delayed task is due wakes another, which runs it on time', async () => {
    const register = (queue: QueueTasks) => queue.task('remind', (what: string) => `reminded of ${what}`);
    const first = await apps.start('idle-handover', register);
    // Redis serves blocked workers in the order they blocked: the first, asleep first, is the one
    // the delayed task's enqueue wakes, and so the only one that learns when it is due.
    await sleep(300);
    const second = await apps.start('idle-handover', register, { name: first.name });
    await sleep(300);
    const enqueuedAt = Date.now();
    const { uuid } = await second.add('remind', ['the meeting'], { delay: 1_500 });
    await sleep(300);
    await first.stop();

    // The second worker sleeps on its 30 s idle block unless woken: it must run the task near its time.
    const record = await second.wait(uuid, { timeout: 8_000 });
    expect(record).toMatchObject({ status: 'success', returning: 'reminded of the meeting', worker: second.worker!.id });
    expect(record.startedAt!.getTime() - enqueuedAt).toBeGreaterThanOrEqual(1_500);
    expect(record.startedAt!.getTime() - enqueuedAt).toBeLessThan(5_000);
  });
});
