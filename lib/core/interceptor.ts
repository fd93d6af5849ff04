import type { TaskContext } from './task-context.js';
import type { TaskDefinition } from './task-registry.js';

/** The rest of the chain: the next interceptor, and at the end the task itself. */
export interface CallHandler<R = unknown> {
  handle(): Promise<R>;
}

/**
 * Wraps a task's execution, in the shape of Nest's NestInterceptor (with a promise instead of an
 * Observable): it may time, trace, skip (not call `next.handle()`), replace the arguments (set
 * `context.args` first), replace the result (return something else) or catch errors.
 */
export interface TaskInterceptor {
  intercept(context: TaskExecutionContext, next: CallHandler): unknown;
}

/** What an interceptor sees of the task it wraps. */
export class TaskExecutionContext {
  constructor(
    /** The task's own context: uuid, name, attempt, logger, signal, progress, cancel, client. */
    readonly task: TaskContext,
    /** The arguments the task will get; replace them before `next.handle()`. */
    public args: unknown[],
    readonly definition: TaskDefinition,
    private readonly abortWith: (reason: Error) => void,
  ) {}

  /** The class that declared the task (Nest tasks), as Nest's ExecutionContext.getClass(). */
  getClass(): Function | undefined {
    return this.definition.owner?.type;
  }

  /** The task's name. */
  getHandler(): string {
    return this.definition.name;
  }

  /** Aborts the task's signal: it ends at once, `cancel` for a TaskCancelledError, `error` otherwise. */
  abort(reason: Error): void {
    this.abortWith(reason);
  }
}

/** Runs `call` inside the interceptors, first one outermost. */
export function runInterceptors(
  interceptors: readonly TaskInterceptor[],
  context: TaskExecutionContext,
  call: (args: unknown[]) => Promise<unknown>,
): Promise<unknown> {
  const dispatch = async (index: number): Promise<unknown> => {
    const interceptor = interceptors[index];
    if (!interceptor) return call(context.args);
    return interceptor.intercept(context, { handle: () => dispatch(index + 1) });
  };
  return dispatch(0);
}
