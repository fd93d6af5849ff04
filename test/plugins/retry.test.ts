import { afterAll, describe, expect, inject, it } from 'vitest';
import { backoffDelay, NonRetryableError, type QueueTasks } from '../../lib/index.js';
import { MAX_DELAY_MS } from '../../lib/core/timing.js';
import { eventually } from '../helpers/eventually.js';
import { plainApps } from '../helpers/plain-app.js';

const apps = plainApps(inject('redisUrl'));
afterAll(() => apps.stopAll());

class TransientError extends Error {}

describe('retry plugin', () => {
  it('runs a failing task again under the same uuid, attempt + 1, keeping every error, until it succeeds', async () => {
    const attempts: number[] = [];
    const app = await apps.start('retry', (a: QueueTasks) =>
      a.task({ name: 'flaky', retry: 3, echo: true }, (ctx: { attempt: number }) => {
        attempts.push(ctx.attempt);
        if (ctx.attempt < 3) throw new TransientError(`attempt ${ctx.attempt} failed`);
        return 'third time lucky';
      }),
    );
    const added = await app.add('flaky');
    const record = await app.wait(added.uuid, { timeout: 10_000 });
    expect(record.uuid).toBe(added.uuid);
    expect(record.status).toBe('success');
    expect(record.returning).toBe('third time lucky');
    expect(record.attempt).toBe(3);
    expect(attempts).toEqual([1, 2, 3]);
    expect(record.errors).toHaveLength(2);
    expect(record.errors![0]).toMatch(/^Error: attempt 1 failed/);
    expect(record.errors![1]).toMatch(/^Error: attempt 2 failed/);
    expect(record.traceback).toBeUndefined();
  });

  it('stops after `retry` extra runs and ends error with the history of every attempt', async () => {
    const app = await apps.start('retry', (a: QueueTasks) =>
      a.task({ name: 'always', retry: 2 }, () => {
        throw new TransientError('still broken');
      }),
    );
    const record = await app.run('always', [], { timeout: 10_000 });
    expect(record.status).toBe('error');
    expect(record.attempt).toBe(3);
    expect(record.errors).toHaveLength(3);
    expect(record.traceback).toMatch(/still broken/);
  });

  it('a NonRetryableError ends the task at once; retryOn limits which errors retry', async () => {
    const app = await apps.start('retry', (a: QueueTasks) => {
      a.task({ name: 'fatal', retry: 5 }, () => {
        throw new NonRetryableError('bad input, do not retry');
      });
      a.task({ name: 'picky', retry: 5, retryOn: [TransientError] }, (kind: string) => {
        throw kind === 'transient' ? new TransientError('transient') : new RangeError('other');
      });
    });
    const fatal = await app.run('fatal', [], { timeout: 15_000 });
    expect(fatal.status).toBe('error');
    expect(fatal.attempt).toBe(1);
    expect(fatal.traceback).toMatch(/^NonRetryableError: bad input, do not retry/);
    const other = await app.run('picky', ['other'], { timeout: 15_000 });
    expect(other.attempt).toBe(1);
    expect(other.status).toBe('error');
    const transient = await app.run('picky', ['transient'], { timeout: 10_000 });
    expect(transient.attempt).toBe(6);
    expect(transient.errors).toHaveLength(6);
  });

  it('honours the backoff delay between attempts (a fixed delay here, and a custom function)', async () => {
    const startedAt: number[] = [];
    const seenByBackoff: number[] = [];
    const app = await apps.start('retry', (a: QueueTasks) => {
      a.task({ name: 'slow-retry', retry: 1, backoff: { type: 'fixed', delay: 300 } }, () => {
        startedAt.push(Date.now());
        throw new TransientError('again');
      });
      a.task(
        {
          name: 'custom-retry',
          retry: 2,
          backoff: (attempt) => {
            seenByBackoff.push(attempt);
            return 10;
          },
        },
        () => {
          throw new TransientError('again');
        },
      );
    });
    const added = await app.add('slow-retry');
    const record = await app.wait(added.uuid, { timeout: 10_000 });
    expect(record.attempt).toBe(2);
    expect(startedAt).toHaveLength(2);
    // Lower bound only: the retry must not run before its delay (Redis TIME and Date.now may differ by a few ms).
    expect(startedAt[1]! - startedAt[0]!).toBeGreaterThanOrEqual(280);
    const custom = await app.run('custom-retry', [], { timeout: 10_000 });
    expect(custom.attempt).toBe(3);
    expect(seenByBackoff).toEqual([1, 2]);
  });

  it('a custom backoff that throws leaves the task error with its own error, the backoff failure added, and no retry', async () => {
    const app = await apps.start('retry', (a: QueueTasks) => {
      const backoff = () => {
        throw new RangeError('backoff exploded');
      };
      a.task({ name: 'throwing-backoff', retry: 2, backoff }, () => {
        throw new TransientError('the task failed');
      });
      a.task({ name: 'nan-backoff', retry: 2, backoff: () => NaN }, () => {
        throw new TransientError('the task failed too');
      });
    });
    const thrown = await app.run('throwing-backoff', [], { timeout: 15_000 });
    expect(thrown).toMatchObject({ status: 'error', attempt: 1 });
    expect(thrown.traceback).toMatch(/^Error: the task failed\n/);
    expect(thrown.traceback).toMatch(/Not retried: deciding the retry failed with PluginError: Plugin "RetryPlugin" failed on trigger "worker_task_error_retry": RangeError: backoff exploded/);
    const nan = await app.run('nan-backoff', [], { timeout: 15_000 });
    expect(nan).toMatchObject({ status: 'error', attempt: 1 });
    expect(nan.traceback).toMatch(/^Error: the task failed too\n/);
    expect(nan.traceback).toMatch(/Not retried: deciding the retry failed with InvalidOptionError: A custom backoff returned NaN/);
  });

  it("a retry delay past 100 years is held at 100 years (exponential) or ends the task error (custom, or a plugin's), instead of storing runAt Invalid Date", async () => {
    const app = await apps.start('retry', (a: QueueTasks) => {
      a.task({ name: 'doubling', retry: 20, backoff: { type: 'exponential', delay: MAX_DELAY_MS, jitter: false } }, () => {
        throw new TransientError('fails every time');
      });
      a.task({ name: 'custom-too-long', retry: 1, backoff: () => 1e16 }, () => {
        throw new TransientError('fails once');
      });
      a.task({ name: 'plugin-too-long', retry: 1 }, () => {
        throw new TransientError('fails once');
      });
    });
    // Retries at once up to the 13th attempt, whose doubled delay (2^12 × 100 years) is past any Date.
    app.addPlugin(
      {
        name: 'FastRetries',
        handlers: {
          worker_task_error_retry: ({ record }) => {
            if (record.taskName === 'doubling' && record.attempt < 13) return { delayMs: 0 };
            if (record.taskName === 'plugin-too-long') return { delayMs: 1e16 };
          },
        },
      },
      { triggers: ['worker_task_error_retry'] },
    );
    const doubling = await app.add('doubling');
    await eventually('the 13th attempt failed', async () => (await app.get(doubling.uuid))!.attempt === 14);
    const delayed = (await app.get(doubling.uuid))!;
    expect(delayed.status).toBe('new');
    expect(delayed.runAt!.getTime() - Date.now()).toBeGreaterThan(MAX_DELAY_MS - 60_000);
    expect(delayed.runAt!.getTime() - Date.now()).toBeLessThanOrEqual(MAX_DELAY_MS);
    await app.cancel(doubling.uuid);
    const custom = await app.run('custom-too-long', [], { timeout: 15_000 });
    expect(custom).toMatchObject({ status: 'error', attempt: 1 });
    expect(custom.traceback).toMatch(/Not retried: deciding the retry failed with InvalidOptionError: A custom backoff returned 10000000000000000/);
    const fromPlugin = await app.run('plugin-too-long', [], { timeout: 15_000 });
    expect(fromPlugin).toMatchObject({ status: 'error', attempt: 1 });
    expect(fromPlugin.traceback).toMatch(
      /Not retried: deciding the retry failed with InvalidOptionError: worker_task_error_retry answered delayMs 10000000000000000; it must be from 0 to/,
    );
  });

  it("a plugin registered for the trigger answers first, and its veto, retry or delay wins over the retry plugin's", async () => {
    const app = await apps.start('retry', (a: QueueTasks) => {
      a.task({ name: 'client-error', retry: 3 }, () => {
        throw new TransientError('HTTP 400: retrying will not help');
      });
      a.task({ name: 'no-retry-option', echo: true }, (ctx: { attempt: number }) => {
        if (ctx.attempt === 1) throw new TransientError('first run fails');
        return 'ran again';
      });
      a.task({ name: 'long-backoff', retry: 1, backoff: 3_600_000, echo: true }, (ctx: { attempt: number }) => {
        if (ctx.attempt === 1) throw new TransientError('first run fails');
        return 'ran again at once';
      });
    });
    app.addPlugin(
      {
        name: 'RetryPolicy',
        handlers: {
          worker_task_error_retry: ({ record, error }) => {
            if (/HTTP 4\d\d/.test((error as Error).message)) return { retry: false };
            if (record.taskName === 'no-retry-option') return { retry: true };
            if (record.taskName === 'long-backoff') return { delayMs: 0 };
          },
        },
      },
      { triggers: ['worker_task_error_retry'] },
    );
    expect(await app.run('client-error', [], { timeout: 15_000 })).toMatchObject({ status: 'error', attempt: 1 });
    expect(await app.run('no-retry-option', [], { timeout: 15_000 })).toMatchObject({ status: 'success', attempt: 2, returning: 'ran again' });
    expect(await app.run('long-backoff', [], { timeout: 15_000 })).toMatchObject({ status: 'success', attempt: 2, returning: 'ran again at once' });
  });

  it('a bad retry option is refused when the task is registered', async () => {
    const app = await apps.start('retry', () => undefined, { worker: false });
    expect(() => app.task({ name: 'x', retry: -1 }, () => 1)).toThrow(/retry of task at function x must be a whole number of 0 or more, got -1/);
    expect(() => app.task({ name: 'y', backoff: { type: 'linear', delay: 1 } as never }, () => 1)).toThrow(/backoff of task at function y must be/);
    expect(() => app.task({ name: 'z', maxTime: 0 }, () => 1)).toThrow(/maxTime of task at function z must be a positive number/);
    // Node fires a longer timer after 1 ms: every run would time out at once.
    expect(() => app.task({ name: 'w', maxTime: 2 ** 31 }, () => 1)).toThrow(
      'maxTime of task at function w must be at most 2147483647 ms, about 24.8 days (a longer timer fires at once), got 2147483648.',
    );
    // A retry's run-at time past 100 years stops being a valid Date.
    for (const backoff of [1e16, { type: 'fixed', delay: 1e16 }, { type: 'exponential', delay: 1000, maxDelay: 1e16 }] as const) {
      expect(() => app.task({ name: 'v', backoff }, () => 1)).toThrow(/^backoff of task at function v must be milliseconds \(0 to 3155760000000, 100 years\)/);
    }
  });
});

describe('backoff delays', () => {
  it('fixed, exponential (capped, with and without jitter) and custom', () => {
    expect(backoffDelay(undefined, 1, null)).toBe(0);
    expect(backoffDelay(250, 4, null)).toBe(250);
    expect(backoffDelay({ type: 'fixed', delay: 100 }, 3, null)).toBe(100);
    const exact = { type: 'exponential', delay: 100, jitter: false } as const;
    expect([1, 2, 3, 4].map((attempt) => backoffDelay(exact, attempt, null))).toEqual([100, 200, 400, 800]);
    expect(backoffDelay({ ...exact, maxDelay: 300 }, 4, null)).toBe(300);
    for (let i = 0; i < 50; i++) {
      const delay = backoffDelay({ type: 'exponential', delay: 100 }, 3, null);
      expect(delay).toBeGreaterThanOrEqual(200);
      expect(delay).toBeLessThanOrEqual(400);
    }
    expect(backoffDelay((attempt, error) => attempt * (error as number), 3, 7)).toBe(21);
    expect(() => backoffDelay(() => -1, 1, null)).toThrow(/custom backoff returned -1/);
    // Doubling without maxDelay stops at the longest delay a task takes; a custom delay past it is refused.
    expect(backoffDelay({ type: 'exponential', delay: 1000, jitter: false }, 60, null)).toBe(MAX_DELAY_MS);
    // Past 1024 attempts the doubling is no finite number: a delay of 0 stays 0, not NaN.
    expect(backoffDelay({ type: 'exponential', delay: 0, jitter: false }, 1100, null)).toBe(0);
    expect(() => backoffDelay(() => 1e16, 1, null)).toThrow('A custom backoff returned 10000000000000000; it must return from 0 to 3155760000000 milliseconds (100 years).');
  });
});
