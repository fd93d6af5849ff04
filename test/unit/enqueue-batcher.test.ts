import { describe, expect, it } from 'vitest';
import { EnqueueBatcher } from '../../lib/brokers/redis/enqueue-batcher.js';

/** A send that records each call and answers with one uuid per value, when told to. */
function recordingSend() {
  const calls: { values: string[]; answer: () => void; fail: (error: Error) => void }[] = [];
  const send = (values: string[]) =>
    new Promise<string[]>((resolve, reject) => {
      calls.push({ values, answer: () => resolve(values.map((value) => `uuid-of-${value}`)), fail: reject });
    });
  return { calls, send };
}

const roomy = { tasks: 1000, chars: 1_000_000 };

describe('EnqueueBatcher', () => {
  it('sends a lone call at once, on its own', async () => {
    const { calls, send } = recordingSend();
    const batcher = new EnqueueBatcher(send, roomy);
    const added = batcher.enqueue(['a']);
    expect(calls.map((call) => call.values)).toEqual([['a']]);
    calls[0]!.answer();
    expect(await added).toEqual(['uuid-of-a']);
  });

  it('joins the calls made while one is on its way into one send, in order, and answers each caller with its own uuids', async () => {
    const { calls, send } = recordingSend();
    const batcher = new EnqueueBatcher(send, roomy);
    const first = batcher.enqueue(['a']);
    const rest = [batcher.enqueue(['b']), batcher.enqueue(['c', 'd']), batcher.enqueue(['e'])];
    await new Promise((resolve) => setImmediate(resolve));
    expect(calls.map((call) => call.values)).toEqual([['a'], ['b', 'c', 'd', 'e']]);
    for (const call of calls) call.answer();
    expect(await first).toEqual(['uuid-of-a']);
    expect(await Promise.all(rest)).toEqual([['uuid-of-b'], ['uuid-of-c', 'uuid-of-d'], ['uuid-of-e']]);
  });

  it('splits a tick into calls at the task and size limits, between callers, never inside one', async () => {
    const { calls, send } = recordingSend();
    const batcher = new EnqueueBatcher(send, { tasks: 3, chars: 8 });
    void batcher.enqueue(['x']);
    const waiting = [
      batcher.enqueue(['a', 'b']),
      batcher.enqueue(['c', 'd']), // would make 4 tasks: a new call
      batcher.enqueue(['e', 'f', 'g', 'h']), // over the limit alone: its own call, whole
      batcher.enqueue(['iiiiiii']), // 7 chars
      batcher.enqueue(['jj']), // 9 chars with the one before: a new call
    ];
    await new Promise((resolve) => setImmediate(resolve));
    expect(calls.map((call) => call.values)).toEqual([['x'], ['a', 'b'], ['c', 'd'], ['e', 'f', 'g', 'h'], ['iiiiiii'], ['jj']]);
    for (const call of calls) call.answer();
    expect((await Promise.all(waiting)).map((uuids) => uuids.length)).toEqual([2, 2, 4, 1, 1]);
  });

  it('rejects every caller of a failed call with its error, and only those', async () => {
    const { calls, send } = recordingSend();
    const batcher = new EnqueueBatcher(send, { tasks: 2, chars: 100 });
    const first = batcher.enqueue(['a']);
    const joined = [batcher.enqueue(['b']), batcher.enqueue(['c'])];
    const next = batcher.enqueue(['d']);
    await new Promise((resolve) => setImmediate(resolve));
    expect(calls.map((call) => call.values)).toEqual([['a'], ['b', 'c'], ['d']]);
    calls[0]!.answer();
    calls[1]!.fail(new Error('Redis went away'));
    calls[2]!.answer();
    expect(await first).toEqual(['uuid-of-a']);
    for (const caller of joined) await expect(caller).rejects.toThrow('Redis went away');
    expect(await next).toEqual(['uuid-of-d']);
  });

  it('sends at once again when nothing is on its way, as soon as the caller has its answer or its error', async () => {
    const { calls, send } = recordingSend();
    const batcher = new EnqueueBatcher(send, roomy);
    const first = batcher.enqueue(['a']);
    calls[0]!.answer();
    await first;
    const second = batcher.enqueue(['b']);
    expect(calls.map((call) => call.values)).toEqual([['a'], ['b']]);
    calls[1]!.fail(new Error('Redis went away'));
    await expect(second).rejects.toThrow('Redis went away');
    void batcher.enqueue(['c']);
    expect(calls.map((call) => call.values)).toEqual([['a'], ['b'], ['c']]);
  });
});
