import type { ValidationError } from 'class-validator';
import { shownValue, TaskValidationError } from '../../core/errors.js';
import { argsToJson } from '../../core/json.js';
import type { TaskDefinition, TaskOptions, TaskRegistry } from '../../core/task-registry.js';
import type { TaskPlugin } from '../plugin.js';
import type { TriggerEvent } from '../triggers.js';

/** Parameter types that are not DTOs: left as they are (but Date, see revivedDate). */
const PLAIN_TYPES: unknown[] = [Object, String, Number, Boolean, Array, Function, Symbol, BigInt, Date, Promise, Map, Set];

/**
 * Typed arguments. Validation with class-validator: each argument whose parameter type is a class
 * is turned into that class (class-transformer) and validated at enqueue, from the JSON the record
 * will keep, as the worker will get it (a failure rejects the add, nothing is enqueued; the stored
 * arguments stay the JSON the caller gave), then turned and validated again before the task runs
 * (the task gets the class instances). Converting the stored JSON, never an instance, applies each
 * `@Transform` and `@Expose` once. A `Date` parameter is checked the same way and gets a Date back
 * from the ISO string JSON made of it.
 */
export class ValidationPlugin implements TaskPlugin {
  readonly name = 'ValidationPlugin';
  readonly handlers = {
    // Not async: a task without DTO or Date parameters (most) gets its answer, at enqueue and
    // before it runs, without a promise made.
    app_add_task_before_broker: ({ name, args }: TriggerEvent<'app_add_task_before_broker'>) => {
      const definition = this.registry.get(name);
      if (!definition) return; // the add itself reports the unknown task
      return validatedAtEnqueue(definition, args);
    },
    task_executor_args_replace: ({ record, args, options, paramTypes }: TriggerEvent<'task_executor_args_replace'>) => {
      const types = convertedTypes(options, paramTypes);
      if (types) return converted(record.taskName, types, args).then((instances) => ({ args: instances }));
    },
  };

  constructor(private readonly registry: TaskRegistry) {}
}

/**
 * Rejects with TaskValidationError what an add of `args` would enqueue only to fail when run; the
 * timer checks a schedule's arguments with it too. Undefined, at once, for a task without DTO or
 * Date parameters (most): no promise made.
 */
export function validatedAtEnqueue(definition: TaskDefinition, args: unknown[]): Promise<void> | undefined {
  const types = convertedTypes(definition.options, definition.paramTypes);
  if (!types) return undefined;
  return converted(definition.name, types, asTheWorkerGets(definition.name, types, args)).then(() => undefined);
}

/**
 * The arguments as the worker will get them: a DTO as JSON gives it back (a Date field in it is an
 * ISO string there: `@IsDate()` without `@Type(() => Date)` fails at enqueue, not only when run).
 * A Date parameter keeps the caller's value: JSON writes an invalid Date as null, which would pass
 * as an optional parameter not given. Throws NotSerializableError as the add would.
 */
function asTheWorkerGets(taskName: string, types: readonly unknown[], args: unknown[]): unknown[] {
  if (!types.some(isDto)) return args;
  const stored = JSON.parse(argsToJson(args, `Arguments of task "${taskName}"`)) as unknown[];
  return args.map((arg, index) => (types[index] === Date ? arg : stored[index]));
}

/** A task's parameter types when some of them are DTO classes or dates to convert; undefined otherwise. */
function convertedTypes(options: TaskOptions, paramTypes: readonly unknown[] | undefined): readonly unknown[] | undefined {
  const types = options.paramTypes ?? paramTypes;
  if (!types || options.validate === false || !types.some(isConverted)) return undefined;
  return types;
}

function isDto(type: unknown): type is Function {
  return typeof type === 'function' && !PLAIN_TYPES.includes(type);
}

/** A parameter type whose argument is converted: a DTO class or Date. */
function isConverted(type: unknown): type is Function {
  return type === Date || isDto(type);
}

/** class-transformer and class-validator, loaded at the first DTO: an app without DTOs never loads them. */
let validationLibraries: Promise<[typeof import('class-transformer'), typeof import('class-validator')]> | undefined;

/**
 * The arguments with each DTO turned into its class and validated, and each date a Date; a
 * TaskValidationError lists every failure.
 */
async function converted(taskName: string, types: readonly unknown[], args: unknown[]): Promise<unknown[]> {
  const libraries = types.some(isDto) ? await (validationLibraries ??= Promise.all([import('class-transformer'), import('class-validator')])) : undefined;
  const problems: string[] = [];
  const instances = await Promise.all(
    args.map(async (arg, index) => {
      const type = types[index];
      // null or undefined is an optional parameter not given: Nest's ValidationPipe lets it through too.
      if (arg === null || arg === undefined || !isConverted(type)) return arg;
      const label = `argument ${index + 1} (${type.name})`;
      if (type === Date) return revivedDate(arg, label, problems);
      if (typeof arg !== 'object' || Array.isArray(arg)) {
        problems.push(`${label} must be an object, got ${Array.isArray(arg) ? 'a list' : typeof arg}`);
        return arg;
      }
      const [{ plainToInstance }, { validate }] = libraries!;
      const instance = arg instanceof type ? arg : plainToInstance(type as new () => object, arg);
      // As Nest's ValidationPipe: a class without decorators is accepted (class-validator ≥0.14 refuses it by default).
      for (const error of await validate(instance as object, { forbidUnknownValues: false })) problems.push(...describe(label, error));
      return instance;
    }),
  );
  if (problems.length > 0) throw new TaskValidationError(taskName, problems);
  return instances;
}

/**
 * An ISO 8601 date, or date and time with its zone (`Z` or an offset): the forms that name one
 * instant wherever the worker runs. A time without a zone is read in the worker's own zone, and
 * `Date` parses many other strings ("1", "March 7") as some date: both are refused.
 */
const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2}))?$/;

/** A Date for a Date parameter: JSON carried it as its ISO string (a caller may give ms too). */
function revivedDate(arg: unknown, label: string, problems: string[]): unknown {
  let date: Date | undefined;
  if (arg instanceof Date) date = arg;
  else if (typeof arg === 'number' || (typeof arg === 'string' && ISO_INSTANT.test(arg))) date = new Date(arg);
  if (date && !Number.isNaN(date.getTime())) return date;
  const given = arg instanceof Date ? 'an invalid Date' : shownValue(arg);
  problems.push(`${label} must be a date (a Date, an ISO 8601 string with its time zone, or Unix ms), got ${given}`);
  return arg;
}

function describe(path: string, error: ValidationError): string[] {
  const here = `${path}.${error.property}`;
  const own = Object.values(error.constraints ?? {}).map((message) => `${here}: ${message}`);
  return [...own, ...(error.children ?? []).flatMap((child) => describe(here, child))];
}
