import { Redis } from 'ioredis';
import { afterAll, describe, expect, inject, it } from 'vitest';
import {
  InvalidOptionError,
  PluginAnswerError,
  PluginError,
  QueueTasks,
  type TaskContext,
  type TaskPlugin,
  type TriggerHandlers,
} from '../../lib/index.js';
import { eventually } from '../helpers/eventually.js';
import { uniqueAppName } from '../helpers/names.js';
import { plainApps } from '../helpers/plain-app.js';
import { taskUuids } from '../helpers/ticks.js';

const apps = plainApps(inject('redisUrl'));
const redis = new Redis(inject('redisUrl'));
afterAll(async () => {
  await apps.stopAll();
  redis.disconnect();
});

function plugin(name: string, handlers: TriggerHandlers): TaskPlugin {
  return { name, handlers };
}

const echoArgs = (app: QueueTasks) => app.task('echo', (...args: unknown[]) => args);

describe('plugin contract', () => {
  it('a partial answer replaces only its fields; specific handlers run before global ones, each in order', async () => {
    const seen: string[] = [];
    const app = await apps.start('contract', echoArgs, { worker: false });
    app.addPlugin(
      plugin('global-1', {
        app_add_task_before_broker: (event) => {
          seen.push(`global-1 saw priority ${event.priority}`);
          return { priority: 7 };
        },
      }),
    );
    app.addPlugin(
      plugin('specific', {
        app_add_task_before_broker: (event) => {
          seen.push(`specific saw priority ${event.priority}`);
          return { priority: 3 };
        },
      }),
      { triggers: ['app_add_task_before_broker'], component: 'app' },
    );
    app.addPlugin(plugin('global-2', { app_add_task_before_broker: (event) => void seen.push(`global-2 saw priority ${event.priority}`) }));
    const record = await app.add('echo', ['a', 1], { priority: 1, delay: 0 });
    expect(seen).toEqual(['specific saw priority 1', 'global-1 saw priority 3', 'global-2 saw priority 7']);
    expect(record.priority).toBe(7);
    expect(record.args).toEqual(['a', 1]);
    expect(record.taskName).toBe('echo');
    expect((await app.get(record.uuid))!.args).toEqual(['a', 1]);
  });

  it('an answer with a field the trigger does not let replace is refused, naming plugin and trigger', async () => {
    const app = await apps.start('contract', echoArgs, { worker: false });
    app.addPlugin(plugin('Sneaky', { app_add_task_before_broker: () => ({ record: null }) as never }));
    await expect(app.add('echo', [])).rejects.toThrow(PluginAnswerError);
    await expect(app.add('echo', [])).rejects.toThrow(/Plugin "Sneaky" answered trigger "app_add_task_before_broker" with field\(s\) it may not replace: record/);
    app.addPlugin(plugin('Listy', { app_get: () => [1] as never }));
    await expect(app.get('x')).rejects.toThrow(/Plugin "Listy" answered trigger "app_get" with a list; an answer is nothing or an object with some of: record/);
  });

  it('addPlugin refuses unknown triggers, missing handlers and triggers of another component', () => {
    const app = new QueueTasks({ worker: false, url: inject('redisUrl') });
    expect(() => app.addPlugin(plugin('A', {}), { triggers: ['no_such' as never] })).toThrow(/Plugin "A" names unknown trigger "no_such"/);
    expect(() => app.addPlugin(plugin('B', {}), { triggers: ['app_get'] })).toThrow(/registered for trigger "app_get" but has no handler/);
    expect(() => app.addPlugin(plugin('C', { app_get: () => undefined }), { triggers: ['app_get'], component: 'worker' })).toThrow(
      InvalidOptionError,
    );
  });

  it('a component filter keeps a global plugin to that component', async () => {
    const seen: string[] = [];
    const app = await apps.start('contract', echoArgs);
    app.addPlugin(
      plugin('Scoped', {
        app_add_task_after_broker: () => void seen.push('app'),
        worker_execute_before: () => void seen.push('worker'),
      }),
      { component: 'worker' },
    );
    await app.run('echo', [1], { timeout: 15_000 });
    expect(seen).toEqual(['worker']);
  });

  it('a plugin throwing at enqueue rejects the add with PluginError and nothing is enqueued', async () => {
    const app = await apps.start('contract', echoArgs, { worker: false });
    let stored = 0;
    app.addPlugin(plugin('Counter', { broker_add_after: ({ uuids }) => void (stored += uuids.length) }));
    app.addPlugin(
      plugin('Broken', {
        broker_add_before: () => {
          throw new RangeError('no room');
        },
      }),
    );
    const error = await app.addBulk([{ name: 'echo' }, { name: 'echo' }]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PluginError);
    expect(error).toMatchObject({ code: 'PLUGIN_FAILED', plugin: 'Broken', trigger: 'broker_add_before' });
    expect((error as Error).message).toBe('Plugin "Broken" failed on trigger "broker_add_before": RangeError: no room');
    expect(stored).toBe(0);
    // Nothing reached Redis: no record, no queue.
    expect(await taskUuids(redis, app.name)).toEqual([]);
    expect(await redis.exists(`qtasks:{${app.name}}:qp`, `qtasks:{${app.name}}:q:0`)).toBe(0);
  });

  it('a plugin failing after the enqueue leaves add, addBulk and addOnce resolved and each task run once; the failure is logged naming plugin, trigger and uuids', async () => {
    const errors: string[] = [];
    const runs = new Map<string, number>();
    const app = await apps.start('contract', (a) => a.task({ name: 'charge', echo: true }, (ctx: TaskContext) => void runs.set(ctx.uuid, (runs.get(ctx.uuid) ?? 0) + 1)), {
      logger: { log: () => undefined, warn: console.warn, error: (line) => void errors.push(line) },
    });
    const afterTriggers = ['broker_add_after', 'storage_add', 'app_add_task_after_broker'] as const;
    const failing = () => {
      throw new Error('audit service down');
    };
    app.addPlugin(plugin('Audit', Object.fromEntries(afterTriggers.map((trigger) => [trigger, failing]))));
    // Handlers after a failing one still hear of the task.
    const heard: string[] = [];
    app.addPlugin(plugin('Listener', { app_add_task_after_broker: ({ record }) => void heard.push(record.uuid) }));

    const single = await app.add('charge', [100]);
    expect(errors).toEqual(
      afterTriggers.map((trigger) => `Plugin "Audit" failed on trigger "${trigger}" for task(s) ${single.uuid}, which are enqueued all the same: audit service down`),
    );
    const bulk = await app.addBulk([{ name: 'charge' }, { name: 'charge' }]);
    expect(errors.slice(3, 4)).toEqual([
      `Plugin "Audit" failed on trigger "broker_add_after" for task(s) ${bulk.map((r) => r.uuid).join(', ')}, which are enqueued all the same: audit service down`,
    ]);
    // A timer's tick enqueues through addOnce: it must not be taken for a failed enqueue either.
    const once = await app.addOnce('charge', [], { uniqueKey: 'tick', uniqueTtlMs: 60_000 });
    expect(once.added).toBe(true);
    const uuids = [single.uuid, ...bulk.map((r) => r.uuid), once.uuid];
    expect(heard).toEqual(uuids);
    for (const uuid of uuids) expect((await app.wait(uuid, { timeout: 15_000 })).status).toBe('success');
    expect(uuids.map((uuid) => runs.get(uuid))).toEqual([1, 1, 1, 1]);
    // broker_add_after once per call (3 calls), the record triggers once per task (4 tasks).
    expect(errors).toHaveLength(3 + 2 * 4);
  });

  it('handlers may answer some tasks with a promise and others at once: each answer applies, in order', async () => {
    const app = await apps.start('contract', echoArgs, { worker: false });
    const seen: string[] = [];
    app.addPlugin(
      plugin('Mixed', {
        // Odd arguments get their priority later, even ones at once.
        app_add_task_before_broker: ({ args }) => {
          const n = args[0] as number;
          return n % 2 ? new Promise((resolve) => setTimeout(() => resolve({ priority: n }), 5)) : { priority: n };
        },
      }),
    );
    app.addPlugin(plugin('Watcher', { app_add_task_before_broker: ({ args, priority }) => void seen.push(`${args[0]}:${priority}`) }));
    app.addPlugin(
      plugin('LateTagger', {
        broker_add_before: ({ task }) => (task.priority === 3 ? Promise.resolve({ task: { ...task, priority: 30 } }) : undefined),
      }),
    );
    const records = await app.addBulk([1, 2, 3, 4].map((n) => ({ name: 'echo', args: [n] })));
    expect(seen).toEqual(['1:1', '2:2', '3:3', '4:4']);
    expect(records.map((record) => [record.args[0], record.priority])).toEqual([[1, 1], [2, 2], [3, 30], [4, 4]]);
    for (const record of records) expect((await app.get(record.uuid))!.priority).toBe(record.priority);

    const single = await app.add('echo', [5]);
    expect(single.priority).toBe(5);
    expect(seen.at(-1)).toBe('5:5');
  });

  it('a handler whose promise rejects refuses the whole bulk add with PluginError; nothing is enqueued', async () => {
    const app = await apps.start('contract', echoArgs, { worker: false });
    app.addPlugin(
      plugin('SlowNo', {
        app_add_task_before_broker: ({ args }) => (args[0] === 2 ? Promise.reject(new Error('quota')) : undefined),
      }),
    );
    const error = await app.addBulk([1, 2, 3].map((n) => ({ name: 'echo', args: [n] }))).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'PLUGIN_FAILED', plugin: 'SlowNo', trigger: 'app_add_task_before_broker' });
    expect(await taskUuids(redis, app.name)).toEqual([]);
    // A refusal at once rejects too: the add never throws where it is called.
    app.addPlugin(
      plugin('FastNo', {
        app_add_task_before_broker: () => {
          throw new Error('closed');
        },
      }),
    );
    const pending = app.add('echo', [1]);
    await expect(pending).rejects.toMatchObject({ plugin: 'FastNo' });
    expect(await taskUuids(redis, app.name)).toEqual([]);
  });

  it('a deliberate refusal (a QTasksError) passes through unwrapped, answered at once or later', async () => {
    const app = await apps.start('contract', echoArgs, { worker: false });
    app.addPlugin(
      plugin('Gate', {
        app_add_task_before_broker: ({ args }) => {
          const refusal = new InvalidOptionError(`argument ${String(args[0])} is not allowed`);
          if (args[0] === 'now') throw refusal;
          if (args[0] === 'later') return Promise.reject(refusal);
        },
      }),
    );
    for (const when of ['now', 'later']) {
      const error = await app.add('echo', [when]).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidOptionError);
      expect((error as Error).message).toBe(`argument ${when} is not allowed`);
    }
    expect(await taskUuids(redis, app.name)).toEqual([]);
  });

  it('an answer whose then cannot be read is the plugin failing, named as such', async () => {
    const app = await apps.start('contract', echoArgs, { worker: false });
    const trap = Object.defineProperty({}, 'then', {
      get() {
        throw new Error('no then here');
      },
    });
    app.addPlugin(plugin('Trap', { app_add_task_before_broker: () => trap as never }));
    await expect(app.add('echo', [1])).rejects.toMatchObject({ code: 'PLUGIN_FAILED', plugin: 'Trap', trigger: 'app_add_task_before_broker' });
    expect(await taskUuids(redis, app.name)).toEqual([]);
  });

  it('a broker_add_before handler that answers a broken task makes the add reject, never throw where it is called', async () => {
    const app = await apps.start('contract', echoArgs, { worker: false });
    app.addPlugin(plugin('Breaker', { broker_add_before: () => ({ task: null as never }) }));
    let pending: Promise<unknown> | undefined;
    expect(() => (pending = app.add('echo', [1]))).not.toThrow();
    await expect(pending).rejects.toThrow(TypeError);
    expect(await taskUuids(redis, app.name)).toEqual([]);
  });

  it('a plugin throwing while a task runs ends that task error; the worker keeps running', async () => {
    const app = await apps.start('contract', echoArgs, { config: { maxTasksProcess: 1 } });
    app.addPlugin(
      plugin('Flaky', {
        task_executor_before_execute: ({ record }) => {
          if (record.args[0] === 'bad') throw new Error('plugin broke');
        },
      }),
    );
    const bad = await app.run('echo', ['bad'], { timeout: 15_000 });
    expect(bad.status).toBe('error');
    expect(bad.traceback).toMatch(/^PluginError: Plugin "Flaky" failed on trigger "task_executor_before_execute": Error: plugin broke/);
    expect(bad.traceback).toMatch(/Caused by: Error: plugin broke\n\s+at /);
    const good = await app.run('echo', ['good'], { timeout: 15_000 });
    expect(good.status).toBe('success');
    expect(good.returning).toEqual(['good']);
  });

  it('a worker-trigger plugin that throws ends the task error too', async () => {
    const app = await apps.start('contract', echoArgs);
    app.addPlugin(
      plugin('WorkerBreaker', {
        worker_execute_before: () => {
          throw new TypeError('nope');
        },
      }),
    );
    const record = await app.run('echo', [], { timeout: 15_000 });
    expect(record.status).toBe('error');
    expect(record.traceback).toMatch(/Plugin "WorkerBreaker" failed on trigger "worker_execute_before": TypeError: nope/);
  });

  it('a plugin throwing once the outcome is known (worker_execute_after, broker_update) is logged; the outcome stands', async () => {
    for (const trigger of ['worker_execute_after', 'broker_update'] as const) {
      const errors: string[] = [];
      const logger = { log: () => undefined, warn: console.warn, error: (message: string) => void errors.push(message) };
      const app = await apps.start('contract', echoArgs, { logger });
      app.addPlugin(
        plugin('Audit', {
          [trigger]: () => {
            throw new Error('audit service down');
          },
        }),
      );
      const record = await app.run('echo', ['done'], { timeout: 15_000 });
      expect(record).toMatchObject({ status: 'success', returning: ['done'] });
      expect(errors.join('\n')).toContain(`Plugin "Audit" failed on trigger "${trigger}": Error: audit service down`);
      expect(errors.join('\n')).toContain(record.uuid);
    }
  });

  it('task_executor_run_task_trigger_error may supply a result for a plugin-raised error', async () => {
    const app = await apps.start('contract', echoArgs);
    app.addPlugin(
      plugin('Breaker', {
        task_executor_args_replace: () => {
          throw new Error('cannot inject');
        },
      }),
    );
    app.addPlugin(
      plugin('Rescuer', {
        task_executor_run_task_trigger_error: ({ error }) => ({ result: `rescued: ${(error as PluginError).plugin}` }),
      }),
    );
    const record = await app.run('echo', [], { timeout: 15_000 });
    expect(record.status).toBe('success');
    expect(record.returning).toBe('rescued: Breaker');
  });

  it('a broker_listen_start handler that throws fails startWork, which leaves no cancel subscription behind', async () => {
    const name = uniqueAppName('listen-fails');
    const app = new QueueTasks({ name, url: inject('redisUrl'), logger: { log: () => undefined, warn: console.warn, error: console.error } });
    echoArgs(app);
    let failures = 2;
    app.addPlugin(
      plugin('NotReadyYet', {
        broker_listen_start: () => {
          if (failures-- > 0) throw new Error('not ready yet');
        },
      }),
      { triggers: ['broker_listen_start'] },
    );
    const cancelListeners = async () => (await redis.pubsub('NUMSUB', `qtasks:{${name}}:cancel`))[1];
    try {
      await app.start({ work: false });
      for (let attempt = 1; attempt <= 2; attempt++) {
        await expect(app.startWork()).rejects.toBeInstanceOf(PluginError);
        // Redis counts a closed subscriber out once it has seen the socket close.
        await eventually(`no cancel subscriber after failed startWork #${attempt}`, async () => (await cancelListeners()) === 0, 2_000);
      }
      await app.startWork();
      expect(await cancelListeners()).toBe(1);
    } finally {
      await app.stop();
    }
  });
});
