import type { ContenderId } from './contenders/contender.js';
import type { Ceiling } from './ceiling.js';
import type { Metrics } from './scenarios.js';
import { median } from './stats.js';

/** Medians per scenario and library. */
export type Summary = Record<string, Record<ContenderId, Metrics>>;

/** Every measured run per scenario and library, in run order (run i of both sides ran back to back). */
export type Runs = Record<string, Record<ContenderId, Metrics[]>>;

interface Target {
  /** The ratio ours/BullMQ must be at least (`min`) or at most (`max`) this. */
  min?: number;
  max?: number;
}

export interface RowSpec {
  label: string;
  scenario: string;
  metric: string;
  unit: string;
  /** Throughput rows also show CPU per task on both sides. */
  withCost?: boolean;
  target?: Target;
}

export interface Row extends RowSpec {
  qtasks: number;
  bullmq: number;
  /** Median over the runs of ours/BullMQ within each run (see buildRows). */
  ratio: number;
  /** The lowest and highest of those per-run ratios: how far one run can move the figure. */
  ratioRange: [number, number];
  /** Throughput rows: (Redis + Node CPU per task) ours / BullMQ. Steadier than throughput on a busy machine. */
  cpuRatio?: number;
  met?: boolean;
}

export function processKey(concurrency: number, keepResults: boolean): string {
  return `process.c${concurrency}.${keepResults ? 'keep' : 'delete'}`;
}

const THROUGHPUT = 'tasksPerSec';

export const ROWS: RowSpec[] = [
  { label: 'enqueue one at a time', scenario: 'enqueue.single', metric: THROUGHPUT, unit: '/s', withCost: true, target: { min: 1.5 } },
  { label: 'enqueue concurrent (Promise.all)', scenario: 'enqueue.concurrent', metric: THROUGHPUT, unit: '/s', withCost: true },
  { label: 'enqueue bulk (1,000 per call)', scenario: 'enqueue.bulk', metric: THROUGHPUT, unit: '/s', withCost: true, target: { min: 3 } },
  ...[1, 10, 100].flatMap((concurrency) =>
    [true, false].map((keep): RowSpec => ({
      label: `process c=${concurrency}, results ${keep ? 'kept' : 'deleted'}`,
      scenario: processKey(concurrency, keep),
      metric: THROUGHPUT,
      unit: '/s',
      withCost: true,
      target: concurrency === 100 ? { min: 4 } : concurrency === 10 ? { min: 3 } : undefined,
    })),
  ),
  { label: 'enqueue→start p50', scenario: 'latency', metric: 'startP50', unit: 'ms', target: { max: 1 } },
  { label: 'enqueue→start p95', scenario: 'latency', metric: 'startP95', unit: 'ms' },
  { label: 'enqueue→start p99', scenario: 'latency', metric: 'startP99', unit: 'ms', target: { max: 0.5 } },
  { label: 'enqueue→result p50', scenario: 'latency', metric: 'resultP50', unit: 'ms' },
  { label: 'enqueue→result p95', scenario: 'latency', metric: 'resultP95', unit: 'ms' },
  { label: 'enqueue→result p99', scenario: 'latency', metric: 'resultP99', unit: 'ms' },
  { label: 'Redis bytes per queued task', scenario: 'memory', metric: 'bytesPerTask', unit: 'B', target: { max: 0.5 } },
  { label: 'worker RSS after the run', scenario: 'rss', metric: 'rssMb', unit: 'MB' },
];

/**
 * Figures are medians per library; ratios are the median of the per-run ratios. Run i of the two
 * libraries ran back to back, so its ratio compares them under the same machine load, which on a
 * shared machine moves more between runs than the libraries differ within one.
 */
export function buildRows(summary: Summary, runs: Runs): Row[] {
  return ROWS.filter((spec) => summary[spec.scenario]).map((spec) => {
    const qtasks = summary[spec.scenario]!.qtasks[spec.metric]!;
    const bullmq = summary[spec.scenario]!.bullmq[spec.metric]!;
    const perRun = (value: (metrics: Metrics) => number) => {
      const { qtasks: ours, bullmq: theirs } = runs[spec.scenario]!;
      return ours.map((metrics, run) => value(metrics) / value(theirs[run]!));
    };
    const ratios = perRun((metrics) => metrics[spec.metric]!);
    const ratio = median(ratios);
    const ratioRange: [number, number] = [Math.min(...ratios), Math.max(...ratios)];
    const met = spec.target ? meets(ratio, spec.target) : undefined;
    const cpuRatio = spec.withCost ? median(perRun(cpuPerTask)) : undefined;
    return { ...spec, qtasks, bullmq, ratio, ratioRange, cpuRatio, met };
  });
}

export function renderTable(rows: Row[], summary: Summary): string {
  const lines = [
    '| scenario | nestjs-qtasks | BullMQ | ours/BullMQ (runs: low–high) | target | CPU per task ours/BullMQ |',
    '|---|---:|---:|---:|---|---:|',
  ];
  for (const row of rows) {
    const cell = (id: ContenderId) => {
      const metrics = summary[row.scenario]![id];
      const value = formatValue(metrics[row.metric]!, row.unit);
      return row.withCost ? `${value} (R ${fixed(metrics.redisUs!)} µs, N ${fixed(metrics.nodeUs!)} µs)` : value;
    };
    const cpu = row.cpuRatio === undefined ? '' : `${row.cpuRatio.toFixed(2)}×`;
    const [low, high] = row.ratioRange;
    const digits = ratioDigits(row);
    const ratio = `${row.ratio.toFixed(digits)}× (${low.toFixed(digits)}–${high.toFixed(digits)})`;
    lines.push(`| ${row.label} | ${cell('qtasks')} | ${cell('bullmq')} | ${ratio} | ${formatTarget(row)} | ${cpu} |`);
  }
  return lines.join('\n');
}

function meets(ratio: number, { min, max }: Target): boolean {
  return (min === undefined || ratio >= min) && (max === undefined || ratio <= max);
}

/** Ratios show two decimals, or three where two would round a missed target up to it. */
function ratioDigits({ ratio, target, met }: Row): number {
  return met === false && meets(Number(ratio.toFixed(2)), target!) ? 3 : 2;
}

export function renderCommands(summary: Summary): string {
  const lines = [
    '| scenario | qtasks commands/task | qtasks commands sent/task | BullMQ commands/task | BullMQ commands sent/task |',
    '|---|---:|---:|---:|---:|',
  ];
  for (const spec of ROWS.filter((row) => row.withCost && summary[row.scenario])) {
    const { qtasks, bullmq } = summary[spec.scenario]!;
    lines.push(
      `| ${spec.label} | ${qtasks.commands!.toFixed(2)} | ${qtasks.commandsSent!.toFixed(3)} | ` +
        `${bullmq.commands!.toFixed(2)} | ${bullmq.commandsSent!.toFixed(3)} |`,
    );
  }
  return lines.join('\n');
}

export function renderCeiling(ceiling: Ceiling | null, summary: Summary): string {
  if (!ceiling) return 'Ceiling: redis-benchmark was not available.';
  const fastest = summary[processKey(100, false)];
  const lines = [
    `Ceiling (redis-benchmark, one-key EVALSHA): ${whole(ceiling.evalshaPerSec)}/s with 50 clients, ` +
      `${whole(ceiling.evalshaPipelinedPerSec)}/s pipelined ×16.`,
  ];
  if (fastest) {
    for (const id of ['qtasks', 'bullmq'] as const) {
      const m = fastest[id];
      lines.push(
        `  ${id} at c=100 (results deleted): ${whole(m.tasksPerSec! * m.commandsSent!)} commands sent/s to Redis, ` +
          `Redis CPU ${whole(m.tasksPerSec! * m.redisUs! / 1e4)}% of one core.`,
      );
    }
  }
  return lines.join('\n');
}

/**
 * One at a time, an enqueue waits for one round trip; how long a bare one through ioredis takes
 * bounds how far an add through ioredis can lead there (ours goes on a socket of its own, which
 * spends less per call than ioredis). The two libraries' runs each measured it: the lower median counts.
 */
export function renderRoundTripFloor(summary: Summary): string | null {
  const single = summary['enqueue.single'];
  if (!single?.qtasks.roundTripUs || !single.bullmq.roundTripUs) return null;
  const floorUs = Math.min(single.qtasks.roundTripUs, single.bullmq.roundTripUs);
  const [oursUs, theirsUs] = [1e6 / single.qtasks.tasksPerSec!, 1e6 / single.bullmq.tasksPerSec!];
  const lines = [
    `Round-trip floor: a bare script call awaited one at a time through ioredis takes ${fixed(floorUs)} µs; one add at a time takes ` +
      `${fixed(oursUs)} µs here, ${fixed(theirsUs)} µs in BullMQ. An add that waits for one round trip through ioredis can be at most ` +
      `${(theirsUs / floorUs).toFixed(2)}× as fast as BullMQ's on this machine.`,
  ];
  if (single.qtasks.storeAndQueueUs && single.bullmq.storeAndQueueUs) {
    const leastUs = Math.min(single.qtasks.storeAndQueueUs, single.bullmq.storeAndQueueUs);
    lines.push(
      `The least script an add that keeps its task can run (SET NX of the arguments under a new key, RPUSH of its id) ` +
        `takes ${fixed(leastUs)} µs through ioredis: an add that stores a record and queues it there can be at most ` +
        `${(theirsUs / leastUs).toFixed(2)}× as fast as BullMQ's here.`,
    );
  }
  return lines.join('\n');
}

function cpuPerTask(metrics: Metrics): number {
  return metrics.redisUs! + metrics.nodeUs!;
}

function formatTarget(row: Row): string {
  if (!row.target) return '';
  const { min, max } = row.target;
  const goal = min !== undefined ? `≥ ${min}×` : `≤ ${max}×`;
  return `${goal} ${row.met ? 'met' : 'MISSED'}`;
}

function formatValue(value: number, unit: string): string {
  if (unit === '/s') return `${whole(value)}/s`;
  if (unit === 'ms') return `${value.toFixed(2)} ms`;
  if (unit === 'B') return `${whole(value)} B`;
  return `${value.toFixed(1)} ${unit}`;
}

function whole(value: number): string {
  return Math.round(value).toLocaleString('en-US');
}

function fixed(value: number): string {
  return value.toFixed(value < 10 ? 1 : 0);
}
