import { Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { InvalidOptionError } from '../core/errors.js';
import { TaskContext } from '../core/task-context.js';
import type { InterceptorRef } from './task-context.decorators.js';
import type { NestTaskOptions } from './task.decorator.js';
import { TASK_CONTEXT_METADATA, TASK_INTERCEPTORS_METADATA, TASK_METADATA } from './tokens.js';

/** Reads what `@Task()` recorded on a method. */
@Injectable()
export class TaskMetadataAccessor {
  constructor(private readonly reflector: Reflector) {}

  getTaskOptions(method: Function): NestTaskOptions | undefined {
    return this.reflector.get<NestTaskOptions | undefined>(TASK_METADATA, method);
  }

  /** `@UseTaskInterceptors()` ones, then those of the `interceptors` option. */
  getInterceptors(method: Function, options: NestTaskOptions): InterceptorRef[] {
    return [...(this.reflector.get<InterceptorRef[] | undefined>(TASK_INTERCEPTORS_METADATA, method) ?? []), ...(options.interceptors ?? [])];
  }

  /**
   * Where the TaskContext goes: `@TaskCtx()`'s parameter, or first with `echo`. A parameter typed
   * TaskContext that neither marks is refused: typed handles leave it out of the enqueue arguments,
   * so the worker would pass the first argument there and shift the others.
   */
  getContextIndex(prototype: object, methodName: string, options: NestTaskOptions, source: string): number | undefined {
    const marked = Reflect.getMetadata(TASK_CONTEXT_METADATA, prototype, methodName) as number | undefined;
    const contextIndex = marked ?? (options.echo ? 0 : undefined);
    const unmarked = this.paramTypes(prototype, methodName)?.findIndex((type, index) => type === TaskContext && index !== contextIndex) ?? -1;
    if (unmarked !== -1) {
      const echo = unmarked === 0 ? ', or set @Task({ echo: true })' : '';
      throw new InvalidOptionError(
        `${source} takes a TaskContext as parameter ${unmarked + 1}, which nothing marks: the worker would pass an enqueue argument there. ` +
          `Mark it with @TaskCtx()${echo}.`,
      );
    }
    return contextIndex;
  }

  /** Parameter types emitted by the compiler (design:paramtypes), the context left out. */
  getParamTypes(prototype: object, methodName: string, contextIndex: number | undefined): unknown[] | undefined {
    return this.paramTypes(prototype, methodName)?.filter((_type, index) => index !== contextIndex);
  }

  /** The method's parameter types as the compiler emitted them (none without emitDecoratorMetadata). */
  private paramTypes(prototype: object, methodName: string): unknown[] | undefined {
    return Reflect.getMetadata('design:paramtypes', prototype, methodName) as unknown[] | undefined;
  }
}
