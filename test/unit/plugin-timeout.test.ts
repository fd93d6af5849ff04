import { afterEach, describe, expect, it, vi } from 'vitest';
import { PluginRunner, PluginTimeoutError, QueueTasks, type TriggerEvent } from '../../lib/index.js';

const event: TriggerEvent<'app_add_task_before_broker'> = { name: 'charge', args: [], priority: undefined, delay: undefined };

/** A runner whose one handler answers `answer()` on app_add_task_before_broker. */
function runnerAnswering(timeoutMs: number, answer: () => unknown): PluginRunner {
  const runner = new PluginRunner(timeoutMs);
  runner.add({ name: 'Tagger', handlers: { app_add_task_before_broker: answer as never } });
  return runner;
}

afterEach(() => {
  vi.useRealTimers();
});

describe('the plugin timeout', () => {
  it('sets no timer for an answer given at once, and clears the one of a promise that settles first', async () => {
    vi.useFakeTimers();
    expect(runnerAnswering(1_000, () => ({ priority: 2 })).fire('app_add_task_before_broker', event)).toEqual({ ...event, priority: 2 });
    expect(vi.getTimerCount()).toBe(0);
    const pending = runnerAnswering(1_000, () => Promise.resolve({ priority: 3 })).fire('app_add_task_before_broker', event);
    expect(vi.getTimerCount()).toBe(1);
    expect(await pending).toEqual({ ...event, priority: 3 });
    expect(vi.getTimerCount()).toBe(0);
  });

  it("sets none for the built-in validation's answer: an add of a task with a Date parameter pays no timer", async () => {
    const app = new QueueTasks({ backend: 'memory', worker: false });
    app.task({ name: 'dated', paramTypes: [Date] }, (date: Date) => date.getTime());
    await app.start();
    try {
      await app.add('dated', [new Date()]); // loads class-validator and class-transformer
      const timers = vi.spyOn(globalThis, 'setTimeout');
      for (let i = 0; i < 20; i++) await app.add('dated', [new Date()]);
      expect(timers).not.toHaveBeenCalled();
    } finally {
      vi.restoreAllMocks();
      await app.stop();
    }
  });

  it('fails a handler still pending after timeoutMs with PluginTimeoutError, and drops its late failure', async () => {
    vi.useFakeTimers();
    let fail!: (error: Error) => void;
    const runner = runnerAnswering(1_000, () => new Promise((_resolve, reject) => (fail = reject)));
    const answer = Promise.resolve(runner.fire('app_add_task_before_broker', event)).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(1_000);
    const error = await answer;
    expect(error).toBeInstanceOf(PluginTimeoutError);
    expect(error).toMatchObject({ code: 'PLUGIN_TIMEOUT', plugin: 'Tagger', trigger: 'app_add_task_before_broker', timeoutMs: 1_000 });
    // Settled by the timeout: the late rejection has a handler, so it is no unhandled rejection.
    vi.useRealTimers();
    const unhandled = vi.fn();
    process.on('unhandledRejection', unhandled);
    try {
      fail(new Error('too late'));
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('unhandledRejection', unhandled);
    }
    expect(unhandled).not.toHaveBeenCalled();
  });

  it('bounds the handlers of an informing trigger too: the timeout goes to `failed`, and the next handler still runs', async () => {
    vi.useFakeTimers();
    const runner = new PluginRunner(1_000);
    const heard: string[] = [];
    runner.add({ name: 'Hung', handlers: { storage_add: () => new Promise(() => undefined) } });
    runner.add({ name: 'Listener', handlers: { storage_add: ({ record }) => void heard.push(record.uuid) } });
    const failed = vi.fn();
    const informed = runner.inform('storage_add', { record: { uuid: 'u-1' } as never }, failed, 'u-1');
    await vi.advanceTimersByTimeAsync(1_000);
    await informed;
    expect(failed).toHaveBeenCalledWith('Hung', 'storage_add', expect.any(PluginTimeoutError), 'u-1');
    expect(heard).toEqual(['u-1']);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('with Infinity waits for the answer however long it takes, with no timer of its own', async () => {
    vi.useFakeTimers();
    const runner = runnerAnswering(Infinity, () => new Promise((resolve) => setTimeout(() => resolve({ priority: 4 }), 3_000_000_000)));
    const pending = runner.fire('app_add_task_before_broker', event);
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(3_000_000_000);
    expect(await pending).toEqual({ ...event, priority: 4 });
  });
});
