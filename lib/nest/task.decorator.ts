import { InvalidOptionError, shownValue } from '../core/errors.js';
import type { TaskOptions } from '../core/task-registry.js';
import { decoratedMethod } from './decorated-method.js';
import { defineMethodMetadata } from './method-metadata.js';
import type { InterceptorRef } from './task-context.decorators.js';
import { TASK_METADATA } from './tokens.js';

/** `@Task()` options: the core ones, with interceptors that may be classes resolved by Nest. */
export type NestTaskOptions = Omit<TaskOptions, 'interceptors'> & { interceptors?: InterceptorRef[] };

/**
 * Marks a method of a provider or controller as a task. `@Task()` names it after the method, `@Task('name')` or
 * `@Task({ name, priority, retry, maxTime, echo, ... })` sets options. The method runs on its own
 * instance, so injected dependencies work.
 */
export function Task(nameOrOptions: string | NestTaskOptions = {}): MethodDecorator {
  const options: NestTaskOptions = typeof nameOrOptions === 'string' ? { name: nameOrOptions } : nameOrOptions;
  // The explorer reads null options as "no @Task()": the method would be skipped without a word.
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new InvalidOptionError(`@Task() takes a task name or an object of options, got ${shownValue(nameOrOptions)}.`);
  }
  return (target, key, descriptor) => {
    defineMethodMetadata(TASK_METADATA, options, target, key, decoratedMethod('@Task()', target, key, descriptor));
    return descriptor;
  };
}
