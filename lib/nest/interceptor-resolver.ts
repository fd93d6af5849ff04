import { Injectable } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { InvalidOptionError } from '../core/errors.js';
import type { TaskInterceptor } from '../core/interceptor.js';
import type { InterceptorRef } from './task-context.decorators.js';

/** Turns interceptor classes into instances: the provider when there is one, else a new one with DI. */
@Injectable()
export class InterceptorResolver {
  constructor(private readonly moduleRef: ModuleRef) {}

  async resolve(refs: readonly InterceptorRef[] = []): Promise<TaskInterceptor[]> {
    return Promise.all(
      refs.map(async (ref) => {
        if (typeof ref !== 'function') return ref;
        try {
          return this.moduleRef.get(ref, { strict: false });
        } catch {
          return this.moduleRef.create(ref).catch((error: unknown) => {
            throw new InvalidOptionError(
              `Interceptor ${ref.name} could not be built (${(error as Error).message.split('\n')[0]}); ` +
                `list it in the providers of a module so Nest builds it with its dependencies.`,
            );
          });
        }
      }),
    );
  }
}
