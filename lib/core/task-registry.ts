import { DuplicateTaskError, InvalidOptionError, UnknownTaskError } from './errors.js';
import type { ScheduleTiming } from './schedule.js';

export type TaskHandler = (...args: any[]) => unknown;

/**
 * Options of one task, given to `@Task()` or `QueueTasks.task()`. With `cron` or `every` the task
 * also runs on that schedule (the timer enqueues it, with `args`).
 */
export interface TaskOptions extends ScheduleTiming {
  /** Unique name; defaults to the method's name. */
  name?: string;
  /** Lower runs first. */
  priority?: number;
  description?: string;
  tags?: string[];
  /** Arguments of the scheduled runs (with `cron` or `every`). */
  args?: unknown[];
}

export interface TaskDefinition {
  name: string;
  handler: TaskHandler;
  options: TaskOptions;
  /** Where it was declared, e.g. "UsersService.record", for error messages. */
  source: string;
  /** Class and method it came from, when it came from a decorated method. */
  owner?: { type: Function; method: string | symbol };
}

/** Public facts about a task, as published in GlobalConfig for the dashboard and CLI. */
export interface TaskCatalogEntry {
  name: string;
  source: string;
  priority?: number;
  description?: string;
  tags: string[];
}

export class TaskRegistry {
  private readonly byName = new Map<string, TaskDefinition>();

  register(definition: TaskDefinition): void {
    if (!definition.name) throw new InvalidOptionError(`Task at ${definition.source} has an empty name.`);
    const existing = this.byName.get(definition.name);
    if (existing) throw new DuplicateTaskError(definition.name, existing.source, definition.source);
    this.byName.set(definition.name, definition);
  }

  get(name: string): TaskDefinition | undefined {
    return this.byName.get(name);
  }

  /** The definition, or an UnknownTaskError listing the known names. */
  require(name: string): TaskDefinition {
    const definition = this.byName.get(name);
    if (!definition) throw new UnknownTaskError(name, this.names());
    return definition;
  }

  names(): string[] {
    return [...this.byName.keys()];
  }

  definitions(): TaskDefinition[] {
    return [...this.byName.values()];
  }

  findByMethod(type: Function, method: string | symbol): TaskDefinition | undefined {
    for (const definition of this.byName.values()) {
      if (definition.owner && definition.owner.method === method && isSameOrSubclass(type, definition.owner.type)) {
        return definition;
      }
    }
    return undefined;
  }

  catalog(): TaskCatalogEntry[] {
    return [...this.byName.values()].map(({ name, source, options }) => ({
      name,
      source,
      priority: options.priority,
      description: options.description,
      tags: options.tags ?? [],
    }));
  }
}

function isSameOrSubclass(type: Function, base: Function): boolean {
  return type === base || type.prototype instanceof base;
}
