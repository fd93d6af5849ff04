import { NotSerializableError } from './errors.js';

/**
 * JSON.stringify silently drops or rewrites what it cannot represent (functions vanish, NaN becomes
 * null, a Map becomes {}), which would hand a task different arguments than the caller passed.
 * This walks the value first and refuses anything that would not survive the round trip.
 */
// Built-ins whose content JSON.stringify drops; other class instances (DTOs) keep their own fields.
const LOSSY_TYPES: Function[] = [Map, Set, WeakMap, WeakSet, Promise, RegExp];

export function toJson(value: unknown, what: string): string {
  assertJsonSafe(value, what, '$');
  return JSON.stringify(value);
}

/** `ancestors` (for cycles) is made at the first object: most results are plain values. */
function assertJsonSafe(value: unknown, what: string, path: string, ancestors?: Set<object>): void {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return;
    case 'number':
      if (!Number.isFinite(value)) throw new NotSerializableError(what, path, `is ${value}`);
      return;
    case 'bigint':
      throw new NotSerializableError(what, path, 'is a BigInt');
    case 'function':
      throw new NotSerializableError(what, path, 'is a function');
    case 'symbol':
      throw new NotSerializableError(what, path, 'is a symbol');
    case 'undefined':
      throw new NotSerializableError(what, path, 'is undefined');
  }
  if (value === null) return;
  const object = value as object;
  if (typeof (object as { toJSON?: unknown }).toJSON === 'function') return;
  ancestors ??= new Set();
  if (ancestors.has(object)) throw new NotSerializableError(what, path, 'is a circular reference');
  const lossy = LOSSY_TYPES.find((type) => object instanceof type);
  if (lossy) throw new NotSerializableError(what, path, `is a ${lossy.name}, which JSON turns into {}`);
  ancestors.add(object);
  if (Array.isArray(object)) {
    object.forEach((item, index) => assertJsonSafe(item, what, `${path}[${index}]`, ancestors));
  } else {
    for (const [key, item] of Object.entries(object)) {
      // JSON drops undefined properties; that loses nothing the receiver could tell apart.
      if (item !== undefined) assertJsonSafe(item, what, `${path}.${key}`, ancestors);
    }
  }
  ancestors.delete(object);
}
