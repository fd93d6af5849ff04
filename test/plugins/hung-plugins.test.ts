import { Redis } from 'ioredis';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import { PluginTimeoutError, QueueTasks, type QTasksLogger, type TaskPlugin, type TaskStatus, type TriggerHandler, type TriggerName } from '../../lib/index.js';
import { Gate } from '../helpers/gate.js';
import { uniqueAppName } from '../helpers/names.js';
import { plainApps } from '../helpers/plain-app.js';
import { taskUuids } from '../helpers/ticks.js';

const apps = plainApps(inject('redisUrl'));
const redis = new Redis(inject('redisUrl'));
afterAll(async () => {
  await apps.stopAll();
  redis.disconnect();
});

/** Long enough for a task held for ever to show it, short enough to fail fast. */
const WAIT = { timeout: 5_000 };

/** A plugin registered for one trigger (as an HTTP call with no timeout would be). */
function addPlugin<T extends TriggerName>(app: QueueTasks, trigger: T, handler: TriggerHandler<T>): void {
  const plugin: TaskPlugin = { name: 'AuditLog', handlers: { [trigger]: handler } };
  app.addPlugin(plugin, { triggers: [trigger] });
}

const withQuickTask = (register: (app: QueueTasks) => void) => (app: QueueTasks) => {
  register(app);
  app.task('quick', () => 'ran in the freed slot');
};

/** With one slot, the quick task runs only once the task before it gave its slot back. */
async function expectSlotFreed(app: QueueTasks): Promise<void> {
  expect(await app.run('quick', [], WAIT)).toMatchObject({ status: 'success', returning: 'ran in the freed slot' });
}

/** The hung handler answers after all: the task's outcome stays as it was, and nothing is left unhandled. */
async function expectOutcomeKept(app: QueueTasks, gate: Gate, uuid: string, status: TaskStatus): Promise<void> {
  gate.open();
  await sleep(50);
  expect((await app.get(uuid))!.status).toBe(status);
  expect(unhandled).toEqual([]);
}

/** Holds task "held" in a worker_execute_before handler until `gate` opens. */
function holdBeforeExecute(app: QueueTasks, gate: Gate): void {
  addPlugin(app, 'worker_execute_before', async ({ record }) => {
    if (record.taskName === 'held') await gate.pass();
  });
}

// A handler answering after the abort must not surface as an unhandled rejection.
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => void unhandled.push(reason);
beforeEach(() => {
  unhandled.length = 0;
  process.on('unhandledRejection', onUnhandled);
});
afterEach(() => {
  process.off('unhandledRejection', onUnhandled);
});

describe('a plugin handler that never answers cannot hold a task or its slot', () => {
  it('maxTime counts it: the task ends error "timed out", the next task takes its slot, and the handler failing later changes nothing', async () => {
    const late = new Gate();
    const app = await apps.start('hung-plugin', withQuickTask((a) => a.task({ name: 'limited', maxTime: 200 }, () => 'ran')), {
      config: { maxTasksProcess: 1 },
    });
    addPlugin(app, 'task_executor_before_execute', async ({ record }) => {
      if (record.taskName !== 'limited') return;
      await late.pass();
      throw new Error('the audit service answered too late');
    });
    const limited = await app.run('limited', [], WAIT);
    expect(limited.status).toBe('error');
    expect(limited.traceback).toMatch(/^TaskTimeoutError: Task "limited" timed out after 200 ms/);
    // One slot: this runs only because the timed-out task gave it back.
    await expectSlotFreed(app);
    late.open();
    await sleep(50);
    expect(await app.get(limited.uuid)).toMatchObject({ status: 'error', traceback: limited.traceback });
    expect(app.worker!.running).toBe(0);
    expect(unhandled).toEqual([]);
  });

  it('cancel ends it: the task ends cancel with the reason, and the next task takes its slot', async () => {
    const held = new Gate();
    const app = await apps.start('hung-plugin', withQuickTask((a) => a.task('held', () => 'ran')), { config: { maxTasksProcess: 1 } });
    holdBeforeExecute(app, held);
    const added = await app.add('held');
    await held.reached;
    await app.cancel(added.uuid, 'operator cancel');
    expect(await app.wait(added.uuid, WAIT)).toMatchObject({ status: 'cancel', cancelReason: 'operator cancel' });
    await expectSlotFreed(app);
    await expectOutcomeKept(app, held, added.uuid, 'cancel');
  });

  it('the shutdown grace ends it: stop() leaves no task running, and the task goes back to the queue', async () => {
    const held = new Gate();
    const warnings: string[] = [];
    const app = await apps.start('hung-plugin', (a) => a.task('held', () => 'ran'), {
      config: { shutdownGraceMs: 200 },
      logger: { log: () => undefined, warn: (line) => void warnings.push(line), error: console.error },
    });
    addPlugin(app, 'storage_add_process', () => held.pass());
    const added = await app.add('held');
    await held.reached;
    await app.stopWork();
    expect(app.worker!.running).toBe(0);
    expect((await app.get(added.uuid))!.status).toBe('new');
    expect(warnings).toEqual([expect.stringMatching(/stopped with 1 unfinished task\(s\); 1 handed back to the queue$/)]);
    held.open();
  });

  it('once the outcome is known it stands: a closing trigger left unanswered at maxTime does not change it, nor does its late answer', async () => {
    const late = new Gate();
    const app = await apps.start('hung-plugin', withQuickTask((a) => a.task({ name: 'done', maxTime: 200 }, () => 'finished')), {
      config: { maxTasksProcess: 1 },
    });
    addPlugin(app, 'broker_update', async ({ record, outcome }) => {
      if (record.taskName !== 'done') return;
      await late.pass();
      return { outcome: { ...outcome, status: 'error' as const, payload: 'a late replacement' } };
    });
    const done = await app.run('done', [], WAIT);
    expect(done).toMatchObject({ status: 'success', returning: 'finished' });
    await expectSlotFreed(app);
    late.open();
    await sleep(50);
    expect(await app.get(done.uuid)).toMatchObject({ status: 'success', returning: 'finished' });
    expect(unhandled).toEqual([]);
  });

  it('a closing trigger on a task already timed out is still waited for: an async retry handler does not stop the retry plugin retrying it', async () => {
    const attempts: number[] = [];
    const app = await apps.start('hung-plugin', (a) =>
      a.task({ name: 'slow-once', maxTime: 100, retry: 1, echo: true }, async (ctx: { attempt: number }) => {
        attempts.push(ctx.attempt);
        if (ctx.attempt === 1) await sleep(1_000);
        return 'second run in time';
      }),
    );
    // Answers with a promise, so the trigger's answer is one too: the retry plugin's decision is in it.
    addPlugin(app, 'worker_task_error_retry', async () => undefined);
    const record = await app.run('slow-once', [], WAIT);
    expect(record).toMatchObject({ status: 'success', returning: 'second run in time', attempt: 2 });
    expect(record.errors).toEqual([expect.stringMatching(/^TaskTimeoutError: Task "slow-once" timed out after 100 ms/)]);
    expect(attempts).toEqual([1, 2]);
    expect(unhandled).toEqual([]);
  });

  it('a closing trigger on a task already timed out is waited for only up to shutdownGraceMs: a hung retry handler leaves it error, not held', async () => {
    const late = new Gate();
    const app = await apps.start('hung-plugin', withQuickTask((a) => a.task({ name: 'limited', maxTime: 100, retry: 1 }, () => sleep(1_000))), {
      config: { maxTasksProcess: 1, shutdownGraceMs: 200 },
    });
    addPlugin(app, 'worker_task_error_retry', async ({ record }) => {
      if (record.taskName === 'limited') await late.pass();
    });
    const limited = await app.run('limited', [], WAIT);
    expect(limited).toMatchObject({ status: 'error', attempt: 1 });
    expect(limited.traceback).toMatch(/^TaskTimeoutError: Task "limited" timed out after 100 ms/);
    await expectSlotFreed(app);
    late.open();
    await sleep(50);
    expect(await app.get(limited.uuid)).toMatchObject({ status: 'error', attempt: 1 });
    expect(app.worker!.running).toBe(0);
    expect(unhandled).toEqual([]);
  });
});

/** Short, so a test waits it out quickly; far above what an answered handler takes. */
const PLUGIN_TIMEOUT_MS = 200;

/** A logger keeping the errors it is given (the after-enqueue and stop failures are logged). */
function errorLog(): { logger: QTasksLogger; errors: string[] } {
  const errors: string[] = [];
  return { errors, logger: { log: () => undefined, warn: console.warn, error: (line) => void errors.push(line) } };
}

const timeoutMessage = (trigger: TriggerName) =>
  `Plugin "AuditLog" failed on trigger "${trigger}": no answer within ${PLUGIN_TIMEOUT_MS} ms (config.pluginTimeoutMs)`;

describe('a plugin handler that never answers is given up on after pluginTimeoutMs', () => {
  it.each(['app_add_task_before_broker', 'broker_add_before'] as const)(
    'on %s (before the store): add, addBulk and addOnce reject with PluginTimeoutError, nothing is enqueued, and the late answer changes nothing',
    async (trigger) => {
      const late = new Gate();
      const ran: string[] = [];
      const app = await apps.start('plugin-timeout', (a) => a.task('charge', () => void ran.push('charge')), {
        config: { pluginTimeoutMs: PLUGIN_TIMEOUT_MS },
      });
      addPlugin(app, trigger, async () => {
        await late.pass();
        return undefined;
      });
      const calls = [
        app.add('charge'),
        app.addBulk([{ name: 'charge' }, { name: 'charge' }]),
        app.addOnce('charge', [], { uniqueKey: 'tick', uniqueTtlMs: 60_000 }),
      ];
      for (const error of await Promise.all(calls.map((call) => call.catch((e: unknown) => e)))) {
        expect(error).toBeInstanceOf(PluginTimeoutError);
        expect(error).toMatchObject({ code: 'PLUGIN_TIMEOUT', plugin: 'AuditLog', trigger, timeoutMs: PLUGIN_TIMEOUT_MS });
        expect((error as Error).message).toBe(timeoutMessage(trigger));
      }
      late.open();
      await sleep(50);
      expect(await taskUuids(redis, app.name)).toEqual([]);
      expect(await redis.exists(`qtasks:{${app.name}}:qp`, `qtasks:{${app.name}}:q:0`)).toBe(0);
      expect(ran).toEqual([]);
      // Nor was the unique key taken: with the handler answering again, the same key enqueues.
      const again = await app.addOnce('charge', [], { uniqueKey: 'tick', uniqueTtlMs: 60_000 });
      expect(again.added).toBe(true);
      expect((await app.wait(again.uuid, WAIT)).status).toBe('success');
      expect(ran).toEqual(['charge']);
      expect(unhandled).toEqual([]);
    },
  );

  it('after the store: add resolves once the after-enqueue handlers time out, each timeout is logged, and the task runs', async () => {
    const late = new Gate();
    const { logger, errors } = errorLog();
    const app = await apps.start('plugin-timeout', (a) => a.task('charge', () => 'charged'), {
      config: { pluginTimeoutMs: PLUGIN_TIMEOUT_MS },
      logger,
    });
    const afterTriggers = ['broker_add_after', 'storage_add', 'app_add_task_after_broker'] as const;
    const hung = () => late.pass();
    app.addPlugin({ name: 'AuditLog', handlers: Object.fromEntries(afterTriggers.map((trigger) => [trigger, hung])) });
    const added = await app.add('charge');
    expect(errors).toEqual(
      afterTriggers.map(
        (trigger) =>
          `Plugin "AuditLog" failed on trigger "${trigger}" for task(s) ${added.uuid}, which are enqueued all the same: ${timeoutMessage(trigger)}`,
      ),
    );
    expect(await app.wait(added.uuid, WAIT)).toMatchObject({ status: 'success', returning: 'charged' });
    late.open();
    await sleep(50);
    expect(errors).toHaveLength(3);
    expect(unhandled).toEqual([]);
  });

  it('on a task with no maxTime: the task ends error with PluginTimeoutError instead of staying process, and retries as for any error', async () => {
    const late = new Gate();
    const app = await apps.start('plugin-timeout', (a) => a.task({ name: 'audited', retry: 1 }, () => 'second run'), {
      config: { pluginTimeoutMs: PLUGIN_TIMEOUT_MS },
    });
    addPlugin(app, 'task_executor_before_execute', async ({ record }) => {
      if (record.attempt === 1) await late.pass();
    });
    const record = await app.run('audited', [], WAIT);
    expect(record).toMatchObject({ status: 'success', returning: 'second run', attempt: 2 });
    expect(record.errors!.map(headline)).toEqual([`PluginTimeoutError: ${timeoutMessage('task_executor_before_execute')}`]);
    await expectOutcomeKept(app, late, record.uuid, 'success');
  });

  it('on a worker trigger before the run: the task ends error with PluginTimeoutError and the next task takes its slot', async () => {
    const late = new Gate();
    const app = await apps.start('plugin-timeout', withQuickTask((a) => a.task('held', () => 'ran')), {
      config: { maxTasksProcess: 1, pluginTimeoutMs: PLUGIN_TIMEOUT_MS },
    });
    holdBeforeExecute(app, late);
    const held = await app.run('held', [], WAIT);
    expect(held.status).toBe('error');
    expect(headline(held.traceback)).toBe(`PluginTimeoutError: ${timeoutMessage('worker_execute_before')}`);
    await expectSlotFreed(app);
    await expectOutcomeKept(app, late, held.uuid, 'error');
  });

  it('on storage_get: get rejects with PluginTimeoutError', async () => {
    const app = await apps.start('plugin-timeout', () => undefined, { worker: false, config: { pluginTimeoutMs: PLUGIN_TIMEOUT_MS } });
    addPlugin(app, 'storage_get', () => new Promise<undefined>(() => undefined));
    const error = await app.get('0c6b8f1e-0000-4000-8000-000000000000').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PluginTimeoutError);
    expect((error as Error).message).toBe(timeoutMessage('storage_get'));
  });

  it('on app_stop: stop() completes once the handler times out, and the timeout is logged', async () => {
    const { logger, errors } = errorLog();
    // Not from `apps`: stopped here, and once.
    const app = new QueueTasks({
      name: uniqueAppName('plugin-timeout'),
      url: inject('redisUrl'),
      logger,
      config: { pluginTimeoutMs: PLUGIN_TIMEOUT_MS },
    });
    await app.start();
    addPlugin(app, 'app_stop', () => new Promise<undefined>(() => undefined));
    await app.stop();
    expect(errors.map(headline)).toEqual([`PluginTimeoutError: ${timeoutMessage('app_stop')}`]);
  });
});

/** A traceback's first line: the error's name and message. */
const headline = (traceback: string | undefined) => traceback?.split('\n')[0];
