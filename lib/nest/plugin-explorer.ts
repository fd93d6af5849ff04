import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { DiscoveryService, MetadataScanner, ModulesContainer } from '@nestjs/core';
import type { InstanceWrapper } from '@nestjs/core/injector/instance-wrapper.js';
import { InvalidOptionError } from '../core/errors.js';
import { QueueTasks } from '../core/queue-tasks.js';
import type { TriggerHandlers } from '../plugins/plugin.js';
import type { TriggerName } from '../plugins/triggers.js';
import { distinctInstances } from './distinct-instances.js';
import { instanceLabel } from './instance-label.js';
import { InterceptorResolver } from './interceptor-resolver.js';
import { methodMetadata } from './method-metadata.js';
import type { QTasksPluginOptions } from './plugin.decorators.js';
import { nonSingletonScope, providerKind } from './provider-scope.js';
import type { QTasksModuleOptions } from './qtasks.module.js';
import { PLUGIN_METADATA, QTASKS_OPTIONS, TRIGGER_METADATA } from './tokens.js';

/** Registers every `@QTasksPlugin()` provider or controller and the module's global interceptors at bootstrap. */
@Injectable()
export class PluginExplorer implements OnModuleInit {
  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly interceptors: InterceptorResolver,
    private readonly modules: ModulesContainer,
    private readonly queueTasks: QueueTasks,
    @Inject(QTASKS_OPTIONS) private readonly options: QTasksModuleOptions,
  ) {}

  async onModuleInit(): Promise<void> {
    this.queueTasks.useInterceptors(...(await this.interceptors.resolve(this.options.interceptors)));
    const registeredIn = new Map<Function, string>();
    for (const wrapper of distinctInstances(this.discovery)) {
      const { instance } = wrapper;
      if (!instance || typeof instance !== 'object') continue;
      const type = instance.constructor as Function;
      const options = Reflect.getMetadata(PLUGIN_METADATA, type) as QTasksPluginOptions | undefined;
      if (!options) this.warnUnmarked(instance as object, type);
      else if (this.isSingleton(wrapper, type)) {
        refuseSecondInstance(type, placeOf(wrapper, this.modules), registeredIn);
        this.register(instance as object, type, options);
      }
    }
  }

  /**
   * A plugin's handlers run on its discovered instance, which for a request-scoped or transient
   * one is a bare prototype whose constructor never ran: its injected dependencies would be
   * undefined when a trigger fires. Such a plugin is skipped with a warning, as tasks are.
   */
  private isSingleton(wrapper: InstanceWrapper, type: Function): boolean {
    const scope = nonSingletonScope(wrapper);
    if (!scope) return true;
    this.queueTasks.logger.warn(
      `Plugin ${type.name} is a ${scope} ${providerKind(wrapper)}; plugins need a singleton, so it is skipped: ` +
        `give ${type.name} the default scope, with no request-scoped dependency`,
    );
    return false;
  }

  /** The instance's `@OnTrigger()` methods, each with its triggers. */
  private triggerMethods(instance: object): { name: string; method: Function; triggers: TriggerName[] }[] {
    const prototype = Object.getPrototypeOf(instance) as object;
    return this.scanner.getAllMethodNames(prototype).flatMap((name) => {
      const method = (instance as Record<string, Function>)[name]!;
      const triggers = methodMetadata<TriggerName[]>(TRIGGER_METADATA, prototype, name, method);
      return triggers ? [{ name, method, triggers }] : [];
    });
  }

  /**
   * Handlers belong to a plugin, whose options (`component`, `global`) are its class decorator's:
   * on any other class they are never registered, which would otherwise go unnoticed.
   */
  private warnUnmarked(instance: object, type: Function): void {
    for (const { name } of this.triggerMethods(instance)) {
      this.queueTasks.logger.warn(`${type.name}.${name} has @OnTrigger() but ${type.name} is not a plugin, so it never runs: mark ${type.name} with @QTasksPlugin()`);
    }
  }

  private register(instance: object, type: Function, options: QTasksPluginOptions): void {
    const handlers: Record<string, Function> = {};
    for (const { method, triggers } of this.triggerMethods(instance)) {
      for (const trigger of triggers) {
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

/**
 * One plugin class listed by two modules (or twice in one, under two tokens) is two instances, each
 * running its handlers on every trigger: twice the effect (an argument appended twice), unnoticed.
 * Refused, as a task registered twice is; `registeredIn` maps each plugin class met so far to where.
 */
function refuseSecondInstance(type: Function, place: string, registeredIn: Map<Function, string>): void {
  const first = registeredIn.get(type);
  if (first === undefined) {
    registeredIn.set(type, place);
    return;
  }
  throw new InvalidOptionError(
    `Plugin ${type.name} has two instances, in ${first} and in ${place}, each of which would run its handlers on every trigger: ` +
      `list it in one module's providers (and export it from there).`,
  );
}

/** Where an instance comes from: its module, and what tells it from another there (see instanceLabel). */
function placeOf(wrapper: InstanceWrapper, modules: ModulesContainer): string {
  const label = instanceLabel(wrapper, modules);
  const module = wrapper.host?.name || 'a module';
  return label ? `${module} (${label})` : module;
}
