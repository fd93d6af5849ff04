import { connect, type Socket } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { QueueTasks } from '../../lib/index.js';
import { eventually } from '../helpers/eventually.js';
import { plainApps } from '../helpers/plain-app.js';

/**
 * Calls `onCommand` with the words of each command Redis runs from now on (MONITOR), on a socket of
 * its own: ioredis's monitor() can fail with "Command queue state error" when other clients' commands
 * arrive with MONITOR's own answer, as they do on the suite's shared Redis.
 */
async function monitorCommands(url: string, onCommand: (words: string[]) => void): Promise<Socket> {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  let pending = '';
  let started!: () => void;
  const monitoring = new Promise<void>((resolve, reject) => {
    started = resolve;
    socket.once('error', reject);
  });
  socket.setEncoding('utf8').on('data', (chunk: string) => {
    const lines = (pending + chunk).split('\r\n');
    pending = lines.pop()!;
    // MONITOR's answer, then `+<time> [<db> <client>] "word" "word" ...`, words quoted with backslash escapes.
    for (const line of lines) {
      if (line === '+OK') started();
      else if (line.startsWith('+')) onCommand([...line.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((match) => match[1]!));
    }
  });
  socket.write('MONITOR\r\n');
  await monitoring;
  return socket;
}

/**
 * Concurrent adds share enqueue calls (lib/brokers/redis/enqueue-batcher.ts). MONITOR shows each
 * enqueue script call Redis gets for the app: how many there were and how many tasks each carried.
 */
describe('concurrent adds on Redis', () => {
  const apps = plainApps(inject('redisUrl'));
  const monitorClient = new Redis(inject('redisUrl'));
  let monitor: Socket;
  let app: QueueTasks;
  let warmUp: string;
  /** Tasks carried by each enqueue call of the app, in the order Redis ran them. */
  const enqueueCalls: number[] = [];

  beforeAll(async () => {
    // No worker: the tasks stay queued, so the queue's order can be read.
    app = await apps.start('batching', (a) => a.task('note', (n: number) => n), { worker: false });
    // Loads the script before watching: a first EVALSHA answered NOSCRIPT would count twice.
    warmUp = (await app.add('note', [-1])).uuid;
    const prioritiesKey = `qtasks:{${app.name}}:qp`;
    // EVALSHA <sha> 3 <priorities> <delayed> <marker> <prefix> <one value per task...>
    monitor = await monitorCommands(inject('redisUrl'), (words) => {
      if (words[0]?.toLowerCase() === 'evalsha' && words[3] === prioritiesKey) enqueueCalls.push(words.length - 7);
    });
  });
  afterAll(async () => {
    monitor?.destroy();
    monitorClient.disconnect();
    await apps.stopAll();
  });

  /** The enqueue calls seen from `mark` (a length of enqueueCalls) on, once they carried `tasks` tasks. */
  async function callsSince(mark: number, tasks: number): Promise<number[]> {
    await eventually(`Redis ran enqueue calls for ${tasks} tasks`, async () => enqueueCalls.slice(mark).reduce((sum, n) => sum + n, 0) >= tasks);
    return enqueueCalls.slice(mark);
  }

  it('500 adds made at once reach Redis in a few calls, each stored, queued in the order the adds were made', async () => {
    const mark = enqueueCalls.length;
    const records = await Promise.all(Array.from({ length: 500 }, (_, n) => app.add('note', [n])));
    const calls = await callsSince(mark, 500);
    expect(calls.reduce((sum, n) => sum + n, 0)).toBe(500);
    expect(calls.length).toBeLessThanOrEqual(3);
    const queued = await monitorClient.lrange(`qtasks:{${app.name}}:q:0`, 0, -1);
    expect(queued).toEqual([warmUp, ...records.map((record) => record.uuid)]);
    const stored = await Promise.all(records.map((record) => app.get(record.uuid)));
    expect(stored.map((record) => record?.args)).toEqual(records.map((_, n) => [n]));
  });

  it('an add awaited alone goes at once, in its own call', async () => {
    const mark = enqueueCalls.length;
    for (let n = 0; n < 5; n++) await app.add('note', [n]);
    expect(await callsSince(mark, 5)).toEqual([1, 1, 1, 1, 1]);
  });

  it('adds with the same unique key in one call enqueue one task; the others get its uuid', async () => {
    const mark = enqueueCalls.length;
    const results = await Promise.all([
      app.add('note', [1]),
      ...Array.from({ length: 4 }, () => app.addOnce('note', [2], { uniqueKey: 'report-1', uniqueTtlMs: 60_000 })),
    ]);
    const calls = await callsSince(mark, 5);
    expect(calls.length).toBeLessThan(5);
    const onces = results.slice(1) as { uuid: string; added: boolean }[];
    expect(onces.map((once) => once.added)).toEqual([true, false, false, false]);
    expect(new Set(onces.map((once) => once.uuid)).size).toBe(1);
  });
});
