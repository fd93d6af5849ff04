import { describe, expect, it } from 'vitest';
import { buildRows, renderRoundTripFloor, renderTable, type Runs, type Summary } from '../../bench/report.js';

const metrics = (perSec: number) => ({ tasksPerSec: perSec, redisUs: 10, nodeUs: 10 });

/** One process scenario's runs: throughput plus the CPU figures a throughput row shows. */
function runs(qtasks: number[], bullmq: number[]): Runs {
  return { 'process.c100.keep': { qtasks: qtasks.map(metrics), bullmq: bullmq.map(metrics) } };
}

function summary(qtasks: number, bullmq: number): Summary {
  return { 'process.c100.keep': { qtasks: metrics(qtasks), bullmq: metrics(bullmq) } };
}

describe('bench report', () => {
  it('states each ratio as the median of the per-run ratios, each run pairing the two libraries back to back', () => {
    // Run 2 ran on a busy machine for both sides: its paired ratio (4×) is as good as the others,
    // while the ratio of the medians (60,000 / 20,000 = 3×) mixes runs of different loads.
    const measured = runs([60_000, 40_000, 80_000], [15_000, 10_000, 20_000]);
    const [row] = buildRows(summary(60_000, 20_000), measured);
    expect(row).toMatchObject({ qtasks: 60_000, bullmq: 20_000, ratio: 4, ratioRange: [4, 4], met: true, cpuRatio: 1 });
  });

  it('marks a target missed when the paired ratio falls short', () => {
    const measured = runs([30_000, 35_000, 20_000], [10_000, 10_000, 10_000]);
    const [row] = buildRows(summary(30_000, 10_000), measured);
    expect(row).toMatchObject({ ratio: 3, met: false });
  });

  it('shows how far one run moves the ratio: the lowest and highest per-run ratio beside the median', () => {
    const measured = runs([30_000, 35_000, 20_000], [10_000, 10_000, 10_000]);
    const rows = buildRows(summary(30_000, 10_000), measured);
    expect(rows[0]!.ratioRange).toEqual([2, 3.5]);
    expect(renderTable(rows, summary(30_000, 10_000))).toContain('| 3.00× (2.00–3.50) | ≥ 4× MISSED |');
  });

  it('never shows a missed target as met by rounding: 3.998× is not printed as 4.00×', () => {
    const measured = runs([39_980, 39_980, 39_980], [10_000, 10_000, 10_000]);
    const rows = buildRows(summary(39_980, 10_000), measured);
    expect(rows[0]!.met).toBe(false);
    expect(renderTable(rows, summary(39_980, 10_000))).toContain('| 3.998× (3.998–3.998) | ≥ 4× MISSED |');
  });

  it('bounds the one-at-a-time enqueue ratio of an add through ioredis by the bare round trip there: BullMQ 100 µs over a 60 µs floor is at most 1.67×', () => {
    const single: Summary = {
      'enqueue.single': {
        qtasks: { tasksPerSec: 12_500, roundTripUs: 62 },
        bullmq: { tasksPerSec: 10_000, roundTripUs: 60 },
      },
    };
    expect(renderRoundTripFloor(single)).toBe(
      'Round-trip floor: a bare script call awaited one at a time through ioredis takes 60 µs; one add at a time takes 80 µs here, ' +
        "100 µs in BullMQ. An add that waits for one round trip through ioredis can be at most 1.67× as fast as BullMQ's on this machine.",
    );
    expect(renderRoundTripFloor(summary(1, 1))).toBeNull();
  });
});
