import type { PluginRunner } from '../plugins/plugin-runner.js';
import type { TaskContext } from './task-context.js';
import type { TaskRecord } from './task-record.js';
import type { TaskDefinition } from './task-registry.js';

type Generated = AsyncIterable<unknown> | Iterable<unknown>;

/** True for what a generator method returns (sync or async), not for arrays or other iterables. */
export function isGenerator(value: unknown): value is Generated {
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as { next?: unknown; throw?: unknown; [Symbol.asyncIterator]?: unknown; [Symbol.iterator]?: unknown };
  return (
    typeof candidate.next === 'function' &&
    typeof candidate.throw === 'function' &&
    (typeof candidate[Symbol.asyncIterator] === 'function' || typeof candidate[Symbol.iterator] === 'function')
  );
}

/**
 * Generator tasks (the original's generate_handler): each yielded value goes through the
 * `task_executor_run_task_gen` trigger and the task's `generateHandler`, is stored as progress,
 * and joins the result list. Stops early when the task's signal aborts.
 */
export async function collectGenerated(
  generated: Generated,
  record: TaskRecord,
  definition: TaskDefinition,
  context: TaskContext,
  plugins: PluginRunner,
): Promise<unknown[]> {
  const values: unknown[] = [];
  for await (const yielded of generated) {
    if (context.signal.aborted) break;
    const { value } = await plugins.trigger('task_executor_run_task_gen', { record, value: yielded, index: values.length });
    const handled = definition.options.generateHandler ? await definition.options.generateHandler(value, values.length) : value;
    // A bare `yield` stores null, as a task that returns nothing does.
    const mapped = handled === undefined ? null : handled;
    await context.progress(mapped);
    values.push(mapped);
  }
  return values;
}
