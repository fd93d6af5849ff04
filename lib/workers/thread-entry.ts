// The code a ThreadWorker's threads run: each job calls a thread task's export and sends back its
// value or what it threw. The pool sends a thread its next job only after this one's reply.
import { parentPort } from 'node:worker_threads';
import { loadExport } from '../core/thread-task.js';
import { toThrown, type ThreadJob, type ThreadMessage } from './thread-protocol.js';

const port = parentPort!;

port.on('message', ({ target, args }: ThreadJob) => void answer(target, args));
port.postMessage('ready' satisfies ThreadMessage);

async function answer(target: ThreadJob['target'], args: unknown[]): Promise<void> {
  port.postMessage('started' satisfies ThreadMessage);
  let reply: ThreadMessage;
  try {
    reply = { value: await (await loadExport(target))(...args) };
  } catch (error) {
    reply = { error: toThrown(error) };
  }
  try {
    port.postMessage(reply);
  } catch (error) {
    // The value cannot be copied to the main thread (a function, a class with private state...).
    port.postMessage({ error: toThrown(error) } satisfies ThreadMessage);
  }
}
