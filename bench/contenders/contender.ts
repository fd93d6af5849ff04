import type { Redis } from 'ioredis';

/** A benchmark payload: `p` pads the JSON to the wanted size, `t` carries the enqueue time. */
export interface Payload {
  p: string;
  t?: number;
}

export interface Producer {
  add(payload: Payload): Promise<void>;
  addBulk(payloads: Payload[]): Promise<void>;
  /** Enqueues, then resolves once the producer has been told the task finished. */
  addAndWait(payload: Payload): Promise<void>;
  close(): Promise<void>;
}

export interface WorkerOptions {
  concurrency: number;
  keepResults: boolean;
  handler: (payload: Payload) => void;
}

export interface StartedWorker {
  close(): Promise<void>;
}

/** One library under test, driven through the same small surface as the other. */
export interface Contender {
  readonly id: ContenderId;
  readonly label: string;
  producer(url: string, queue: string, options: { keepResults: boolean; waits?: boolean }): Promise<Producer>;
  worker(url: string, queue: string, options: WorkerOptions): Promise<StartedWorker>;
  /** Tasks taken by a worker whose outcome is not stored yet (0 once a drained queue is done). */
  unfinished(admin: Redis, queue: string): Promise<number>;
}

export type ContenderId = 'qtasks' | 'bullmq';
export const CONTENDER_IDS: readonly ContenderId[] = ['qtasks', 'bullmq'];
export const LABELS: Record<ContenderId, string> = { qtasks: 'nestjs-qtasks', bullmq: 'BullMQ' };

export async function loadContender(id: ContenderId): Promise<Contender> {
  // Imported on demand so a child process loads only the library it measures (fair RSS).
  return id === 'qtasks' ? (await import('./qtasks.js')).qtasks : (await import('./bullmq.js')).bullmq;
}
