import { Injectable } from '@nestjs/common';
import { InvalidOptionError } from '../core/errors.js';
import { TaskContext } from '../core/task-context.js';
import { methodMetadata } from './method-metadata.js';
import type { InterceptorRef } from './task-context.decorators.js';
import type { NestTaskOptions } from './task.decorator.js';
import { TASK_CONTEXT_METADATA, TASK_INTERCEPTORS_METADATA, TASK_METADATA } from './tokens.js';

/** Reads what `@Task()` recorded on a method. */
@Injectable()
export class TaskMetadataAccessor {
  /** The options `@Task()` recorded for the method the instance runs (see defineMethodMetadata). */
  getTaskOptions(prototype: object, methodName: string, method: Function): NestTaskOptions | undefined {
    return methodMetadata<NestTaskOptions>(TASK_METADATA, prototype, methodName, method);
  }

  /** `@UseTaskInterceptors()` ones, then those of the `interceptors` option. */
  getInterceptors(prototype: object, methodName: string, method: Function, options: NestTaskOptions): InterceptorRef[] {
    return [...(methodMetadata<InterceptorRef[]>(TASK_INTERCEPTORS_METADATA, prototype, methodName, method) ?? []), ...(options.interceptors ?? [])];
  }

  /**
   * Where the TaskContext goes: `@TaskCtx()`'s parameter, or first with `echo`. Typed handles
   * leave a parameter typed TaskContext out of the enqueue arguments, so the place must match the
   * parameter's type (as far as the emitted types tell; see assertContextPlace).
   */
  getContextIndex(prototype: object, methodName: string, options: NestTaskOptions, source: string): number | undefined {
    const marked = Reflect.getMetadata(TASK_CONTEXT_METADATA, prototype, methodName) as number | undefined;
    const contextIndex = marked ?? (options.echo ? 0 : undefined);
    const how = marked === undefined ? 'with echo' : 'by @TaskCtx()';
    assertContextPlace(source, this.paramTypes(prototype, methodName) ?? [], contextIndex, how);
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

/** What the compiler emits for a parameter whose type it cannot name at run time. */
const UNTOLD_TYPES = new Set<unknown>([Object, Function]);

/**
 * Refuses a TaskContext the worker would pass elsewhere than the parameter typed for it: there, it
 * would get an enqueue argument, and the context would land on an argument's parameter. A type
 * the compiler emits as Object (an interface, a union) or Function (tsc's emit for a class imported
 * with `import type`) tells nothing, so it passes.
 */
function assertContextPlace(source: string, types: unknown[], contextIndex: number | undefined, how: string): void {
  const unmarked = types.findIndex((type, index) => type === TaskContext && index !== contextIndex);
  if (unmarked !== -1) {
    const echo = unmarked === 0 ? ', or set @Task({ echo: true })' : '';
    throw new InvalidOptionError(
      `${source} takes a TaskContext as parameter ${unmarked + 1}, which nothing marks: the worker would pass an enqueue argument there. ` +
        `Mark it with @TaskCtx()${echo}.`,
    );
  }
  const placed = contextIndex === undefined ? undefined : types[contextIndex];
  if (typeof placed === 'function' && placed !== TaskContext && !UNTOLD_TYPES.has(placed)) {
    throw new InvalidOptionError(
      `${source} gets its TaskContext as parameter ${contextIndex! + 1} (${how}), but that parameter is typed ${placed.name}: ` +
        `the context would replace an enqueue argument. Type it TaskContext, or move the mark to the context's parameter.`,
    );
  }
}
