import { setTimeout as sleep } from 'node:timers/promises';
import { raceTimeout } from '../lib/core/timing.js';
import type { Contender, Payload } from './contenders/contender.js';
import type { RedisProbe } from './redis-probe.js';
import { percentile } from './stats.js';

export type Metrics = Record<string, number>;

export type Request =
  | { kind: 'enqueue'; mode: 'single' | 'concurrent' | 'bulk'; tasks: number; queue: string }
  | { kind: 'prefill'; tasks: number; queue: string; keepResults: boolean }
  | { kind: 'process'; tasks: number; queue: string; concurrency: number; keepResults: boolean; prefilled: boolean }
  | { kind: 'latency'; tasks: number; queue: string; concurrency: number; ratePerSec: number }
  | { kind: 'memory'; tasks: number; queue: string };

/** Tasks per addBulk call, in every scenario that fills a queue. */
export const BULK_SIZE = 1_000;
/** Bytes of JSON every benchmark payload has (before the latency stamp). */
export const PAYLOAD_BYTES = 100;
/** No single measurement may take longer than this. */
const MEASUREMENT_LIMIT_MS = 180_000;
const POLL_MS = 1;

/** `{"p":"xxx…"}`, exactly PAYLOAD_BYTES of JSON. */
const PAD = 'x'.repeat(PAYLOAD_BYTES - '{"p":""}'.length);

function payload(): Payload {
  return { p: PAD };
}

export async function runRequest(contender: Contender, url: string, probe: RedisProbe, request: Request): Promise<Metrics> {
  const deadline = Date.now() + MEASUREMENT_LIMIT_MS;
  switch (request.kind) {
    case 'enqueue':
      return enqueue(contender, url, probe, request);
    case 'prefill':
      await prefill(contender, url, request.queue, request.tasks, request.keepResults, deadline);
      return {};
    case 'process':
      return processAll(contender, url, probe, request, deadline);
    case 'latency':
      return latency(contender, url, request, deadline);
    case 'memory':
      return memory(contender, url, probe, request, deadline);
  }
}

async function enqueue(
  contender: Contender,
  url: string,
  probe: RedisProbe,
  { mode, tasks, queue }: Extract<Request, { kind: 'enqueue' }>,
): Promise<Metrics> {
  const producer = await contender.producer(url, queue, { keepResults: true });
  // A producer's first add also sets up its connection: not what one add costs (and a run split
  // in blocks makes a producer per block).
  if (mode === 'single') await producer.add(payload());
  const before = await probe.counters();
  const startedAt = performance.now();
  if (mode === 'single') {
    for (let i = 0; i < tasks; i++) await producer.add(payload());
  } else if (mode === 'concurrent') {
    await Promise.all(Array.from({ length: tasks }, () => producer.add(payload())));
  } else {
    for (let done = 0; done < tasks; done += BULK_SIZE) {
      await producer.addBulk(Array.from({ length: Math.min(BULK_SIZE, tasks - done) }, payload));
    }
  }
  const seconds = (performance.now() - startedAt) / 1000;
  const after = await probe.counters();
  await producer.close();
  const metrics: Metrics = { tasksPerSec: tasks / seconds, ...probe.cost(before, after, tasks) };
  // The floor of one-at-a-time enqueueing, measured right after it by the same process.
  if (mode === 'single') {
    metrics.roundTripUs = await probe.roundTripUs(tasks);
    // The least record is the arguments themselves.
    metrics.storeAndQueueUs = await probe.storeAndQueueUs(tasks, JSON.stringify([payload()]));
  }
  return metrics;
}

async function prefill(contender: Contender, url: string, queue: string, tasks: number, keepResults: boolean, deadline: number) {
  const producer = await contender.producer(url, queue, { keepResults });
  for (let done = 0; done < tasks; done += BULK_SIZE) {
    if (Date.now() > deadline) throw new Error(`prefill of ${tasks} tasks did not finish in time`);
    await producer.addBulk(Array.from({ length: Math.min(BULK_SIZE, tasks - done) }, payload));
  }
  await producer.close();
}

/** Drains a pre-filled queue with one worker; timed from the first task start to the last stored outcome. */
async function processAll(
  contender: Contender,
  url: string,
  probe: RedisProbe,
  { tasks, queue, concurrency, keepResults, prefilled }: Extract<Request, { kind: 'process' }>,
  deadline: number,
): Promise<Metrics> {
  if (!prefilled) await prefill(contender, url, queue, tasks, keepResults, deadline);
  let handled = 0;
  let firstAt = 0;
  let allHandled!: () => void;
  const finished = new Promise<void>((resolve) => (allHandled = resolve));
  const handler = () => {
    if (handled === 0) firstAt = performance.now();
    if (++handled === tasks) allHandled();
  };
  const before = await probe.counters();
  const worker = await contender.worker(url, queue, { concurrency, keepResults, handler });
  try {
    await within(finished, deadline, () => `${handled} of ${tasks} tasks ran`);
    // The clock stops when the poll that finds nothing unfinished was sent, not when it answers.
    let endAt = performance.now();
    while ((await probe.poll((admin) => contender.unfinished(admin, queue))) > 0) {
      if (Date.now() > deadline) throw new Error('outcomes were not all stored in time');
      await sleep(POLL_MS);
      endAt = performance.now();
    }
    const seconds = (endAt - firstAt) / 1000;
    const after = await probe.counters();
    const rssMb = process.memoryUsage().rss / 2 ** 20;
    return { tasksPerSec: tasks / seconds, ...probe.cost(before, after, tasks), rssMb };
  } finally {
    await worker.close();
  }
}

/** A producer at a steady rate, a worker in the same process, each task awaited by its producer. */
async function latency(
  contender: Contender,
  url: string,
  { tasks, queue, concurrency, ratePerSec }: Extract<Request, { kind: 'latency' }>,
  deadline: number,
): Promise<Metrics> {
  const toStart: number[] = [];
  const toResult: number[] = [];
  const producer = await contender.producer(url, queue, { keepResults: true, waits: true });
  const worker = await contender.worker(url, queue, {
    concurrency,
    keepResults: true,
    handler: ({ t }) => toStart.push(performance.now() - t!),
  });
  try {
    const intervalMs = 1000 / ratePerSec;
    const pending: Promise<void>[] = [];
    const origin = performance.now();
    for (let i = 0; i < tasks; i++) {
      const wait = origin + i * intervalMs - performance.now();
      if (wait >= 1) await sleep(wait);
      if (Date.now() > deadline) throw new Error(`the producer fell behind: ${i} of ${tasks} sent in time`);
      const t = performance.now();
      pending.push(producer.addAndWait({ p: PAD, t }).then(() => void toResult.push(performance.now() - t)));
    }
    await within(Promise.all(pending), deadline, () => `${toResult.length} of ${tasks} results arrived`);
  } finally {
    await worker.close();
    await producer.close();
  }
  return {
    startP50: percentile(toStart, 50),
    startP95: percentile(toStart, 95),
    startP99: percentile(toStart, 99),
    resultP50: percentile(toResult, 50),
    resultP95: percentile(toResult, 95),
    resultP99: percentile(toResult, 99),
  };
}

async function memory(
  contender: Contender,
  url: string,
  probe: RedisProbe,
  { tasks, queue }: Extract<Request, { kind: 'memory' }>,
  deadline: number,
): Promise<Metrics> {
  const before = await probe.usedMemory();
  await prefill(contender, url, queue, tasks, true, deadline);
  const after = await probe.usedMemory();
  return { bytesPerTask: (after - before) / tasks };
}

function within<T>(work: Promise<T>, deadline: number, progress: () => string): Promise<T> {
  return raceTimeout(work, Math.max(0, deadline - Date.now()), () => {
    throw new Error(`timed out: ${progress()}`);
  });
}
