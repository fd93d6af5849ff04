import { toJson } from './json.js';
import type { TaskRecord } from './task-record.js';
import type { TaskRegistry } from './task-registry.js';

export interface ExecutionResult {
  status: 'success' | 'error';
  /** Result JSON on success, traceback text on error. */
  payload: string;
}

/** Runs one claimed task: finds its handler, calls it with its arguments, encodes the outcome. */
export class TaskExecutor {
  constructor(private readonly registry: TaskRegistry) {}

  async execute(record: TaskRecord): Promise<ExecutionResult> {
    const definition = this.registry.get(record.taskName);
    if (!definition) {
      return {
        status: 'error',
        payload:
          `NoHandlerError: no handler for task "${record.taskName}" in this worker ` +
          `(it knows: ${this.registry.names().join(', ') || 'none'}); was it enqueued by another app version?`,
      };
    }
    try {
      const result = await definition.handler(...record.args);
      return { status: 'success', payload: toJson(result ?? null, `The result of task "${record.taskName}"`) };
    } catch (error) {
      return { status: 'error', payload: traceback(error) };
    }
  }
}

/** Message and stack of anything a task threw, Error or not. */
export function traceback(error: unknown): string {
  if (error instanceof Error) return error.stack ?? `${error.name}: ${error.message}`;
  let shown: string;
  try {
    shown = JSON.stringify(error) ?? String(error);
  } catch {
    shown = String(error);
  }
  return `Error: task threw a non-Error value: ${shown}`;
}
