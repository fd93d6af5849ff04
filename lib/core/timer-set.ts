/**
 * One-shot timers owned by a component: they never keep the process alive (unref), and the owner
 * clears whatever is left when it stops, so a closed app leaves no timer behind.
 */
export class TimerSet {
  private readonly timers = new Set<NodeJS.Timeout>();

  start(callback: () => void, ms: number): NodeJS.Timeout {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      callback();
    }, ms);
    // Fake timers (vitest, sinon) return objects that may lack unref.
    timer.unref?.();
    this.timers.add(timer);
    return timer;
  }

  clear(timer: NodeJS.Timeout | undefined): void {
    if (timer === undefined) return;
    clearTimeout(timer);
    this.timers.delete(timer);
  }

  clearAll(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }
}
