import { Injectable } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QTasksClient, RedisBroker, Task, TaskNotFoundError, type ClaimBatch, type ClaimRequest } from '../../lib/index.js';
import { Gate } from '../helpers/gate.js';
import { BACKENDS } from '../helpers/backends.js';
import { eventually } from '../helpers/eventually.js';
import { uniqueAppName } from '../helpers/names.js';
import { startNestApp } from '../helpers/nest-app.js';

let gate = new Gate();
const ran: string[] = [];

@Injectable()
class OrderedService {
  @Task()
  async hold() {
    await gate.pass();
  }

  @Task()
  note(label: string) {
    ran.push(label);
    return label;
  }
}

describe.each(BACKENDS)('one worker slot on $name', (backend) => {
  let app: Awaited<ReturnType<typeof startNestApp>>;
  let client: QTasksClient;

  beforeAll(async () => {
    app = await startNestApp(
      { name: uniqueAppName('order'), ...backend.connection(), config: { maxTasksProcess: 1 } },
      [OrderedService],
    );
    client = app.get(QTasksClient);
  });
  afterAll(async () => app?.close());

  it('runs a burst of mixed priorities in priority order, FIFO within one priority', async () => {
    gate = new Gate();
    ran.length = 0;
    const holder = await client.add('hold');
    await gate.reached;
    const burst: [string, number][] = [
      ['p5-a', 5], ['p0-a', 0], ['p-3', -3], ['p5-b', 5], ['p0-b', 0], ['p9', 9], ['p0-c', 0], ['p1', 1],
    ];
    const added = await Promise.all(burst.map(([label, priority]) => client.add('note', [label], { priority })));
    gate.open();
    await client.wait(holder.uuid, { timeout: 15_000 });
    await Promise.all(added.map((r) => client.wait(r.uuid, { timeout: 15_000 })));
    expect(ran).toEqual(['p-3', 'p0-a', 'p0-b', 'p0-c', 'p1', 'p5-a', 'p5-b', 'p9']);
  });

  it('addBulk queues many tasks in one call, each with its priority', async () => {
    gate = new Gate();
    ran.length = 0;
    const holder = await client.add('hold');
    await gate.reached;
    const records = await client.addBulk([
      { name: 'note', args: ['bulk-late'], priority: 3 },
      { name: 'note', args: ['bulk-early'], priority: 1 },
    ]);
    expect(records.map((r) => [r.status, r.priority])).toEqual([['new', 3], ['new', 1]]);
    gate.open();
    await client.wait(holder.uuid);
    await Promise.all(records.map((r) => client.wait(r.uuid, { timeout: 15_000 })));
    expect(ran).toEqual(['bulk-early', 'bulk-late']);
  });

  it('a cancelled queued task never runs and ends cancel with its reason', async () => {
    gate = new Gate();
    ran.length = 0;
    const holder = await client.add('hold');
    await gate.reached;
    const doomed = await client.add('note', ['doomed']);
    const kept = await client.add('note', ['kept']);
    // Usually still queued, so it ends at once; a worker claiming ahead may hold it for a moment
    // (status process) before it gives it back, which then ends it.
    const cancelled = await client.cancel(doomed.uuid, 'not needed');
    expect(cancelled.cancelReason).toBe('not needed');
    gate.open();
    await client.wait(holder.uuid);
    expect((await client.wait(kept.uuid, { timeout: 15_000 })).status).toBe('success');
    expect(await client.wait(doomed.uuid, { timeout: 15_000 })).toMatchObject({ status: 'cancel', cancelReason: 'not needed' });
    expect(ran).toEqual(['kept']);
  });

  it('cancel of a finished task leaves it as it was; of an unknown uuid, a typed error', async () => {
    const done = await client.run('note', ['finished'], { timeout: 15_000 });
    expect((await client.cancel(done.uuid)).status).toBe('success');
    await expect(client.cancel('00000000-0000-0000-0000-000000000000')).rejects.toThrow(TaskNotFoundError);
  });

  it('a delayed task does not run before its delay', async () => {
    const start = Date.now();
    const record = await client.add('note', ['later'], { delay: 300 });
    expect(record.runAt!.getTime()).toBe(record.createdAt.getTime() + 300);
    const done = await client.wait(record.uuid, { timeout: 10_000 });
    expect(done.status).toBe('success');
    expect(done.startedAt!.getTime()).toBeGreaterThanOrEqual(record.runAt!.getTime());
    expect(done.startedAt!.getTime() - start).toBeGreaterThanOrEqual(290);
  });
});

/** A RedisBroker that tells whether its worker sleeps in a wait for work (BLPOP on the wake-up marker). */
class IdleWatchingBroker extends RedisBroker {
  idleWaits = 0;

  override async claimAfterWait(timeoutMs: number, signal: AbortSignal, request: ClaimRequest): Promise<ClaimBatch | null> {
    this.idleWaits++;
    try {
      return await super.claimAfterWait(timeoutMs, signal, request);
    } finally {
      this.idleWaits--;
    }
  }
}

describe.each(BACKENDS)('an idle worker on $name', (backend) => {
  it('wakes for a delayed task enqueued while it sleeps, and runs it when due', async () => {
    const name = uniqueAppName('idle-delay');
    const broker = new IdleWatchingBroker({ name, ...backend.connection() });
    const app = await startNestApp({ name, broker }, [OrderedService]);
    try {
      const client = app.get(QTasksClient);
      // The worker found the queue empty and sleeps until woken (it would sleep 30 s unwoken).
      await eventually('the worker sleeps waiting for work', async () => broker.idleWaits > 0, 10_000);
      const record = await client.add('note', ['delayed-while-idle'], { delay: 200 });
      const done = await client.wait(record.uuid, { timeout: 10_000 });
      expect(done.status).toBe('success');
      expect(done.startedAt!.getTime()).toBeGreaterThanOrEqual(record.runAt!.getTime());
    } finally {
      await app.close();
    }
  });
});
