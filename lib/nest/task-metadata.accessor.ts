import { Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
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

  /** Where the TaskContext goes: `@TaskCtx()`'s parameter, or first with `echo`. */
  getContextIndex(prototype: object, methodName: string, options: NestTaskOptions): number | undefined {
    const marked = Reflect.getMetadata(TASK_CONTEXT_METADATA, prototype, methodName) as number | undefined;
    return marked ?? (options.echo ? 0 : undefined);
  }

  /** Parameter types emitted by the compiler (design:paramtypes), the context left out. */
  getParamTypes(prototype: object, methodName: string, contextIndex: number | undefined): unknown[] | undefined {
    const types = Reflect.getMetadata('design:paramtypes', prototype, methodName) as unknown[] | undefined;
    return types?.filter((_type, index) => index !== contextIndex);
  }
}
