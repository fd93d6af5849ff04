// The code a ThreadWorker's threads run: each job calls a thread task's export and sends back its
// result as JSON, or what it threw. The pool sends a thread its next job only after this one's reply.
import { parentPort, workerData } from 'node:worker_threads';
import { resultToJson } from '../core/json.js';
import { loadExport, preloadExports, wholeResult } from '../core/thread-task.js';
import { beginCall, toThrown, type ThreadData, type ThreadJob, type ThreadMessage } from './thread-protocol.js';

/** Longest wait for the preloaded exports before the thread says `ready`. */
const PRELOAD_WAIT_MS = 5_000;

const port = parentPort!;

port.on('message', (job: ThreadJob) => void answer(job));
await preloadExports((workerData as ThreadData).preload, PRELOAD_WAIT_MS);
port.postMessage('ready' satisfies ThreadMessage);

async function answer({ taskName, target, args, startFlag }: ThreadJob): Promise<void> {
  // Taken back by a stop while this thread was still busy (with what a previous call left running).
  if (!beginCall(startFlag)) return port.postMessage('withdrawn' satisfies ThreadMessage);
  let reply: ThreadMessage;
  try {
    const result = wholeResult(target, await (await loadExport(target))(...args));
    // Encoded here as the executor encodes a result inline: a structured clone would drop what only
    // the value's class knows (toJSON(), #private fields), and refuse Proxies and functions untyped.
    reply = { json: resultToJson(taskName, result) };
  } catch (error) {
    reply = { error: toThrown(error) };
  }
  port.postMessage(reply);
}
