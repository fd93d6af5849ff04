/**
 * A running task's abort switch. Cancel and time limit flip it; the executor stops waiting at
 * once. Its AbortController is built only when something reads `signal` (the task's context, a
 * generator): most tasks never do, and one controller with its listeners per task is a cost the
 * worker's hot path does not need to pay.
 */
export class TaskAbort {
  private controller?: AbortController;
  private listener?: (reason: Error) => void;
  /** Why it was aborted, once it was. */
  reason?: Error;

  get aborted(): boolean {
    return this.reason !== undefined;
  }

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.reason) this.controller.abort(this.reason);
    }
    return this.controller.signal;
  }

  abort(reason: Error): void {
    if (this.reason) return;
    this.reason = reason;
    this.controller?.abort(reason);
    this.listener?.(reason);
  }

  /** One listener (the executor's): called at once if already aborted. */
  onAbort(listener: ((reason: Error) => void) | undefined): void {
    this.listener = listener;
    if (listener && this.reason) listener(this.reason);
  }
}
