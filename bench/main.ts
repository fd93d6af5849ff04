// `npm run bench [-- --quick] [--only=latency,process.c100]`: nestjs-qtasks and BullMQ side by side
// on one private redis-server. `--only` runs the scenarios whose key starts with one of the given
// prefixes and prints their rows without replacing bench/results/latest.json; `--quick` writes
// bench/results/latest-quick.json, so a short run never replaces a full one.
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { Redis } from 'ioredis';
import { startRedisServer } from '../lib/testing/redis-server.js';
import { measureCeiling } from './ceiling.js';
import { CONTENDER_IDS, type ContenderId } from './contenders/contender.js';
import { buildRows, processKey, renderCeiling, renderCommands, renderRoundTripFloor, renderTable, type Runs, type Summary } from './report.js';
import { RunnerProcess } from './runner-process.js';
import type { Metrics, Request } from './scenarios.js';
import { median } from './stats.js';

const quick = process.argv.includes('--quick');
const only = process.argv.find((arg) => arg.startsWith('--only='))?.slice('--only='.length).split(',');
const RUNS = 3;
const QUICK_SIZES = { single: 500, concurrent: 2_000, bulk: 4_000, process: 2_000, latency: 250, memory: 10_000, rss: 2_000, ceiling: 20_000 };
type Sizes = typeof QUICK_SIZES;
const SIZES: Sizes = quick
  ? QUICK_SIZES
  : { single: 5_000, concurrent: 20_000, bulk: 20_000, process: 20_000, latency: 3_000, memory: 100_000, rss: 20_000, ceiling: 200_000 };
const LATENCY = { ratePerSec: 500, concurrency: 10 };
const RSS_CONCURRENCY = 10;
const SINGLE_BLOCKS = 4;
const RESULTS_NAME = `bench/results/${quick ? 'latest-quick' : 'latest'}.json`;
const RESULTS_FILE = new URL(`../../${RESULTS_NAME}`, import.meta.url);

interface Scenario {
  key: string;
  request(queue: string, sizes: Sizes): Request;
  /** Measured in a fresh process after the long-lived runner pre-filled the queue. */
  fresh?: boolean;
  /**
   * Split each run into this many blocks of equal size (an even number: each library goes first
   * in half of them), the two libraries taking turns block by block: a short scenario then meets
   * the machine's drift on both sides alike, not on one.
   */
  blocks?: number;
}

const ALL_SCENARIOS: Scenario[] = [
  ...(['single', 'concurrent', 'bulk'] as const).map((mode) => ({
    key: `enqueue.${mode}`,
    request: (queue: string, sizes: Sizes): Request => ({ kind: 'enqueue', mode, tasks: sizes[mode], queue }),
    // One add at a time is the shortest scenario (under a second), so the most exposed to drift.
    blocks: mode === 'single' ? SINGLE_BLOCKS : 1,
  })),
  ...[1, 10, 100].flatMap((concurrency) =>
    [true, false].map((keepResults) => ({
      key: processKey(concurrency, keepResults),
      request: (queue: string, sizes: Sizes): Request => ({ kind: 'process', tasks: sizes.process, queue, concurrency, keepResults, prefilled: false }),
    })),
  ),
  { key: 'latency', request: (queue, sizes) => ({ kind: 'latency', tasks: sizes.latency, queue, ...LATENCY }) },
  { key: 'memory', request: (queue, sizes) => ({ kind: 'memory', tasks: sizes.memory, queue }) },
  {
    key: 'rss',
    fresh: true,
    request: (queue, sizes) => ({ kind: 'process', tasks: sizes.rss, queue, concurrency: RSS_CONCURRENCY, keepResults: true, prefilled: true }),
  },
];

const SCENARIOS = only ? ALL_SCENARIOS.filter(({ key }) => only.some((prefix) => key.startsWith(prefix))) : ALL_SCENARIOS;
if (SCENARIOS.length === 0) throw new Error(`--only=${only!.join(',')} matches none of: ${ALL_SCENARIOS.map(({ key }) => key).join(', ')}`);

const startedAt = Date.now();
const server = await startRedisServer();
const admin = new Redis(server.url);
const runners = new Map<ContenderId, RunnerProcess>();
try {
  console.log(`redis-server on ${server.url}; ${quick ? 'quick' : 'full'} run, ${RUNS} runs per figure`);
  const ceiling = await measureCeiling(server.url, SIZES.ceiling);
  for (const id of CONTENDER_IDS) runners.set(id, await RunnerProcess.start(id, server.url));

  let sequence = 0;
  if (!quick) {
    // One unrecorded pass at the quick sizes first: the figures are for warm processes (a worker
    // runs for long), not for the JIT compiling both libraries during the first run.
    for (const scenario of SCENARIOS.filter(({ fresh }) => !fresh)) {
      for (const id of CONTENDER_IDS) {
        await admin.flushall();
        await runners.get(id)!.ask(scenario.request(`warmup${sequence++}`, QUICK_SIZES));
      }
    }
    console.log('warm-up pass done');
  }

  const runs: Runs = {};
  for (let run = 0; run < RUNS; run++) {
    for (const [index, scenario] of SCENARIOS.entries()) {
      const blocks = scenario.blocks ?? 1;
      const measured = { qtasks: [] as Metrics[], bullmq: [] as Metrics[] };
      const queues = { qtasks: `bench${sequence++}`, bullmq: `bench${sequence++}` };
      for (let block = 0; block < blocks; block++) {
        // Alternate who goes first, so drift in the shared machine's load hits both sides alike.
        const order = (run + index + block) % 2 === 0 ? CONTENDER_IDS : [...CONTENDER_IDS].reverse();
        for (const id of order) {
          // Each measurement starts on an empty Redis. A split one keeps both libraries' queues to
          // the end of the run, so each block adds to what its earlier ones left, as the unsplit
          // run would, beside the other library's (the same for both).
          if (blocks === 1 || (block === 0 && id === order[0])) await admin.flushall();
          measured[id].push(await measure(id, scenario, queues[id], blocks));
        }
      }
      for (const id of CONTENDER_IDS) {
        const metrics = joinBlocks(measured[id]);
        ((runs[scenario.key] ??= { qtasks: [], bullmq: [] })[id]).push(metrics);
        process.stdout.write(`run ${run + 1}/${RUNS} ${scenario.key} ${id}: ${brief(metrics)}\n`);
      }
    }
  }

  const summary = summarize(runs);
  const rows = buildRows(summary, runs);
  const sections = [renderTable(rows, summary), '', renderCommands(summary), '', renderCeiling(ceiling, summary)];
  const floor = renderRoundTripFloor(summary);
  if (floor) sections.push(floor);
  const output = sections.join('\n');
  console.log(`\n${output}\n\n(${((Date.now() - startedAt) / 1000).toFixed(0)} s; medians of ${RUNS} runs)`);
  if (!only) {
    mkdirSync(new URL('.', RESULTS_FILE), { recursive: true });
    writeFileSync(
      RESULTS_FILE,
      `${JSON.stringify(
        {
          generatedAt: new Date().toISOString(),
          quick,
          runsPerFigure: RUNS,
          machine: { cpus: cpus().length, loadavg: loadavg(), node: process.version, redis: await redisVersion() },
          sizes: SIZES,
          ceiling,
          rows,
          summary,
          runs,
        },
        null,
        2,
      )}\n`,
    );
    console.log(`JSON written to ${RESULTS_NAME}`);
  }
} finally {
  for (const runner of runners.values()) await runner.stop();
  admin.disconnect();
  await server.destroy();
}

/** One block of a run: a `blocks`-th of the scenario's tasks. */
async function measure(id: ContenderId, scenario: Scenario, queue: string, blocks = 1): Promise<Metrics> {
  const whole = scenario.request(queue, SIZES);
  if (whole.tasks % blocks !== 0) throw new Error(`${scenario.key}: ${whole.tasks} tasks do not split into ${blocks} blocks`);
  const request = { ...whole, tasks: whole.tasks / blocks };
  if (!scenario.fresh) return runners.get(id)!.ask(request);
  if (request.kind !== 'process') throw new Error(`a fresh-process scenario must be a process one: ${scenario.key}`);
  await runners.get(id)!.ask({ kind: 'prefill', tasks: request.tasks, queue, keepResults: request.keepResults });
  const fresh = await RunnerProcess.start(id, server.url);
  try {
    return await fresh.ask(request);
  } finally {
    await fresh.stop();
  }
}

/**
 * One run's figures from its equal blocks: the throughput of all their tasks over all their time
 * (the harmonic mean), and the mean of every per-task figure.
 */
function joinBlocks(blocks: Metrics[]): Metrics {
  const joined: Metrics = {};
  for (const metric of Object.keys(blocks[0]!)) {
    const values = blocks.map((block) => block[metric]!);
    joined[metric] =
      metric === 'tasksPerSec'
        ? values.length / values.reduce((sum, perSec) => sum + 1 / perSec, 0)
        : values.reduce((sum, value) => sum + value, 0) / values.length;
  }
  return joined;
}

function summarize(runs: Runs): Summary {
  const summary: Summary = {};
  for (const [key, byId] of Object.entries(runs)) {
    summary[key] = { qtasks: {}, bullmq: {} };
    for (const id of CONTENDER_IDS) {
      for (const metric of Object.keys(byId[id][0] ?? {})) {
        summary[key][id][metric] = median(byId[id].map((metrics) => metrics[metric]!));
      }
    }
  }
  return summary;
}

function brief(metrics: Metrics): string {
  return Object.entries(metrics)
    .map(([name, value]) => `${name}=${value < 100 ? value.toFixed(2) : Math.round(value)}`)
    .join(' ');
}

async function redisVersion(): Promise<string> {
  return /redis_version:(\S+)/.exec(await admin.info('server'))?.[1] ?? 'unknown';
}
