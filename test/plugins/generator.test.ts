import { afterAll, describe, expect, inject, it } from 'vitest';
import type { QueueTasks } from '../../lib/index.js';
import { eventually } from '../helpers/eventually.js';
import { plainApps } from '../helpers/plain-app.js';

const apps = plainApps(inject('redisUrl'));
afterAll(() => apps.stopAll());

describe('generator tasks', () => {
  it('each yielded value is stored as progress while it runs; the result is the list of values', async () => {
    let step!: () => void;
    const app = await apps.start('generator', (a: QueueTasks) =>
      a.task('count', async function* (n: number) {
        for (let i = 1; i <= n; i++) {
          yield { done: i, of: n };
          // Wait for the test to read the progress before going on.
          await new Promise<void>((resolve) => (step = resolve));
        }
      }),
    );
    const added = await app.add('count', [3]);
    for (let i = 1; i <= 3; i++) {
      let record = await app.get(added.uuid);
      await eventually(
        `progress ${i} stored`,
        async () => ((record = await app.get(added.uuid))?.progress as { done?: number } | undefined)?.done === i,
        10_000,
      );
      expect(record!.status).toBe('process');
      expect(record!.progress).toEqual({ done: i, of: 3 });
      step();
    }
    const done = await app.wait(added.uuid, { timeout: 10_000 });
    expect(done.returning).toEqual([{ done: 1, of: 3 }, { done: 2, of: 3 }, { done: 3, of: 3 }]);
  });

  it('generateHandler maps each value; the run_task_gen trigger may replace it first; sync generators work too', async () => {
    const app = await apps.start('generator', (a: QueueTasks) => {
      a.task({ name: 'letters', generateHandler: (value, index) => `${index}:${String(value)}` }, function* () {
        yield 'a';
        yield 'b';
      });
    });
    app.addPlugin({ name: 'Upper', handlers: { task_executor_run_task_gen: ({ value }) => ({ value: String(value).toUpperCase() }) } });
    const record = await app.run('letters', [], { timeout: 15_000 });
    expect(record.returning).toEqual(['0:A', '1:B']);
    expect(record.progress).toBe('1:B');
  });
});
