import { QueueTasks, type QTasksLogger } from '../../lib/engine.js';
import { LABELS, type Contender, type Payload } from './contender.js';

const TASK = 'noop';

/** Start/stop chatter would drown the table; warnings and errors still show. */
const quietLogger: QTasksLogger = {
  log: () => undefined,
  warn: (message) => console.warn(`[qtasks] ${message}`),
  error: (message) => console.error(`[qtasks] ${message}`),
};

export const qtasks: Contender = {
  id: 'qtasks',
  label: LABELS.qtasks,

  async producer(url, queue, { keepResults }) {
    const app = new QueueTasks({
      name: queue,
      url,
      worker: false,
      logger: quietLogger,
      config: { deleteFinishedTasks: !keepResults },
    }).task(TASK, () => undefined);
    await app.start();
    return {
      add: async (payload) => {
        await app.add(TASK, [payload]);
      },
      addBulk: async (payloads) => {
        await app.addBulk(payloads.map((payload) => ({ name: TASK, args: [payload] })));
      },
      addAndWait: async (payload) => {
        const record = await app.add(TASK, [payload]);
        await app.wait(record.uuid, { timeout: 30_000 });
      },
      close: () => app.stop(),
    };
  },

  async worker(url, queue, { concurrency, keepResults, handler }) {
    const app = new QueueTasks({
      name: queue,
      url,
      logger: quietLogger,
      config: { maxTasksProcess: concurrency, deleteFinishedTasks: !keepResults },
    }).task(TASK, async (payload: Payload) => handler(payload));
    await app.start();
    return { close: () => app.stop() };
  },

  unfinished: (admin, queue) => admin.zcard(`qtasks:{${queue}}:a`),
};
