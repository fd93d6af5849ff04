import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { QueueTasks, RedisBroker, type ClaimBatch, type ClaimRequest, type Lease, type ReleaseOptions, type Retention, type TaskOutcome } from '../../lib/index.js';
import { eventually } from '../helpers/eventually.js';
import { Gate } from '../helpers/gate.js';
import { uniqueAppName } from '../helpers/names.js';

const quiet = { log: () => undefined, warn: () => undefined, error: () => undefined };

/**
 * A RedisBroker behind a slow link: each claim's reply comes back `latencyMs` later. It notes the
 * most tasks that claims on their way asked for at once, and which tasks were given back.
 */
class SlowLinkBroker extends RedisBroker {
  mostAskedInFlight = 0;
  readonly givenBack: string[] = [];
  releaseCalls = 0;
  /** Releases refused before they reach Redis, as while it is unreachable. */
  refuseReleases = 0;
  /** Releases that Redis runs but whose reply is lost, as when the connection drops then. */
  loseReleaseReplies = 0;
  /** When set, a release waits for this gate before it goes to Redis. */
  releaseGate?: Gate;
  private askedInFlight = 0;

  constructor(name: string, url: string, private readonly latencyMs: number) {
    super({ name, url });
  }

  override async claim(request: ClaimRequest, settle?: TaskOutcome[]): Promise<ClaimBatch> {
    const { max } = request;
    this.askedInFlight += max;
    this.mostAskedInFlight = Math.max(this.mostAskedInFlight, this.askedInFlight);
    try {
      const batch = await super.claim(request, settle);
      await sleep(this.latencyMs);
      return batch;
    } finally {
      this.askedInFlight -= max;
    }
  }

  override async release(leases: Lease[], retention: Retention, options?: ReleaseOptions): Promise<number> {
    this.releaseCalls++;
    this.givenBack.push(...leases.map(({ uuid }) => uuid));
    if (this.refuseReleases > 0 && this.refuseReleases--) throw new Error('release refused on purpose');
    await this.releaseGate?.pass();
    const released = await super.release(leases, retention, options);
    if (this.loseReleaseReplies > 0 && this.loseReleaseReplies--) throw new Error('release reply lost on purpose');
    return released;
  }
}

/** Tasks that note when they run and how many run at once; `hold` waits for the test's gate. */
function countingApp(name: string, broker: RedisBroker, maxTasksProcess: number) {
  const seen = { running: 0, mostRunning: 0, ran: [] as string[], gates: [] as Gate[] };
  const app = new QueueTasks({ name, broker, logger: quiet, config: { maxTasksProcess } })
    .task('note', async (label: string) => {
      seen.running++;
      seen.mostRunning = Math.max(seen.mostRunning, seen.running);
      seen.ran.push(label);
      await nextTurn();
      seen.running--;
    })
    .task('hold', async (index: number) => {
      seen.running++;
      seen.mostRunning = Math.max(seen.mostRunning, seen.running);
      await seen.gates[index]!.pass();
      seen.running--;
    });
  return { app, seen };
}

type Seen = ReturnType<typeof countingApp>['seen'];

/** Whether the worker will claim ahead once a backlog shows up (its own state: set by the last batch it ran). */
function claimsAhead(app: QueueTasks): boolean {
  const state = (app.worker as unknown as { claimAhead?: unknown }).claimAhead;
  if (typeof state !== 'boolean') throw new Error('AsyncWorker has no boolean claimAhead any more: update this test');
  return state;
}

/**
 * Runs rounds of quick tasks until the worker claims ahead (claims on their way ask for more than
 * its slots) and is left claiming ahead by the last batch of the round. One slow batch (a busy
 * machine can hold a turn past half a round trip) turns claiming ahead off until the next quick
 * one; the tests that follow need it on.
 */
async function warmUntilClaimingAhead(app: QueueTasks, broker: SlowLinkBroker, maxTasksProcess: number): Promise<void> {
  for (let round = 0; round < 20; round++) {
    const warmUp = await app.addBulk(Array.from({ length: 40 }, (_, i) => ({ name: 'note', args: [`w${round}-${i}`] })));
    await waitAll(app, warmUp.map((record) => record.uuid));
    if (broker.mostAskedInFlight > maxTasksProcess && claimsAhead(app)) return;
  }
  expect(broker.mostAskedInFlight).toBeGreaterThan(maxTasksProcess);
  expect(claimsAhead(app), 'the worker is left claiming ahead after quick tasks').toBe(true);
}

/**
 * With the worker (2 slots) claiming ahead, enqueues two tasks that hold both slots (until the
 * gates open) and six quick ones behind them.
 */
async function holdSlotsWhileClaimingAhead(app: QueueTasks, broker: SlowLinkBroker, seen: Seen) {
  await warmUntilClaimingAhead(app, broker, 2);
  seen.gates = [new Gate(), new Gate()];
  seen.ran = [];
  const labels = ['n1', 'n2', 'n3', 'n4', 'n5', 'n6'];
  const [hold0, hold1, ...rest] = await app.addBulk([
    { name: 'hold', args: [0] },
    { name: 'hold', args: [1] },
    ...labels.map((label) => ({ name: 'note', args: [label] })),
  ]);
  await Promise.all(seen.gates.map((gate) => gate.reached));
  return { labels, holds: [hold0!.uuid, hold1!.uuid], rest: rest.map((record) => record.uuid) };
}

async function waitAll(app: QueueTasks, uuids: string[]): Promise<void> {
  const records = await Promise.all(uuids.map((uuid) => app.wait(uuid, { timeout: 20_000 })));
  expect(records.map((record) => record.status)).toEqual(uuids.map(() => 'success'));
}

/** Opens the gates; then every task ran once, the quick ones in queue order, never more than 2 at once. */
async function expectEachRanOnceInOrder(app: QueueTasks, seen: Seen, { labels, holds, rest }: Awaited<ReturnType<typeof holdSlotsWhileClaimingAhead>>) {
  for (const gate of seen.gates) gate.open();
  await waitAll(app, [...holds, ...rest]);
  expect(seen.ran).toEqual(labels);
  expect(seen.mostRunning).toBeLessThanOrEqual(2);
  const finished = await Promise.all(rest.map((uuid) => app.get(uuid)));
  expect(finished.map((record) => [record!.attempt, record!.stalls])).toEqual(labels.map(() => [1, 0]));
}

describe('claiming ahead', () => {
  const url = inject('redisUrl');
  const apps: QueueTasks[] = [];
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((app) => app.stop()));
  });

  /** A started counting app whose broker is on a 20 ms link; `tune` sets the broker up first. */
  async function startOnSlowLink(label: string, maxTasksProcess: number, tune?: (broker: SlowLinkBroker) => void) {
    const name = uniqueAppName(label);
    const broker = new SlowLinkBroker(name, url, 20);
    tune?.(broker);
    const { app, seen } = countingApp(name, broker, maxTasksProcess);
    apps.push(app);
    await app.start();
    return { app, broker, seen };
  }

  it('tasks quicker than a round trip: claims on their way ask for more than the free slots, yet no more than maxTasksProcess run at once, each once', async () => {
    const { app, broker, seen } = await startOnSlowLink('ahead', 4);
    const labels = Array.from({ length: 120 }, (_, i) => `t${i}`);
    const records = await app.addBulk(labels.map((label) => ({ name: 'note', args: [label] })));
    await waitAll(app, records.map((record) => record.uuid));
    expect(broker.mostAskedInFlight).toBeGreaterThan(4);
    expect(seen.mostRunning).toBeLessThanOrEqual(4);
    expect([...seen.ran].sort()).toEqual([...labels].sort());
  });

  it('tasks claimed ahead that find the slots busy go back to the head of the queue, in order: they show new, and run once each', async () => {
    const { app, broker, seen } = await startOnSlowLink('ahead-back', 2);
    const held = await holdSlotsWhileClaimingAhead(app, broker, seen);
    const { rest } = held;
    // The slow tasks hold both slots: whatever was claimed beside them went back.
    await eventually('the tasks claimed beside the slow ones are queued again', async () =>
      (await Promise.all(rest.map((uuid) => app.get(uuid)))).every((record) => record!.status === 'new'),
    );
    expect(broker.givenBack.length).toBeGreaterThan(0);
    expect(rest).toEqual(expect.arrayContaining(broker.givenBack));
    await expectEachRanOnceInOrder(app, seen, held);
  });

  it('a slow task still running keeps the worker from claiming ahead: quick tasks beside it start in queue order, given back at most once', async () => {
    const { app, broker, seen } = await startOnSlowLink('ahead-mixed', 4);
    await warmUntilClaimingAhead(app, broker, 4);
    seen.gates = [new Gate()];
    seen.ran = [];
    const labels = Array.from({ length: 30 }, (_, i) => `q${i}`);
    const [hold, ...quick] = await app.addBulk([{ name: 'hold', args: [0] }, ...labels.map((label) => ({ name: 'note', args: [label] }))]);
    // All the quick tasks run in the three other slots while the slow one holds its own.
    await waitAll(app, quick.map((record) => record.uuid));
    expect(broker.releaseCalls).toBeLessThanOrEqual(1);
    expect(seen.ran).toEqual(labels);
    seen.gates[0]!.open();
    await waitAll(app, [hold!.uuid]);
  });

  it('a cancel that reaches a task while its worker gives it back ends it cancel, and it never runs', async () => {
    const releaseGate = new Gate();
    const { app, broker, seen } = await startOnSlowLink('ahead-cancel', 2, (slow) => (slow.releaseGate = releaseGate));
    const { labels, holds, rest } = await holdSlotsWhileClaimingAhead(app, broker, seen);
    await releaseGate.reached;
    const doomed = broker.givenBack[0]!;
    expect(await app.cancel(doomed, 'not needed')).toMatchObject({ status: 'process', cancelReason: 'not needed' });
    releaseGate.open();
    expect(await app.wait(doomed, { timeout: 15_000 })).toMatchObject({ status: 'cancel', cancelReason: 'not needed', stalls: 0 });

    for (const gate of seen.gates) gate.open();
    const others = rest.filter((uuid) => uuid !== doomed);
    await waitAll(app, [...holds, ...others]);
    expect(seen.ran).toEqual(labels.filter((_, index) => rest[index] !== doomed));
  });

  it('tasks claimed ahead whose give-back is refused (Redis unreachable) stay held, and go back once it answers', async () => {
    const { app, broker, seen } = await startOnSlowLink('ahead-kept', 2, (slow) => (slow.refuseReleases = 2));
    const held = await holdSlotsWhileClaimingAhead(app, broker, seen);
    await eventually('the worker gave them back at its third try', async () => broker.releaseCalls >= 3);
    const { rest } = held;
    await eventually('the tasks claimed beside the slow ones are queued again', async () =>
      (await Promise.all(rest.map((uuid) => app.get(uuid)))).every((record) => record!.status === 'new'),
    );
    expect(seen.ran).toEqual([]);
    await expectEachRanOnceInOrder(app, seen, held);
  });

  it('a give-back whose reply is lost runs no task twice: they are queued, and the worker does not run them too', async () => {
    const { app, broker, seen } = await startOnSlowLink('ahead-lost', 2, (slow) => (slow.loseReleaseReplies = 1));
    const held = await holdSlotsWhileClaimingAhead(app, broker, seen);
    await eventually('the give-back ran, and its reply was lost', async () => broker.loseReleaseReplies === 0);
    await expectEachRanOnceInOrder(app, seen, held);
  });

  it('tasks slower than a round trip: claims ask only for free slots, so a second worker takes its share', async () => {
    const name = uniqueAppName('ahead-slow');
    const brokers = [new SlowLinkBroker(name, url, 0), new SlowLinkBroker(name, url, 0)];
    const ranBy: number[] = [];
    for (const [index, broker] of brokers.entries()) {
      const app = new QueueTasks({ name, broker, logger: quiet, config: { maxTasksProcess: 2 } }).task('slow', async () => {
        ranBy.push(index);
        await sleep(60);
      });
      apps.push(app);
      await app.start();
    }
    const records = await apps[0]!.addBulk(Array.from({ length: 8 }, () => ({ name: 'slow', args: [] })));
    await waitAll(apps[0]!, records.map((record) => record.uuid));
    for (const broker of brokers) expect(broker.mostAskedInFlight).toBeLessThanOrEqual(2);
    expect(brokers.map((broker) => broker.givenBack)).toEqual([[], []]);
    expect(new Set(ranBy)).toEqual(new Set([0, 1]));
  });
});
