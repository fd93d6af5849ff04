import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { RedisBroker, type ClaimBatch, type ClaimRequest, type QueueTasks } from '../../lib/index.js';
import { uniqueAppName } from '../helpers/names.js';
import { appsOnTestRedis } from '../helpers/plain-app.js';

/**
 * A RedisBroker whose wait, once its claim learns when a task is due, answers only as its worker
 * stops: the claim's answer then meets the stop, as when work arrives just as a worker stops.
 */
class AnswerAtStopBroker extends RedisBroker {
  private learnedDue!: () => void;
  readonly learned = new Promise<void>((resolve) => (this.learnedDue = resolve));

  override async claimAfterWait(timeoutMs: number, signal: AbortSignal, request: ClaimRequest): Promise<ClaimBatch | null> {
    const batch = await super.claimAfterWait(timeoutMs, signal, request);
    if (batch?.nextDueInMs != null && !signal.aborted) {
      this.learnedDue();
      await once(signal, 'abort');
    }
    return batch;
  }
}

describe('idle workers and a delayed task', () => {
  const { url, apps } = appsOnTestRedis();

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

  it('a worker that stops as the claim that learned when a delayed task is due answers still wakes another, which runs it on time', async () => {
    const register = (queue: QueueTasks) => queue.task('remind', (what: string) => `reminded of ${what}`);
    const name = uniqueAppName('idle-handover-at-stop');
    const broker = new AnswerAtStopBroker({ name, url });
    const first = await apps.start('idle-handover-at-stop', register, { name, broker });
    // Asleep first, so the one the enqueue wakes (see above).
    await sleep(300);
    // Its recovery sweep (every leaseMs / 2) would wake it for a due task, but only after 30 s.
    const second = await apps.start('idle-handover-at-stop', register, { name, config: { leaseMs: 60_000 } });
    await sleep(300);
    const enqueuedAt = Date.now();
    const { uuid } = await second.add('remind', ['the call'], { delay: 1_500 });
    await broker.learned;
    await first.stop();

    const record = await second.wait(uuid, { timeout: 8_000 });
    expect(record).toMatchObject({ status: 'success', worker: second.worker!.id });
    expect(record.startedAt!.getTime() - enqueuedAt).toBeLessThan(5_000);
  });
});
