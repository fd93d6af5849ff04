import type { TaskOptions } from '../core/task-registry.js';
import { TASK_METADATA } from './tokens.js';

/**
 * Marks a provider method as a task. `@Task()` names it after the method, `@Task('name')` or
 * `@Task({ name, priority, description, tags })` sets it. The method runs on its own instance,
 * so injected dependencies work.
 */
export function Task(nameOrOptions: string | TaskOptions = {}): MethodDecorator {
  const options: TaskOptions = typeof nameOrOptions === 'string' ? { name: nameOrOptions } : nameOrOptions;
  return (_target, _key, descriptor) => {
    Reflect.defineMetadata(TASK_METADATA, options, descriptor.value as object);
    return descriptor;
  };
}
