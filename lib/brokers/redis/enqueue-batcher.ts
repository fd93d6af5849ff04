import { callThenOnSettle } from '../../core/timing.js';

/** What one script call may carry, at most, when it joins several callers' tasks. */
export interface BatchLimits {
  tasks: number;
  /** Summed length of the encoded tasks: large payloads are not piled into one call. */
  chars: number;
}

interface Waiting {
  values: string[];
  resolve: (uuids: string[]) => void;
  reject: (error: unknown) => void;
}

/**
 * Joins enqueue calls made while another is on its way into one script call per tick, so many
 * concurrent adds (a web server under load) share round trips and script runs instead of paying one
 * each. A call made while none is on its way goes at once: a lone add waits for nothing.
 * A caller's tasks always travel in one call, in order, so an addBulk stays one script run, and
 * tasks keep the order their adds were made in.
 */
export class EnqueueBatcher {
  private waiting: Waiting[] = [];
  private inFlight = 0;

  constructor(
    /** Enqueues encoded tasks in one call; resolves with one uuid per task, in order. */
    private readonly send: (values: string[]) => Promise<string[]>,
    private readonly limits: BatchLimits,
  ) {}

  enqueue(values: string[]): Promise<string[]> {
    if (this.inFlight === 0 && this.waiting.length === 0) return this.dispatch(values);
    return new Promise((resolve, reject) => {
      // After the tick's other calls: everything they add in the meantime joins this flush.
      if (this.waiting.push({ values, resolve, reject }) === 1) process.nextTick(() => this.flush());
    });
  }

  private flush(): void {
    const waiting = this.waiting;
    this.waiting = [];
    let group: Waiting[] = [];
    let tasks = 0;
    let chars = 0;
    for (const caller of waiting) {
      const callerChars = caller.values.reduce((sum, value) => sum + value.length, 0);
      if (group.length > 0 && (tasks + caller.values.length > this.limits.tasks || chars + callerChars > this.limits.chars)) {
        this.sendGroup(group);
        [group, tasks, chars] = [[], 0, 0];
      }
      group.push(caller);
      tasks += caller.values.length;
      chars += callerChars;
    }
    if (group.length > 0) this.sendGroup(group);
  }

  private sendGroup(group: Waiting[]): void {
    this.dispatch(group.length === 1 ? group[0]!.values : group.flatMap((caller) => caller.values)).then(
      (uuids) => {
        let at = 0;
        for (const caller of group) caller.resolve(uuids.slice(at, (at += caller.values.length)));
      },
      (error: unknown) => {
        for (const caller of group) caller.reject(error);
      },
    );
  }

  private dispatch(values: string[]): Promise<string[]> {
    this.inFlight++;
    return callThenOnSettle(this.send, values, this.settled);
  }

  private readonly settled = (): void => {
    this.inFlight--;
  };
}
