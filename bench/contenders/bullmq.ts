import { Queue, QueueEvents, Worker, type ConnectionOptions } from 'bullmq';
import { LABELS, type Contender, type Payload } from './contender.js';

const JOB = 'noop';

function connection(url: string): ConnectionOptions {
  const { hostname, port } = new URL(url);
  return { host: hostname, port: Number(port) };
}

export const bullmq: Contender = {
  id: 'bullmq',
  label: LABELS.bullmq,

  async producer(url, name, { keepResults, waits }) {
    const queue = new Queue<Payload>(name, {
      connection: connection(url),
      // Results kept is BullMQ's default: set nothing then, as a default @nestjs/bullmq user would
      // (an explicit removeOnComplete: false is stored in every job's options).
      defaultJobOptions: keepResults ? undefined : { removeOnComplete: true },
    });
    await queue.waitUntilReady();
    const events = waits ? new QueueEvents(name, { connection: connection(url) }) : undefined;
    await events?.waitUntilReady();
    return {
      add: async (payload) => {
        await queue.add(JOB, payload);
      },
      addBulk: async (payloads) => {
        await queue.addBulk(payloads.map((data) => ({ name: JOB, data })));
      },
      addAndWait: async (payload) => {
        if (!events) throw new Error('producer opened without waits');
        const job = await queue.add(JOB, payload);
        await job.waitUntilFinished(events, 30_000);
      },
      close: async () => {
        await events?.close();
        await queue.close();
      },
    };
  },

  async worker(url, name, { concurrency, handler }) {
    // Retention is a job option in BullMQ (removeOnComplete), set by the producer above.
    const worker = new Worker<Payload>(name, async (job) => handler(job.data), {
      connection: connection(url),
      concurrency,
    });
    await worker.waitUntilReady();
    return { close: () => worker.close() };
  },

  unfinished: (admin, queue) => admin.llen(`bull:${queue}:active`),
};
