import { Injectable, Logger } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  OnTrigger,
  QTasksClient,
  QTasksPlugin,
  Task,
  TaskCtx,
  TaskContext,
  UseTaskInterceptors,
  type ArgsReplaceEvent,
  type CallHandler,
  type TaskExecutionContext,
  type TaskInterceptor,
  type TriggerEvent,
} from '../../lib/index.js';
import { startNestApp } from '../helpers/nest-app.js';
import { uniqueAppName } from '../helpers/names.js';

/** A plain provider the plugin and the interceptors get injected. */
@Injectable()
class AuditLog {
  readonly lines: string[] = [];
}

@QTasksPlugin()
class AuditPlugin {
  constructor(private readonly audit: AuditLog) {}

  @OnTrigger('task_executor_args_replace')
  replace(event: ArgsReplaceEvent) {
    if (event.record.taskName !== 'greet') return;
    return { args: [`${String(event.args[0])} (audited)`] };
  }

  @OnTrigger('worker_execute_after')
  after({ record, outcome }: TriggerEvent<'worker_execute_after'>) {
    this.audit.lines.push(`${record.taskName}:${outcome.status}`);
  }
}

/** A global plugin: its handler runs after AuditPlugin's trigger-specific one, and sees its answer. */
@QTasksPlugin({ global: true, component: 'executor' })
class ShoutPlugin {
  @OnTrigger('task_executor_args_replace')
  shout(event: ArgsReplaceEvent) {
    if (event.record.taskName !== 'greet') return;
    return { args: [String(event.args[0]).toUpperCase()] };
  }
}

/** Global (module option): times every task, with an injected dependency. */
@Injectable()
class TimingInterceptor implements TaskInterceptor {
  constructor(private readonly audit: AuditLog) {}

  async intercept(ctx: TaskExecutionContext, next: CallHandler) {
    const started = performance.now();
    try {
      return await next.handle();
    } finally {
      this.audit.lines.push(`timed ${ctx.getHandler()} on ${ctx.getClass()?.name} in ${performance.now() - started >= 0 ? 'ms' : '?'}`);
    }
  }
}

const cache = new Map<number, string>([[7, 'cached seven']]);
const skipWhenCached: TaskInterceptor = {
  intercept: (ctx, next) => cache.get(ctx.args[0] as number) ?? next.handle(),
};
const doubleArgs: TaskInterceptor = {
  intercept: (ctx, next) => {
    ctx.args = ctx.args.map((arg) => (arg as number) * 2);
    return next.handle();
  },
};
const wrapResult: TaskInterceptor = { intercept: async (_ctx, next) => ({ wrapped: await next.handle() }) };
const catchErrors: TaskInterceptor = {
  intercept: async (ctx, next) => {
    try {
      return await next.handle();
    } catch (error) {
      ctx.task.logger.warn(`recovered from ${(error as Error).message}`);
      return 'fallback';
    }
  },
};

@Injectable()
class Tasks {
  followUps: string[] = [];

  @Task()
  greet(name: string) {
    return `hello ${name}`;
  }

  @Task({ interceptors: [skipWhenCached] })
  expensive(n: number) {
    return `computed ${n}`;
  }

  @Task()
  @UseTaskInterceptors(wrapResult, doubleArgs)
  sum(a: number, b: number) {
    return a + b;
  }

  @Task()
  @UseTaskInterceptors(catchErrors)
  fragile() {
    throw new Error('fragile broke');
  }

  @Task({ echo: true })
  async echoed(ctx: TaskContext, label: string) {
    await ctx.progress({ percent: 50 });
    const followUp = await ctx.client.add('greet', [`follow-up of ${ctx.uuid}`]);
    return {
      uuid: ctx.uuid,
      taskName: ctx.taskName,
      attempt: ctx.attempt,
      nestLogger: ctx.logger instanceof Logger,
      signal: ctx.signal instanceof AbortSignal && !ctx.signal.aborted,
      label,
      followUp: followUp.uuid,
    };
  }

  @Task()
  decorated(prefix: string, @TaskCtx() ctx: TaskContext) {
    return `${prefix} ${ctx.taskName} #${ctx.attempt}`;
  }
}

describe('Nest plugins, interceptors and the task context', () => {
  let app: Awaited<ReturnType<typeof startNestApp>>;
  let client: QTasksClient;
  let audit: AuditLog;

  beforeAll(async () => {
    app = await startNestApp({ name: uniqueAppName('nest-plugins'), url: inject('redisUrl'), interceptors: [TimingInterceptor] }, [
      AuditLog,
      AuditPlugin,
      ShoutPlugin,
      TimingInterceptor,
      Tasks,
    ]);
    client = app.get(QTasksClient);
    audit = app.get(AuditLog);
  });
  afterAll(async () => app?.close());

  it('an @QTasksPlugin class is discovered with its dependencies; @OnTrigger methods answer their triggers', async () => {
    // AuditPlugin (registered for the trigger) first, then the global ShoutPlugin on its answer.
    expect(await client.task(Tasks, 'greet').run('ann')).toBe('hello ANN (AUDITED)');
    expect(audit.lines).toContain('greet:success');
  });

  it('a global interceptor (class, with DI) wraps every task', async () => {
    const from = audit.lines.length;
    await client.task(Tasks, 'greet').run('bob');
    await client.task(Tasks, 'decorated').run('hi');
    // The interceptor's own lines from these two runs (the plugin's are `<task>:<status>`).
    expect(audit.lines.slice(from).filter((line) => line.startsWith('timed '))).toEqual([
      'timed greet on Tasks in ms',
      'timed decorated on Tasks in ms',
    ]);
  });

  it('per-task interceptors: skip, replace arguments, replace the result, catch errors', async () => {
    expect(await client.task(Tasks, 'expensive').run(7)).toBe('cached seven');
    expect(await client.task(Tasks, 'expensive').run(8)).toBe('computed 8');
    expect(await client.task(Tasks, 'sum').run(1, 2)).toEqual({ wrapped: 6 });
    expect(await client.task(Tasks, 'fragile').run()).toBe('fallback');
  });

  it('echo: the context comes first; uuid, name, attempt, Nest logger, signal, progress and a client for follow-ups', async () => {
    const handle = client.task(Tasks, 'echoed');
    // @ts-expect-error the context is not an enqueue argument
    void (() => handle.add(undefined as unknown as TaskContext, 'x'));
    const record = await client.run('echoed', ['first'], { timeout: 15_000 });
    expect(record.returning).toMatchObject({ uuid: record.uuid, taskName: 'echoed', attempt: 1, nestLogger: true, signal: true, label: 'first' });
    expect(record.progress).toEqual({ percent: 50 });
    const followUp = await client.wait((record.returning as { followUp: string }).followUp, { timeout: 15_000 });
    expect(followUp.returning).toBe(`hello FOLLOW-UP OF ${record.uuid.toUpperCase()} (AUDITED)`);
  });

  it('@TaskCtx() marks the context parameter anywhere; the typed handle leaves it out', async () => {
    const result: string = await client.task(Tasks, 'decorated').run('hi');
    expect(result).toBe('hi decorated #1');
  });
});
