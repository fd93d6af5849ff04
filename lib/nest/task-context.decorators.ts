import type { Type } from '@nestjs/common';
import type { TaskInterceptor } from '../core/interceptor.js';
import { TASK_CONTEXT_METADATA, TASK_INTERCEPTORS_METADATA } from './tokens.js';

/** An interceptor instance, or a class Nest resolves (a provider, or built with its dependencies). */
export type InterceptorRef = TaskInterceptor | Type<TaskInterceptor>;

/** Marks the task parameter that receives the TaskContext; it is not one of the enqueue arguments. */
export function TaskCtx(): ParameterDecorator {
  return (target, key, index) => {
    if (key !== undefined) Reflect.defineMetadata(TASK_CONTEXT_METADATA, index, target, key);
  };
}

/** Interceptors around this task only (after the global ones), as Nest's @UseInterceptors. */
export function UseTaskInterceptors(...interceptors: InterceptorRef[]): MethodDecorator {
  return (_target, _key, descriptor) => {
    Reflect.defineMetadata(TASK_INTERCEPTORS_METADATA, interceptors, descriptor.value as object);
    return descriptor;
  };
}
