import type { Type } from '@nestjs/common';
import { InvalidOptionError } from '../core/errors.js';
import type { TaskInterceptor } from '../core/interceptor.js';
import { decoratedMethod } from './decorated-method.js';
import { defineMethodMetadata } from './method-metadata.js';
import { TASK_CONTEXT_METADATA, TASK_INTERCEPTORS_METADATA } from './tokens.js';

/** An interceptor instance, or a class Nest resolves (a provider, or built with its dependencies). */
export type InterceptorRef = TaskInterceptor | Type<TaskInterceptor>;

/** Marks the task parameter that receives the TaskContext; it is not one of the enqueue arguments. */
export function TaskCtx(): ParameterDecorator {
  return (target, key, index) => {
    // A constructor's parameter gets providers, never a context: the mark would be ignored silently.
    if (key === undefined) {
      throw new InvalidOptionError(`@TaskCtx() marks a parameter of a task method, not of the constructor of ${(target as Function).name}.`);
    }
    Reflect.defineMetadata(TASK_CONTEXT_METADATA, index, target, key);
  };
}

/** Interceptors around this task only (after the global ones), as Nest's @UseInterceptors. */
export function UseTaskInterceptors(...interceptors: InterceptorRef[]): MethodDecorator {
  return (target, key, descriptor) => {
    defineMethodMetadata(TASK_INTERCEPTORS_METADATA, interceptors, target, key, decoratedMethod('@UseTaskInterceptors()', target, key, descriptor));
    return descriptor;
  };
}
