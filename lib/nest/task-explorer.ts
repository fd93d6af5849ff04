import { Injectable, type OnModuleInit } from '@nestjs/common';
import { DiscoveryService, MetadataScanner, ModulesContainer } from '@nestjs/core';
import type { InstanceWrapper } from '@nestjs/core/injector/instance-wrapper.js';
import { assertPriority } from '../core/config.js';
import { QueueTasks } from '../core/queue-tasks.js';
import { distinctInstances } from './distinct-instances.js';
import { instanceLabel } from './instance-label.js';
import { InterceptorResolver } from './interceptor-resolver.js';
import { nonSingletonScope, providerKind } from './provider-scope.js';
import { TaskMetadataAccessor } from './task-metadata.accessor.js';

/** Finds every `@Task()` method of a provider or controller at bootstrap and registers it with the app's registry. */
@Injectable()
export class TaskExplorer implements OnModuleInit {
  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly metadata: TaskMetadataAccessor,
    private readonly queueTasks: QueueTasks,
    private readonly interceptors: InterceptorResolver,
    private readonly modules: ModulesContainer,
  ) {}

  async onModuleInit(): Promise<void> {
    for (const wrapper of distinctInstances(this.discovery)) await this.explore(wrapper);
  }

  private async explore(wrapper: InstanceWrapper): Promise<void> {
    const { instance } = wrapper;
    if (!instance || typeof instance !== 'object') return;
    const prototype = Object.getPrototypeOf(instance) as object;
    for (const methodName of this.scanner.getAllMethodNames(prototype)) {
      const method = (instance as Record<string, unknown>)[methodName] as Function;
      const options = this.metadata.getTaskOptions(prototype, methodName, method);
      if (!options) continue;
      const type = instance.constructor as Function;
      const source = `${type.name}.${methodName}`;
      const scope = nonSingletonScope(wrapper);
      if (scope) {
        this.queueTasks.logger.warn(
          `${source} is on a ${scope} ${providerKind(wrapper)}; tasks need a singleton, so it is skipped: ` +
            `give ${type.name} the default scope, with no request-scoped dependency`,
        );
        continue;
      }
      const name = options.name ?? methodName;
      if (options.priority !== undefined) assertPriority(options.priority, `priority of task "${name}" (${source})`);
      const contextIndex = this.metadata.getContextIndex(prototype, methodName, options, source);
      const interceptors = await this.interceptors.resolve(this.metadata.getInterceptors(prototype, methodName, method, options));
      this.queueTasks.registry.register({
        name,
        handler: method.bind(instance) as (...args: unknown[]) => unknown,
        options: { ...options, name, interceptors },
        source,
        owner: { type, method: methodName },
        module: wrapper.host?.name,
        instance: instanceLabel(wrapper, this.modules),
        contextIndex,
        paramTypes: this.metadata.getParamTypes(prototype, methodName, contextIndex),
      });
    }
  }
}
