import { Controller, Injectable, Logger, Module, Scope, type INestApplicationContext, type Provider, type Type } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { afterEach, describe, expect, inject, it, vi } from 'vitest';
import {
  InvalidOptionError,
  OnTrigger,
  QTasksClient,
  QTasksModule,
  QTasksPlugin,
  Task,
  UnknownTaskError,
  TaskContext,
  UseTaskInterceptors,
  type ArgsReplaceEvent,
  type CallHandler,
  type TaskExecutionContext,
  type TaskInterceptor,
  type TriggerEvent,
} from '../../lib/index.js';
import { uniqueAppName } from '../helpers/names.js';

@Injectable()
class Multiplier {
  readonly factor = 2;
}

@Injectable()
class MathTasks {
  constructor(private readonly multiplier: Multiplier) {}

  @Task()
  double(n: number) {
    return n * this.multiplier.factor;
  }
}

@Injectable({ scope: Scope.TRANSIENT })
class TransientTasks {
  constructor(private readonly multiplier: Multiplier) {}

  @Task()
  triple(n: number) {
    return n * this.multiplier.factor + n;
  }
}

/** Counts the tasks it sees finish: registered twice, it would count each one twice. */
@QTasksPlugin()
class CountingPlugin {
  readonly finished: string[] = [];

  @OnTrigger('worker_execute_after')
  after({ record }: TriggerEvent<'worker_execute_after'>) {
    this.finished.push(record.uuid);
  }
}

/** Takes its handle while Nest builds it, before the tasks are registered. */
@Injectable()
class Reporter {
  readonly double;

  constructor(client: QTasksClient) {
    this.double = client.task(MathTasks, 'double');
  }
}

@Injectable()
class BaseExporter {
  @Task('base-export')
  export(id: number) {
    return `base ${id}`;
  }
}

@Injectable()
class CsvExporter extends BaseExporter {
  @Task('csv-export')
  override export(id: number) {
    return `csv ${id}`;
  }
}

/** Not a provider, and no task of its own: its handle is its nearest base's task. */
class TsvExporter extends CsvExporter {}

/** A token class: Nest builds one of its subclasses in its place (`useClass`). */
@Injectable()
class Notifier {
  protected readonly channel: string = 'none';

  @Task('notify')
  notify(id: number) {
    return `${this.channel} ${id}`;
  }
}

@Injectable()
class SmsNotifier extends Notifier {
  protected override readonly channel = 'sms';
}

@Injectable()
class MailNotifier extends Notifier {
  @Task('mail-notify')
  override notify(id: number) {
    return `mail ${id}`;
  }
}

/** A controller's task runs on the controller Nest built, as @nestjs/schedule's @Cron does. */
@Controller()
class ReportsController {
  constructor(private readonly multiplier: Multiplier) {}

  @Task()
  scaleReport(n: number) {
    return n * this.multiplier.factor;
  }
}

@Controller({ scope: Scope.REQUEST })
class RequestScopedController {
  @Task()
  perRequest() {
    return 'never';
  }
}

/** Built per request: a singleton depending on it is built per request too. */
@Injectable({ scope: Scope.REQUEST })
class RequestTenant {
  readonly name = 'acme';
}

/** Request-scoped through its dependency: there is no instance of it outside a request. */
@QTasksPlugin()
class TenantPlugin {
  constructor(private readonly tenant: RequestTenant) {}

  @OnTrigger('task_executor_args_replace')
  replace(event: ArgsReplaceEvent) {
    return { args: [...event.args, this.tenant.name] };
  }
}

/** Transient as declared: each class injecting it gets an instance of its own. */
@QTasksPlugin()
@Injectable({ scope: Scope.TRANSIENT })
class PerConsumerPlugin {
  @OnTrigger('worker_execute_after')
  after() {}
}

@Injectable()
class FirstConsumer {
  constructor(readonly plugin: PerConsumerPlugin) {}
}

@Injectable()
class SecondConsumer {
  constructor(readonly plugin: PerConsumerPlugin) {}
}

/** Transient, with a dependency of the app's module (not one QTasksModule sees). */
@Injectable({ scope: Scope.TRANSIENT })
class SuffixInterceptor implements TaskInterceptor {
  constructor(private readonly multiplier: Multiplier) {}

  async intercept(_ctx: TaskExecutionContext, next: CallHandler) {
    return `${String(await next.handle())} x${this.multiplier.factor}`;
  }
}

@Injectable()
class LabelTasks {
  @Task()
  @UseTaskInterceptors(SuffixInterceptor)
  label(text: string) {
    return text;
  }
}

/** Listed in no module: Nest builds it, one instance for every task it wraps, as for @UseInterceptors(). */
@Injectable()
class RunCounter implements TaskInterceptor {
  private runs = 0;

  async intercept(_ctx: TaskExecutionContext, next: CallHandler) {
    this.runs += 1;
    return `${String(await next.handle())} (run ${this.runs})`;
  }
}

@Injectable()
class CountedTasks {
  @Task()
  @UseTaskInterceptors(RunCounter)
  first() {
    return 'first';
  }

  @Task({ interceptors: [RunCounter] })
  second() {
    return 'second';
  }
}

@Injectable()
class ContextTasks {
  @Task({ echo: true })
  loggerKind(ctx: TaskContext) {
    return ctx.logger instanceof Logger;
  }
}

/** A decorator that wraps the method it decorates, as tracing or transaction decorators do. */
function Traced(): MethodDecorator {
  return (_target, _key, descriptor: PropertyDescriptor) => {
    const original = descriptor.value as (...args: unknown[]) => unknown;
    descriptor.value = async function (this: unknown, ...args: unknown[]) {
      return `traced ${String(await original.apply(this, args))}`;
    };
    return descriptor;
  };
}

const exclaim: TaskInterceptor = { intercept: async (_ctx, next) => `${String(await next.handle())}!` };

@Injectable()
class ReplacedMethodTasks {
  constructor() {
    this.callback = this.callback.bind(this);
  }

  @Task()
  callback(n: number) {
    return n + 1;
  }

  @Traced()
  @Task()
  @UseTaskInterceptors(exclaim)
  wrapped(text: string) {
    return text;
  }
}

/** Its handler is bound in the constructor, and the other one wrapped by a decorator above @OnTrigger(). */
@QTasksPlugin()
class ReplacedHandlerPlugin {
  readonly seen: string[] = [];

  constructor() {
    this.before = this.before.bind(this);
  }

  @OnTrigger('worker_execute_before')
  before({ record }: TriggerEvent<'worker_execute_before'>) {
    this.seen.push(`before ${record.uuid}`);
  }

  @Traced()
  @OnTrigger('worker_execute_after')
  async after({ record }: TriggerEvent<'worker_execute_after'>) {
    this.seen.push(`after ${record.uuid}`);
  }
}

/** Has a trigger handler but no @QTasksPlugin(): nothing registers it. */
@Injectable()
class UnmarkedPlugin {
  @OnTrigger('worker_execute_before')
  before() {}
}

describe('QTasksModule and the kinds of providers', () => {
  const url = inject('redisUrl');
  let app: INestApplicationContext | undefined;
  afterEach(async () => {
    vi.restoreAllMocks();
    await app?.close();
    app = undefined;
  });

  async function boot(providers: Provider[], controllers: Type[] = []): Promise<INestApplicationContext> {
    @Module({ imports: [QTasksModule.forRoot({ name: uniqueAppName('providers'), url })], providers, controllers })
    class AppModule {}
    app = await Test.createTestingModule({ imports: [AppModule] }).compile();
    return app.init();
  }

  it('skips tasks of a transient provider with a warning saying what to do, instead of running them on an unbuilt instance', async () => {
    const warn = vi.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const client = (await boot([Multiplier, TransientTasks])).get(QTasksClient);
    expect(warn).toHaveBeenCalledWith(
      'TransientTasks.triple is on a transient provider; tasks need a singleton, so it is skipped: ' +
        'give TransientTasks the default scope, with no request-scoped dependency',
    );
    await expect(client.add('triple', [1])).rejects.toThrow(UnknownTaskError);
  });

  it('registers the tasks of a controller, run on its instance with its dependencies', async () => {
    const client = (await boot([Multiplier], [ReportsController])).get(QTasksClient);
    expect((await client.run('scaleReport', [4], { timeout: 15_000 })).returning).toBe(8);
    expect(await client.task(ReportsController, 'scaleReport').run(5)).toBe(10);
  });

  it('skips tasks of a request-scoped controller with a warning, as those of a request-scoped provider', async () => {
    const warn = vi.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const client = (await boot([], [RequestScopedController])).get(QTasksClient);
    expect(warn).toHaveBeenCalledWith(
      'RequestScopedController.perRequest is on a request-scoped controller; tasks need a singleton, so it is skipped: ' +
        'give RequestScopedController the default scope, with no request-scoped dependency',
    );
    await expect(client.add('perRequest')).rejects.toThrow(UnknownTaskError);
  });

  it('skips a plugin that depends on a request-scoped provider with a warning, instead of running its handlers on an unbuilt instance', async () => {
    const warn = vi.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const client = (await boot([Multiplier, MathTasks, RequestTenant, TenantPlugin])).get(QTasksClient);
    expect(warn).toHaveBeenCalledWith(
      'Plugin TenantPlugin is a request-scoped provider; plugins need a singleton, so it is skipped: ' +
        'give TenantPlugin the default scope, with no request-scoped dependency',
    );
    expect(await client.run('double', [21], { timeout: 15_000 })).toMatchObject({ status: 'success', returning: 42 });
  });

  it('keeps the scope an @Injectable() under @QTasksPlugin() gives the class (a transient plugin is no singleton, so it is skipped)', async () => {
    const warn = vi.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const started = await boot([PerConsumerPlugin, FirstConsumer, SecondConsumer]);
    expect(started.get(FirstConsumer).plugin).not.toBe(started.get(SecondConsumer).plugin);
    expect(warn).toHaveBeenCalledWith(
      'Plugin PerConsumerPlugin is a transient provider; plugins need a singleton, so it is skipped: ' +
        'give PerConsumerPlugin the default scope, with no request-scoped dependency',
    );
  });

  it('builds an interceptor listed as a transient provider with the dependencies of its own module', async () => {
    const client = (await boot([Multiplier, SuffixInterceptor, LabelTasks])).get(QTasksClient);
    expect(await client.task(LabelTasks, 'label').run('hi')).toBe('hi x2');
  });

  it('builds an interceptor class no module lists once, shared by every task it wraps', async () => {
    const client = (await boot([CountedTasks])).get(QTasksClient);
    expect(await client.task(CountedTasks, 'first').run()).toBe('first (run 1)');
    expect(await client.task(CountedTasks, 'second').run()).toBe('second (run 2)');
  });

  it("tells what it skips through the module's logger option, not Nest's Logger", async () => {
    const logger = { log: vi.fn(), warn: vi.fn(), error: vi.fn() };
    const nestWarn = vi.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    @Module({
      imports: [QTasksModule.forRoot({ name: uniqueAppName('providers'), url, logger })],
      providers: [Multiplier, TransientTasks, UnmarkedPlugin],
    })
    class AppModule {}
    app = await Test.createTestingModule({ imports: [AppModule] }).compile();
    await app.init();
    expect(logger.warn).toHaveBeenCalledWith(expect.stringContaining('TransientTasks.triple is on a transient provider'));
    expect(logger.warn).toHaveBeenCalledWith(expect.stringContaining('UnmarkedPlugin.before has @OnTrigger()'));
    expect(nestWarn).not.toHaveBeenCalled();
  });

  it('keeps the Nest loggers when logger and taskLogger are given as undefined', async () => {
    const nestWarn = vi.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const consoleWarn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    @Module({
      imports: [QTasksModule.forRoot({ name: uniqueAppName('providers'), url, logger: undefined, taskLogger: undefined })],
      providers: [Multiplier, TransientTasks, ContextTasks],
    })
    class AppModule {}
    app = await Test.createTestingModule({ imports: [AppModule] }).compile();
    await app.init();
    expect(nestWarn).toHaveBeenCalledWith(expect.stringContaining('TransientTasks.triple is on a transient provider'));
    expect(await app.get(QTasksClient).task(ContextTasks, 'loggerKind').run()).toBe(true);
    expect(consoleWarn).not.toHaveBeenCalled();
  });

  it('registers a task whose method was since replaced: bound in the constructor, or wrapped by a decorator above @Task()', async () => {
    const client = (await boot([ReplacedMethodTasks])).get(QTasksClient);
    expect(await client.task(ReplacedMethodTasks, 'callback').run(1)).toBe(2);
    expect(await client.task(ReplacedMethodTasks, 'wrapped').run('hi')).toBe('traced hi!');
  });

  it('registers plugin handlers whose methods were since replaced: bound in the constructor, or wrapped by a decorator above @OnTrigger()', async () => {
    const started = await boot([Multiplier, MathTasks, ReplacedHandlerPlugin]);
    const record = await started.get(QTasksClient).run('double', [1], { timeout: 15_000 });
    expect(started.get(ReplacedHandlerPlugin).seen).toEqual([`before ${record.uuid}`, `after ${record.uuid}`]);
  });

  it('warns about an @OnTrigger() method of a class that is no @QTasksPlugin(), which would never run', async () => {
    const warn = vi.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    await boot([UnmarkedPlugin]);
    expect(warn).toHaveBeenCalledWith(
      'UnmarkedPlugin.before has @OnTrigger() but UnmarkedPlugin is not a plugin, so it never runs: mark UnmarkedPlugin with @QTasksPlugin()',
    );
  });

  it('registers the tasks and plugins of an aliased provider (useExisting) once', async () => {
    const started = await boot([
      Multiplier,
      MathTasks,
      { provide: 'MATH_ALIAS', useExisting: MathTasks },
      CountingPlugin,
      { provide: 'PLUGIN_ALIAS', useExisting: CountingPlugin },
    ]);
    const record = await started.get(QTasksClient).run('double', [21], { timeout: 15_000 });
    expect(record.returning).toBe(42);
    expect(started.get(CountingPlugin).finished).toEqual([record.uuid]);
  });

  it('fails the bootstrap when one plugin class is listed in two modules, naming both, instead of running its handlers twice', async () => {
    @Module({ providers: [CountingPlugin] })
    class BillingModule {}
    @Module({ providers: [CountingPlugin] })
    class ReportsModule {}
    @Module({ imports: [QTasksModule.forRoot({ name: uniqueAppName('plugin-twice'), url }), BillingModule, ReportsModule], providers: [Multiplier, MathTasks] })
    class AppModule {}
    app = await Test.createTestingModule({ imports: [AppModule] }).compile();
    const failure = await app.init().catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(InvalidOptionError);
    expect((failure as Error).message).toBe(
      'Plugin CountingPlugin has two instances, in BillingModule and in ReportsModule, each of which would run its handlers on every trigger: ' +
        "list it in one module's providers (and export it from there).",
    );
  });

  it('fails the bootstrap when one plugin class is listed twice in one module, under two tokens, naming the tokens', async () => {
    @Module({ imports: [QTasksModule.forRoot({ name: uniqueAppName('plugin-two-tokens'), url })], providers: [Multiplier, MathTasks, CountingPlugin, { provide: 'counting', useClass: CountingPlugin }] })
    class AppModule {}
    app = await Test.createTestingModule({ imports: [AppModule] }).compile();
    const failure = await app.init().catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(InvalidOptionError);
    expect((failure as Error).message).toMatch(
      /^Plugin CountingPlugin has two instances, in AppModule \(provider (CountingPlugin|"counting")\) and in AppModule \(provider (CountingPlugin|"counting")\), /,
    );
    expect((failure as Error).message).toContain('"counting"');
  });

  it('a handle taken in a provider constructor works once the app is up', async () => {
    const started = await boot([Multiplier, MathTasks, Reporter]);
    expect(await started.get(Reporter).double.run(5)).toBe(10);
  });

  it('a handle on a subclass runs its own task, else its nearest base class', async () => {
    const client = (await boot([BaseExporter, CsvExporter])).get(QTasksClient);
    expect(await client.task(CsvExporter, 'export').run(1)).toBe('csv 1');
    expect(await client.task(BaseExporter, 'export').run(2)).toBe('base 2');
    expect(client.task(TsvExporter, 'export').name).toBe('csv-export');
  });

  it('a handle on a class provided by a subclass (useClass) runs the task of the subclass Nest built, and names the subclasses when several are', async () => {
    const client = (await boot([{ provide: Notifier, useClass: SmsNotifier }])).get(QTasksClient);
    expect(await client.task(Notifier, 'notify').run(3)).toBe('sms 3');
    await app!.close();
    const both = (await boot([{ provide: Notifier, useClass: SmsNotifier }, { provide: 'MAIL', useClass: MailNotifier }])).get(QTasksClient);
    await expect(both.task(Notifier, 'notify').run(4)).rejects.toThrow(
      new InvalidOptionError('Notifier.notify is a task of several classes that extend Notifier (SmsNotifier, MailNotifier): take the handle on the one meant.'),
    );
    expect(await both.task(MailNotifier, 'notify').run(5)).toBe('mail 5');
  });
});
