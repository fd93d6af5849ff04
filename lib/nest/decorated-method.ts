import { InvalidOptionError } from '../core/errors.js';

/**
 * The method a method decorator is applied to. A static method or an accessor is refused here:
 * the explorers read instance methods only, so the decorator would otherwise be ignored silently
 * (a static `@Task()` never registered, its add failing later as an unknown task). A property
 * (`send = async () => ...`) is refused too: tsc rejects it, but SWC and esbuild builds call the
 * decorator with no descriptor.
 */
export function decoratedMethod(decorator: string, target: object, key: string | symbol, descriptor: PropertyDescriptor | undefined): Function {
  const isStatic = typeof target === 'function';
  const owner = isStatic ? (target as Function).name : target.constructor.name;
  const where = `${owner}.${String(key)}`;
  if (isStatic) throw new InvalidOptionError(`${decorator} applies to instance methods, but ${where} is static.`);
  if (descriptor === undefined) {
    throw new InvalidOptionError(`${decorator} applies to methods, but ${where} is a property: make it a method (${String(key)}() { ... }).`);
  }
  if (typeof descriptor.value !== 'function') throw new InvalidOptionError(`${decorator} applies to methods, but ${where} is an accessor.`);
  return descriptor.value as Function;
}
