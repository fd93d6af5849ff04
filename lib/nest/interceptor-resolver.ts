import { Injectable, type Type } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { InvalidOptionError } from '../core/errors.js';
import type { TaskInterceptor } from '../core/interceptor.js';
import type { InterceptorRef } from './task-context.decorators.js';

/** Turns interceptor classes into instances: the provider when there is one, else one built with DI. */
@Injectable()
export class InterceptorResolver {
  /** Classes no module lists, each built once: Nest shares one instance of a @UseInterceptors() class too. */
  private readonly built = new Map<Type<TaskInterceptor>, Promise<TaskInterceptor>>();

  constructor(private readonly moduleRef: ModuleRef) {}

  async resolve(refs: readonly InterceptorRef[] = []): Promise<TaskInterceptor[]> {
    return Promise.all(refs.map(async (ref) => (typeof ref === 'function' ? this.instanceOf(ref) : ref)));
  }

  private async instanceOf(type: Type<TaskInterceptor>): Promise<TaskInterceptor> {
    // resolve, not get: a request-scoped or transient provider has no shared instance, so Nest
    // builds one for the queue in the provider's own module, with that module's dependencies.
    if (this.isProvider(type)) return this.moduleRef.resolve(type, undefined, { strict: false });
    let instance = this.built.get(type);
    if (!instance) this.built.set(type, (instance = this.build(type)));
    return instance;
  }

  private build(type: Type<TaskInterceptor>): Promise<TaskInterceptor> {
    return this.moduleRef.create(type).catch((error: unknown) => {
      throw new InvalidOptionError(
        `Interceptor ${type.name} could not be built (${(error as Error).message.split('\n')[0]}); ` +
          `list it in the providers of a module so Nest builds it with its dependencies.`,
      );
    });
  }

  /** Whether any module of the app lists the class (introspect throws for one none lists). */
  private isProvider(type: Type<TaskInterceptor>): boolean {
    try {
      this.moduleRef.introspect(type);
      return true;
    } catch {
      return false;
    }
  }
}
