import {
  Logger,
  Module,
  type DynamicModule,
  type InjectionToken,
  type ModuleMetadata,
  type OptionalFactoryDependency,
  type Provider,
} from '@nestjs/common';
import { DiscoveryModule, ModulesContainer } from '@nestjs/core';
import { SchedulerRegistry } from '@nestjs/schedule';
import { Broker } from '../brokers/broker.js';
import { GlobalConfig } from '../configs/global-config.js';
import type { QTasksConfig } from '../core/config.js';
import { InvalidOptionError, shownValue } from '../core/errors.js';
import { checkKeys, QUEUE_TASKS_OPTION_KEYS, QueueTasks, type QueueTasksOptions } from '../core/queue-tasks.js';
import { isRedisAddress } from '../redis/connection.js';
import { Starter } from '../starters/starter.js';
import { Storage } from '../storages/storage.js';
import { QTasksTimer } from '../timers/timer.js';
import { WebView, type WebViewServerOptions } from '../webview/web-view.js';
import { Worker } from '../workers/worker.js';
import type { InterceptorRef } from './task-context.decorators.js';
import { runHooksOutermost } from './hook-order.js';
import { assertImportedOnce } from './imported-once.js';
import { InterceptorResolver } from './interceptor-resolver.js';
import { PluginExplorer } from './plugin-explorer.js';
import { QTasksClient } from './qtasks-client.js';
import { QTasksLifecycle } from './qtasks-lifecycle.js';
import { TaskExplorer } from './task-explorer.js';
import { TaskMetadataAccessor } from './task-metadata.accessor.js';
import type { ProcessDefaults } from './process-defaults.js';
import { QTASKS_OPTIONS, QTASKS_PROCESS_DEFAULTS } from './tokens.js';

export interface QTasksModuleOptions extends Omit<QueueTasksOptions, 'interceptors'> {
  /** Interceptors around every task (instances, or classes Nest resolves with their dependencies). */
  interceptors?: InterceptorRef[];
  /**
   * Whether this process fires timer schedules. Default: yes, except in a process started with
   * `QTasksStarter.runForever` (the worker-only entry), which fires none unless asked.
   */
  timers?: boolean;
  /**
   * Serves the dashboard (WebView) of this app while it runs, e.g. `{ port: 8180 }`; it reads the
   * same Redis. Injectable as `WebView` (null without this option).
   */
  webview?: WebViewServerOptions;
}

/**
 * What a forRootAsync factory may be. A wrapper of forRootAsync generic in its factory
 * (`F extends QTasksModuleOptionsFactory`) takes it as `QTasksModuleAsyncOptions<F>['useFactory']`,
 * which keeps the check of its keys for the wrapper's callers (README, QTasksModule).
 */
export type QTasksModuleOptionsFactory = (...args: any[]) => QTasksModuleOptions | Promise<QTasksModuleOptions>;

export interface QTasksModuleAsyncOptions<F extends QTasksModuleOptionsFactory = QTasksModuleOptionsFactory> extends Pick<ModuleMetadata, 'imports'> {
  /** What `useFactory` gets, in order: providers' tokens, as in a Nest factory provider. */
  inject?: (InjectionToken | OptionalFactoryDependency)[];
  /**
   * Returns the options. A key the module does not know, among them or in their `config`, is a
   * compile error naming it, as in forRoot's object literal (TypeScript checks no excess
   * properties in what a function returns, so the factory's type is checked here).
   */
  useFactory: [UnknownOptionKeys<Awaited<ReturnType<F>>>] extends [never]
    ? F
    : F & `${UnknownOptionKeys<Awaited<ReturnType<F>>>} is not an option of QTasksModule`;
}

/** Keys of the options `O` that the module does not know; an unknown setting as `config.<name>`. */
type UnknownOptionKeys<O> =
  | UnknownKeys<O, QTasksModuleOptions, ''>
  | (O extends { config?: infer Settings } ? UnknownKeys<Settings, QTasksConfig, 'config.'> : never);
/**
 * Keys of each object in `O` that `Known` lacks, after `prefix`; none for `any`, which may hold
 * anything. Methods pass, as at run time: an options class's methods are no keys of its instances.
 */
type UnknownKeys<O, Known, Prefix extends string> = 0 extends 1 & O
  ? never
  : O extends object
    ? `${Prefix}${Exclude<DataKeys<O>, keyof Known> & string}`
    : never;
type DataKeys<O> = { [K in keyof O]-?: O[K] extends Function ? never : K }[keyof O];

/** Every option of the module, for refusing a misspelt one (see QUEUE_TASKS_OPTION_KEYS). */
const MODULE_OPTION_KEYS: Record<keyof QTasksModuleOptions, true> = { ...QUEUE_TASKS_OPTION_KEYS, timers: true, webview: true };

/** Every component is a provider under its abstract class, so apps inject (and replace) each. */
const componentProviders: Provider[] = [
  {
    provide: QueueTasks,
    inject: [QTASKS_OPTIONS, ModulesContainer],
    // Interceptors are resolved by PluginExplorer, once Nest can build the classes among them;
    // timers and webview are the module's own options, which the engine would refuse. A logger
    // given as undefined (`logger: quiet ? silent : undefined`) keeps the Nest default, not the
    // engine's console.
    useFactory: ({ timers, webview, ...options }: QTasksModuleOptions, modules: ModulesContainer) => {
      assertImportedOnce(modules);
      runHooksOutermost(modules);
      const logger = options.logger ?? new Logger('QTasks');
      return new QueueTasks({ ...options, logger, taskLogger: options.taskLogger ?? nestTaskLogger, interceptors: [] });
    },
  },
  { provide: Broker, inject: [QueueTasks], useFactory: (app: QueueTasks) => app.broker },
  { provide: Storage, inject: [QueueTasks], useFactory: (app: QueueTasks) => app.storage },
  { provide: GlobalConfig, inject: [QueueTasks], useFactory: (app: QueueTasks) => app.globalConfig },
  { provide: Worker, inject: [QueueTasks], useFactory: (app: QueueTasks) => app.worker },
  { provide: Starter, inject: [QueueTasks], useFactory: (app: QueueTasks) => app.starter },
  {
    provide: QTasksTimer,
    inject: [
      QueueTasks,
      QTASKS_OPTIONS,
      { token: QTASKS_PROCESS_DEFAULTS, optional: true },
      { token: SchedulerRegistry, optional: true },
    ],
    // The jobs are listed in the app's SchedulerRegistry when it imports ScheduleModule.forRoot(),
    // else in one of the timer's own. The module imports no ScheduleModule: a second one would
    // run every @Cron and @Interval of the app a second time.
    useFactory: (app: QueueTasks, options: QTasksModuleOptions, defaults?: ProcessDefaults, appRegistry?: SchedulerRegistry) =>
      new QTasksTimer(app, { registry: appRegistry ?? new SchedulerRegistry(), enabled: options.timers ?? defaults?.timers ?? true }),
  },
  { provide: WebView, inject: [QueueTasks, QTASKS_OPTIONS], useFactory: moduleWebView },
  TaskMetadataAccessor,
  TaskExplorer,
  InterceptorResolver,
  PluginExplorer,
  QTasksLifecycle,
  QTasksClient,
];

// QTasksLifecycle too, for QTasksRootHooks in the app's root module.
const exported = [QueueTasks, Broker, Storage, GlobalConfig, Worker, Starter, QTasksClient, QTasksTimer, WebView, QTasksLifecycle];

/** The app's dashboard, when asked for: same name and Redis settings (failing fast while Redis is down). */
function moduleWebView(app: QueueTasks, options: QTasksModuleOptions): WebView | null {
  if (!options.webview) return null;
  if (options.backend === 'memory') {
    throw new InvalidOptionError('webview reads tasks from Redis, but backend "memory" keeps them inside this process: drop one of the two.');
  }
  const { url, redis, cluster, client } = options;
  if ((options.broker || options.storage) && !(url || redis || cluster || client)) {
    // The components keep their own connections, which may not be the default Redis.
    throw new InvalidOptionError('webview needs the Redis to read when broker or storage is passed in: give url, redis, cluster or client too.');
  }
  return new WebView({ ...options.webview, name: app.name, url, redis, cluster, client, logger: app.logger });
}

/** A running task's logger: a Nest Logger whose context names the task and its uuid. */
function nestTaskLogger(uuid: string, taskName: string): Logger {
  return new Logger(`${taskName} ${uuid}`);
}

@Module({})
export class QTasksModule {
  static forRoot(options: QTasksModuleOptions = {}): DynamicModule {
    return rootModule({ provide: QTASKS_OPTIONS, useFactory: () => checkedOptions(options, 'The options of QTasksModule.forRoot') });
  }

  static forRootAsync<F extends QTasksModuleOptionsFactory>(options: QTasksModuleAsyncOptions<F>): DynamicModule {
    if (typeof options?.useFactory !== 'function') {
      throw new InvalidOptionError('QTasksModule.forRootAsync needs useFactory: a function returning the options (useClass and useExisting are not supported).');
    }
    return rootModule(
      {
        provide: QTASKS_OPTIONS,
        inject: options.inject ?? [],
        useFactory: async (...args: unknown[]) =>
          checkedOptions(await options.useFactory(...args), 'What the useFactory of QTasksModule.forRootAsync returns'),
      },
      options.imports,
    );
  }
}

/**
 * The options, checked where a mistake would otherwise end in a TypeError far from its cause or
 * be silently ignored, as a misspelt key would (the core checks the settings in `config`, the
 * app name and the components).
 */
function checkedOptions(options: unknown, what: string): QTasksModuleOptions {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new InvalidOptionError(`${what} must be an object of options, got ${shownValue(options)}.`);
  }
  checkKeys(options, MODULE_OPTION_KEYS, 'QTasksModule');
  const { url, timers, interceptors } = options as QTasksModuleOptions;
  // Checked here too, not only by the connection: a forRoot mistake is told at import, before Nest builds anything.
  if (url !== undefined && !(typeof url === 'string' && isRedisAddress(url))) {
    throw new InvalidOptionError(`url must be a redis:// or rediss:// URL, or a Unix socket path; got ${shownValue(url)}.`);
  }
  if (timers !== undefined && typeof timers !== 'boolean') throw new InvalidOptionError(`timers must be true or false, got ${shownValue(timers)}.`);
  if (interceptors !== undefined && !(Array.isArray(interceptors) && interceptors.every(isInterceptorRef))) {
    throw new InvalidOptionError(`interceptors must be a list of interceptor classes or instances, got ${shownValue(interceptors)}.`);
  }
  return options as QTasksModuleOptions;
}

function isInterceptorRef(ref: unknown): boolean {
  return typeof ref === 'function' || typeof (ref as { intercept?: unknown } | null)?.intercept === 'function';
}

/** The global module around the components; only where the options come from differs. */
function rootModule(optionsProvider: Provider, imports: ModuleMetadata['imports'] = []): DynamicModule {
  return {
    module: QTasksModule,
    global: true,
    imports: [DiscoveryModule, ...imports],
    providers: [optionsProvider, ...componentProviders],
    exports: exported,
  };
}
