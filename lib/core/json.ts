import { errorMessage, NotSerializableError, PayloadTooLargeError } from './errors.js';

/**
 * JSON.stringify silently drops or rewrites what it cannot represent (functions vanish, NaN becomes
 * null, a Map becomes {}), which would hand a task different arguments than the caller passed.
 * This walks the value first and refuses anything that would not survive the round trip.
 */
// Built-ins whose content JSON.stringify drops (an Error's message and stack are not own enumerable
// fields, a buffer's bytes are no fields at all); other class instances (DTOs) keep their own fields.
const LOSSY_TYPES: Function[] = [Map, Set, WeakMap, WeakSet, WeakRef, Promise, RegExp, Error, ArrayBuffer, SharedArrayBuffer, DataView];

/**
 * The type of a value after the JSON round trip every task result makes: what `toJSON()` gives (a
 * Date becomes its ISO string), a result of `undefined` becomes `null`, a property that may hold
 * `undefined` becomes optional (JSON leaves it out), methods are dropped, and `unknown` or `any`
 * stay as they are. Types cannot tell getters or non-enumerable fields (an Error's message) from
 * plain fields: those stay typed, though JSON leaves them out.
 */
export type Jsonified<T> = 0 extends 1 & T
  ? T
  : unknown extends T
    ? T
    : T extends { toJSON(): infer J }
      ? Jsonified<J>
      : T extends undefined | void
        ? null
        : T extends string | number | boolean | null
          ? T
          : T extends readonly unknown[]
            ? { -readonly [I in keyof T]: Jsonified<T[I]> }
            : T extends object
              ? JsonifiedObject<T>
              : never;

/**
 * A task's argument list as its record holds it: each argument as JSON gives it back (a Date as
 * its ISO string, a class instance as its fields). An optional argument left out is left out of
 * the list (see argsToJson), so it may still be undefined, never null.
 */
export type JsonifiedArgs<A extends readonly unknown[]> = {
  -readonly [I in keyof A]: Jsonified<Exclude<A[I], undefined>> | Extract<A[I], undefined>;
};

type Method = (...args: never[]) => unknown;
/** Keys JSON writes for sure, keys it leaves out when they hold undefined, and none of the methods. */
type JsonifiedObject<T> = Flat<
  { [K in keyof T as T[K] extends Method | undefined ? never : undefined extends T[K] ? never : K]: Jsonified<T[K]> } & {
    [K in keyof T as T[K] extends Method | undefined ? never : undefined extends T[K] ? K : never]?: Jsonified<Exclude<T[K], undefined>>;
  }
>;
type Flat<T> = { [K in keyof T]: T[K] };

export function toJson(value: unknown, what: string): string {
  const ancestors: object[] = [];
  let problem: Problem | undefined;
  try {
    problem = problemIn(value, ancestors);
    if (!problem) return JSON.stringify(value);
  } catch (error) {
    // A getter or a Proxy trap threw: the walk stopped where `ancestors` and `trail` say.
    problem = thrownProblem(ancestors.length, error);
  }
  throw new NotSerializableError(what, `$${problem.path}`, problem.reason);
}

/**
 * A task's result as its record keeps it (a result of `undefined` is stored as null): in the main
 * thread for a task run there, in the thread for a thread task, so both store the same text.
 */
export function resultToJson(taskName: string, result: unknown): string {
  return toJson(result ?? null, `The result of task "${taskName}"`);
}

/**
 * A task's argument list as JSON. A trailing `undefined` is an optional parameter left out
 * (`run(1, undefined)`), as if not given: JSON has no place for it. One in the middle would shift
 * the others, so it is refused.
 */
export function argsToJson(args: unknown[], what: string): string {
  let end = args.length;
  while (end > 0 && args[end - 1] === undefined) end--;
  return toJson(end === args.length ? args : args.slice(0, end), what);
}

/** A task's argument list as its record keeps it: JSON, of at most `maxPayloadBytes`. */
export function storedArgsJson(taskName: string, args: unknown[], maxPayloadBytes: number): string {
  const argsJson = argsToJson(args, `Arguments of task "${taskName}"`);
  const bytes = Buffer.byteLength(argsJson);
  if (bytes > maxPayloadBytes) throw new PayloadTooLargeError(taskName, bytes, maxPayloadBytes);
  return argsJson;
}

/** What cannot be stored, and where below the value it sits (built only on the way out). */
interface Problem {
  path: string;
  reason: string;
}

/**
 * Deeper values are refused: the walk (and JSON.stringify, a little further down) would overflow
 * the stack a few thousand levels down, from wherever the add was called.
 */
const MAX_JSON_DEPTH = 1000;

/**
 * The key or index the walk is at in each object on its way down (`LISTING` while it lists that
 * object's keys): what names the place of a getter or a Proxy trap that throws, without a path
 * string built for clean values. One for the module, so a walk only writes into it.
 */
const trail: (string | number)[] = [];
const LISTING = -1;

/**
 * The first value that would not survive JSON, or undefined. Every add walks its arguments, so
 * the walk allocates nothing for clean values: no path strings, no entry arrays.
 * `ancestors` holds the objects on the way down, to find cycles.
 */
function problemIn(value: unknown, ancestors: object[], throughToJson = false): Problem | undefined {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return undefined;
    case 'number':
      return Number.isFinite(value) ? undefined : { path: '', reason: `is ${value}` };
    case 'bigint':
      return { path: '', reason: 'is a BigInt' };
    case 'function':
      return { path: '', reason: 'is a function' };
    case 'symbol':
      return { path: '', reason: 'is a symbol' };
    case 'undefined':
      return { path: '', reason: 'is undefined' };
  }
  if (value === null) return undefined;
  const object = value as Record<string, unknown>;
  // JSON writes what toJSON gives (a Date's string), once per value: that is what must survive.
  if (typeof object.toJSON === 'function' && !throughToJson) return shownByToJson(object, ancestors);
  if (ancestors.includes(object)) return { path: '', reason: 'is a circular reference' };
  const prototype = Object.getPrototypeOf(object) as object | null;
  if (prototype !== Object.prototype && prototype !== Array.prototype && prototype !== null) {
    // JSON writes a boxed number, BigInt or symbol as its primitive: `new Number(NaN)` as null.
    if (object instanceof Number || object instanceof BigInt || object instanceof Symbol) return problemIn(object.valueOf(), ancestors);
    const lossy = LOSSY_TYPES.find((type) => object instanceof type);
    if (lossy) return { path: '', reason: `is ${/^[AEIOU]/.test(lossy.name) ? 'an' : 'a'} ${lossy.name}, which JSON turns into {}` };
  }
  if (ancestors.length >= MAX_JSON_DEPTH) return { path: '', reason: `is nested deeper than ${MAX_JSON_DEPTH} levels` };
  const level = ancestors.push(object) - 1;
  trail[level] = LISTING;
  let problem: Problem | undefined;
  if (Array.isArray(object)) {
    for (let index = 0; index < object.length && !problem; index++) {
      trail[level] = index;
      problem = problemIn(object[index], ancestors);
      if (problem) problem.path = `[${index}]${problem.path}`;
    }
  } else {
    for (const key of Object.keys(object)) {
      trail[level] = key;
      const item = object[key];
      // JSON drops undefined properties; that loses nothing the receiver could tell apart.
      if (item === undefined) continue;
      problem = problemIn(item, ancestors);
      if (problem) {
        problem.path = `.${key}${problem.path}`;
        break;
      }
    }
  }
  ancestors.pop();
  return problem;
}

function shownByToJson(object: Record<string, unknown>, ancestors: object[]): Problem | undefined {
  // Its toJSON() answers null, which the walk would take for a value given as null.
  if (object instanceof Date && Number.isNaN(object.getTime())) return { path: '', reason: 'is an invalid Date, which JSON turns into null' };
  let shown: unknown;
  try {
    shown = (object.toJSON as () => unknown)();
  } catch (error) {
    return { path: '', reason: `has a toJSON() that throws (${errorMessage(error)})` };
  }
  const problem = problemIn(shown, ancestors, true);
  if (problem?.path === '') problem.reason = `has a toJSON() whose value ${problem.reason}`;
  return problem;
}

/** What a throw inside the walk means, `depth` objects down (`ancestors` was not unwound). */
function thrownProblem(depth: number, error: unknown): Problem {
  const listing = depth > 0 && trail[depth - 1] === LISTING;
  let path = '';
  for (let level = 0; level < (listing ? depth - 1 : depth); level++) {
    const at = trail[level]!;
    path += typeof at === 'number' ? `[${at}]` : `.${at}`;
  }
  const how = listing ? 'threw when its keys were listed' : 'threw when read';
  return { path, reason: `${how} (${errorMessage(error)})` };
}
