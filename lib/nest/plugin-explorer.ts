import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { DiscoveryService, MetadataScanner } from '@nestjs/core';
import { InvalidOptionError } from '../core/errors.js';
import { QueueTasks } from '../core/queue-tasks.js';
import type { TriggerHandlers } from '../plugins/plugin.js';
import type { TriggerName } from '../plugins/triggers.js';
import { distinctProviders } from './distinct-providers.js';
import { InterceptorResolver } from './interceptor-resolver.js';
import type { QTasksPluginOptions } from './plugin.decorators.js';
import type { QTasksModuleOptions } from './qtasks.module.js';
import { PLUGIN_METADATA, QTASKS_OPTIONS, TRIGGER_METADATA } from './tokens.js';

/** Registers every `@QTasksPlugin()` provider and the module's global interceptors at bootstrap. */
@Injectable()
export class PluginExplorer implements OnModuleInit {
  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly interceptors: InterceptorResolver,
    private readonly queueTasks: QueueTasks,
    @Inject(QTASKS_OPTIONS) private readonly options: QTasksModuleOptions,
  ) {}

  async onModuleInit(): Promise<void> {
    this.queueTasks.useInterceptors(...(await this.interceptors.resolve(this.options.interceptors)));
    for (const { instance } of distinctProviders(this.discovery)) {
      if (!instance || typeof instance !== 'object') continue;
      const type = instance.constructor as Function;
      const options = Reflect.getMetadata(PLUGIN_METADATA, type) as QTasksPluginOptions | undefined;
      if (options) this.register(instance as object, type, options);
    }
  }

  private register(instance: object, type: Function, options: QTasksPluginOptions): void {
    const handlers: Record<string, Function> = {};
    for (const methodName of this.scanner.getAllMethodNames(Object.getPrototypeOf(instance) as object)) {
      const method = (instance as Record<string, Function>)[methodName]!;
      for (const trigger of (Reflect.getMetadata(TRIGGER_METADATA, method) as TriggerName[] | undefined) ?? []) {
        if (handlers[trigger]) throw new InvalidOptionError(`Plugin ${type.name} binds trigger "${trigger}" to two methods.`);
        handlers[trigger] = method.bind(instance);
      }
    }
    const triggers = Object.keys(handlers) as TriggerName[];
    this.queueTasks.addPlugin(
      { name: type.name, handlers: handlers as TriggerHandlers },
      { component: options.component, triggers: options.global ? undefined : triggers },
    );
  }
}
