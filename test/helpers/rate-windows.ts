/**
 * Start times grouped the way a fixed-window rate limit counts them: a window opens at the first
 * start not in the previous window and lasts `windowMs`. Returns the number of starts per window.
 */
export function startsPerWindow(startedAt: number[], windowMs: number): number[] {
  const counts: number[] = [];
  let windowEnd = -Infinity;
  for (const at of [...startedAt].sort((a, b) => a - b)) {
    if (at >= windowEnd) {
      counts.push(0);
      windowEnd = at + windowMs;
    }
    counts[counts.length - 1]!++;
  }
  return counts;
}
