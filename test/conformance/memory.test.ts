import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MemoryBroker } from '../../lib/index.js';
import { describeBackendConformance } from './backend.conformance.js';

describeBackendConformance('memory', {
  async broker() {
    const broker = new MemoryBroker();
    await broker.start();
    return broker;
  },
  appOptions: () => ({ backend: 'memory' }),
});

describe('the memory broker alone', () => {
  it('claims with 200,000 delayed tasks stored (more than one call takes arguments)', async () => {
    const broker = new MemoryBroker();
    const now = Date.now();
    const tasks = Array.from({ length: 200_000 }, () => ({ uuid: randomUUID(), taskName: 'later', priority: 0, argsJson: '[]', createdAt: now, delayMs: 60_000 }));
    await broker.enqueue(tasks);
    const batch = await broker.claim({ workerId: 'w1', max: 10, leaseMs: 10_000, retention: { deleteFinishedTasks: false, resultTtlMs: 0, keepFinishedTasks: 0 } });
    expect(batch.tasks).toEqual([]);
    expect(batch.nextDueInMs).toBeGreaterThan(50_000);
    await broker.stop();
  });
});
