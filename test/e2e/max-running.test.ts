import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { QueueInspector, type QueueTasks } from '../../lib/index.js';
import { Gate } from '../helpers/gate.js';
import { appsOnTestRedis } from '../helpers/plain-app.js';
import { qtasks } from '../helpers/qtasks-cli.js';

describe('maxRunning across workers', () => {
  const { url, apps } = appsOnTestRedis();

  it('two workers with free slots never run more of the task at once than its maxRunning, and run them all in order', async () => {
    let running = 0;
    let mostAtOnce = 0;
    const register = (queue: QueueTasks) =>
      queue.task({ name: 'export', maxRunning: 2 }, async (n: number) => {
        mostAtOnce = Math.max(mostAtOnce, ++running);
        await sleep(100);
        running--;
        return n;
      });
    const first = await apps.start('max-running', register, { config: { maxTasksProcess: 3 } });
    await apps.start('max-running', register, { name: first.name, config: { maxTasksProcess: 3 } });
    const added = await first.addBulk(Array.from({ length: 8 }, (_, n) => ({ name: 'export', args: [n] })));
    const records = await Promise.all(added.map(({ uuid }) => first.wait(uuid, { timeout: 15_000 })));
    expect(records.map((record) => [record.status, record.returning])).toEqual(added.map((_, n) => ['success', n]));
    expect(mostAtOnce).toBe(2);
    const starts = records.map((record) => record.startedAt!.getTime());
    expect([...starts].sort((a, b) => a - b)).toEqual(starts);
  });

  it('shows tasks waiting for a running slot in the inspector and the CLI, and starts them as slots free', async () => {
    const gate = new Gate();
    const app = await apps.start('max-running-inspect', (queue) => queue.task({ name: 'export', maxRunning: 1 }, async (n: number) => (await gate.pass(), n)));
    const [first, second, third] = [await app.add('export', [1]), await app.add('export', [2]), await app.add('export', [3])];
    await gate.reached;
    const inspector = new QueueInspector({ name: app.name, url });
    await inspector.start();
    try {
      // The claim that started the first put the other two in the waiting line, waiting for its slot.
      await expect.poll(async () => (await inspector.overview()).waitingLines, { timeout: 10_000 }).toEqual([
        { task: 'export', waiting: 2, paused: false, reopensAt: null, waitsForSlot: true, running: 1 },
      ]);
      const overview = await inspector.overview();
      expect(overview.counts).toMatchObject({ queued: 2, running: 1 });
      expect(overview.catalog).toMatchObject([{ name: 'export', maxRunning: 1 }]);
      expect((await inspector.tasks('queued')).tasks.map(({ uuid }) => uuid)).toEqual([second.uuid, third.uuid]);
      expect((await qtasks('status', '--app', app.name)).out).toContain('waiting: 2 of export for a running slot (1 running, its maxRunning)');

      gate.open();
      const done = await Promise.all([first, second, third].map(({ uuid }) => app.wait(uuid, { timeout: 10_000 })));
      expect(done.map((record) => record.returning)).toEqual([1, 2, 3]);
      // Each started once the one before it ended.
      for (let i = 1; i < done.length; i++) expect(done[i]!.startedAt!.getTime()).toBeGreaterThanOrEqual(done[i - 1]!.finishedAt!.getTime());
      expect((await inspector.overview()).waitingLines).toEqual([]);
    } finally {
      gate.open();
      await inspector.stop();
    }
  });
});
