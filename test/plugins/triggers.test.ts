import { afterAll, describe, expect, inject, it } from 'vitest';
import { TRIGGERS, type QueueTasks, type TriggerHandlers, type TriggerName } from '../../lib/index.js';
import { plainApps } from '../helpers/plain-app.js';

const apps = plainApps(inject('redisUrl'));
afterAll(() => apps.stopAll());

const register = (app: QueueTasks) => {
  app.task('double', (n: number) => n * 2);
  app.task('fail', () => {
    throw new Error('failed on purpose');
  });
};

/** A global plugin with a handler for every trigger that records the names it hears. */
function recorder(seen: TriggerName[]): TriggerHandlers {
  const handlers: Record<string, () => void> = {};
  for (const name of Object.keys(TRIGGERS) as TriggerName[]) handlers[name] = () => void seen.push(name);
  return handlers as TriggerHandlers;
}

describe('triggers fire at the real points of each component', () => {
  it('one enqueue, run, read, setting and stop walk the triggers of every component, in order', async () => {
    const seen: TriggerName[] = [];
    // A short lease: a worker skips its start's recovery sweep while Redis started less than a lease
    // ago (a restart may have stopped renewals), and the suite's Redis is that young when this runs first.
    const app = await apps.start('triggers', register, { plugins: [{ name: 'Recorder', handlers: recorder(seen) }], config: { leaseMs: 1_000 } });
    const started = [...seen];
    // The worker's own start: it listens, recovers expired leases and sends its first heartbeat.
    expect(started.slice(0, 4)).toEqual(['broker_listen_start', 'broker_running_older_tasks', 'storage_running_older_tasks', 'global_config_set_status']);
    expect(started.slice(4)).toEqual(['global_config_start', 'storage_start', 'broker_start', 'worker_start', 'starter_start']);
    seen.length = 0;
    const record = await app.add('double', [21]);
    await app.wait(record.uuid, { timeout: 15_000 });
    const ran = seen.splice(0);
    // The worker may claim the task before add returns, so each side is checked on its own.
    const enqueueSide = ['app_add_task_before_broker', 'broker_add_before', 'broker_add_after', 'storage_add', 'app_add_task_after_broker'];
    expect(ran.filter((name) => enqueueSide.includes(name))).toEqual(enqueueSide);
    const periodic = ['broker_running_older_tasks', 'storage_running_older_tasks', 'global_config_set_status', 'storage_update'];
    expect(ran.filter((name) => !enqueueSide.includes(name) && !periodic.includes(name))).toEqual([
      'broker_add_worker',
      'storage_add_process',
      'worker_add',
      'worker_execute_before',
      'worker_run_task_before',
      'task_executor_before_execute',
      'task_executor_args_replace',
      'task_executor_middlewares_execute',
      'task_executor_run_task',
      'task_executor_after_execute',
      'task_executor_after_execute_result_replace',
      'task_executor_decode',
      'task_executor_task_close',
      'worker_execute_after',
      'broker_update',
    ]);
    await app.run('fail', [], { timeout: 15_000 });
    expect(seen).toContain('worker_task_error_retry');
    await app.get(record.uuid);
    await app.globalConfig!.set('k', 1);
    await app.globalConfig!.get('k');
    await app.globalConfig!.getAll();
    await app.stop();
    for (const name of ['storage_get', 'app_get', 'global_config_set', 'global_config_get', 'global_config_get_all', 'app_stop', 'storage_update', 'broker_listen_start'] as const) {
      expect(seen.includes(name) || started.includes(name) || ran.includes(name), name).toBe(true);
    }
    expect(seen.slice(-5)).toEqual(['global_config_stop', 'storage_stop', 'broker_stop', 'worker_stop', 'starter_stop']);
  });

  it('answers replace what each trigger allows: record read, args, result, payload, outcome, settings', async () => {
    const app = await apps.start('triggers', register);
    app.addPlugin({
      name: 'Rewriter',
      handlers: {
        task_executor_args_replace: ({ args }) => ({ args: [(args[0] as number) + 1] }),
        task_executor_after_execute_result_replace: ({ result }) => ({ result: (result as number) * 10 }),
        app_get: ({ record }) => (record ? { record: { ...record, taskName: 'seen-through-app_get' } } : undefined),
        global_config_set: ({ value }) => ({ value: { wrapped: value } }),
        global_config_get: ({ value }) => ({ value: [value] }),
        global_config_get_all: ({ values }) => ({ values: { ...values, extra: true } }),
      },
    });
    const record = await app.run('double', [1], { timeout: 15_000 });
    expect(record.returning).toBe(40); // (1 + 1) * 2 * 10
    expect(record.args).toEqual([1]); // the stored arguments are the caller's
    expect((await app.get(record.uuid))!.taskName).toBe('seen-through-app_get');
    await app.globalConfig!.set('limit', 5);
    expect(await app.globalConfig!.get('limit')).toEqual([{ wrapped: 5 }]);
    expect(await app.globalConfig!.getAll()).toEqual({ limit: { wrapped: 5 }, extra: true });
  });

  it('decode replaces the stored payload; broker_update replaces the outcome; worker_execute_before the record', async () => {
    const app = await apps.start('triggers', register);
    app.addPlugin({
      name: 'Stores',
      handlers: {
        worker_execute_before: ({ record }) => (record.args[0] === 5 ? { record: { ...record, args: [50] } } : undefined),
        task_executor_decode: ({ result }) => (result === 100 ? { payload: '"one hundred"' } : undefined),
        broker_update: ({ outcome, record }) =>
          record.args[0] === 9 ? { outcome: { ...outcome, status: 'cancel', payload: 'vetoed by plugin' } } : undefined,
      },
    });
    expect((await app.run('double', [5], { timeout: 15_000 })).returning).toBe('one hundred');
    const vetoed = await app.run('double', [9], { timeout: 15_000 });
    expect(vetoed.status).toBe('cancel');
    expect(vetoed.cancelReason).toBe('vetoed by plugin');
  });

  it('broker_add_before may replace the new task; storage_get the record read; set_status the heartbeat', async () => {
    const app = await apps.start('triggers', register, { worker: false });
    app.addPlugin({
      name: 'Broker',
      handlers: {
        broker_add_before: ({ task }) => ({ task: { ...task, priority: 42 } }),
        storage_get: ({ record }) => (record ? { record: { ...record, priority: -1 } } : undefined),
        global_config_set_status: ({ status }) => ({ status: { ...status, host: 'renamed-host' } }),
      },
    });
    const record = await app.add('double', [1]);
    expect(record.priority).toBe(42);
    expect((await app.get(record.uuid))!.priority).toBe(-1);
    await app.globalConfig!.setStatus({ id: 'w1', host: 'h', pid: 1, startedAt: 0, running: 0, maxTasksProcess: 1, tasks: [] }, 10_000);
    expect((await app.globalConfig!.workers()).map((w) => w.host)).toEqual(['renamed-host']);
  });
});

describe('a stop of an app already stopped', () => {
  const stopTriggers: TriggerName[] = ['app_stop', 'global_config_stop', 'storage_stop', 'broker_stop', 'worker_stop', 'starter_stop'];

  /** An app recording every trigger it fires and every line it logs. */
  async function recordingApp(label: string) {
    const seen: TriggerName[] = [];
    const logged: string[] = [];
    const logger = { log: (line: string) => void logged.push(line), warn: (line: string) => void logged.push(line), error: (line: string) => void logged.push(line) };
    const app = await apps.start(label, register, { logger, plugins: [{ name: 'Recorder', handlers: recorder(seen) }] });
    return { app, seen, logged };
  }

  it('a second stop() fires no trigger and logs nothing', async () => {
    const { app, seen, logged } = await recordingApp('stop-twice');
    await app.stop();
    expect(seen.filter((name) => name === 'app_stop')).toEqual(['app_stop']);
    seen.length = logged.length = 0;
    await app.stop();
    expect(seen).toEqual([]);
    expect(logged).toEqual([]);
  });

  it('stopWork() then stop() fire each stop trigger once, and a stop() after them nothing', async () => {
    const { app, seen, logged } = await recordingApp('stop-work-then-stop');
    await app.stopWork();
    await app.stopWork();
    await app.stop();
    expect(seen.filter((name) => stopTriggers.includes(name))).toEqual(stopTriggers);
    seen.length = logged.length = 0;
    await app.stop();
    expect(seen).toEqual([]);
    expect(logged).toEqual([]);
  });
});
