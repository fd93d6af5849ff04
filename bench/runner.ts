// One benchmark child: measures one library only, on requests from bench/main.ts over IPC.
import { CONTENDER_IDS, loadContender, type ContenderId } from './contenders/contender.js';
import { countClientCommands, RedisProbe } from './redis-probe.js';
import { runRequest, type Request } from './scenarios.js';

export interface RunnerMessage {
  id: number;
  request: Request;
}

export type RunnerReply = { id: number; metrics: Record<string, number> } | { id: number; error: string };

const [id, url] = process.argv.slice(2) as [ContenderId, string];
if (!CONTENDER_IDS.includes(id) || !url) throw new Error('usage: runner.js <qtasks|bullmq> <redis url>');

countClientCommands();
const contender = await loadContender(id);
const probe = new RedisProbe(url);

process.on('message', (message: RunnerMessage | 'exit') => {
  if (message === 'exit') {
    probe.close();
    process.disconnect();
    return;
  }
  runRequest(contender, url, probe, message.request).then(
    (metrics) => process.send!({ id: message.id, metrics } satisfies RunnerReply),
    (error: unknown) =>
      process.send!({ id: message.id, error: error instanceof Error ? (error.stack ?? error.message) : String(error) } satisfies RunnerReply),
  );
});
process.send!('ready');
