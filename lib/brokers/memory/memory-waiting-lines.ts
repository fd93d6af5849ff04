import type { RateLimit } from '../../core/rate-limit.js';
import { RUNNING_SLOT_WAIT } from '../../core/running-limit.js';

/** A rate limit's window: starts counted in it, when it opened and when it closes. */
interface RateWindow {
  started: number;
  opensAt: number;
  closesAt: number;
}

/**
 * The memory broker's waiting lines, kept as lua/includes/waiting-lines.lua keeps them in Redis: a
 * rate-limit window per limited task, the running slots of tasks with maxRunning, the paused
 * tasks, and a line per task (uuids in order) of tasks held back by a full window, all slots held
 * or a pause, with when it reopens (RUNNING_SLOT_WAIT while it waits for a slot, none while paused).
 */
export class MemoryWaitingLines {
  private readonly windows = new Map<string, RateWindow>();
  /** Running slots (lua/includes/running-slots.lua): the name of each holder, the holders per name. */
  private readonly slotHolders = new Map<string, string>();
  private readonly running = new Map<string, number>();
  private readonly lines = new Map<string, string[]>();
  private readonly reopenAt = new Map<string, number>();
  private readonly pausedTasks = new Set<string>();

  /** Starts the window of `name` allows now (a closed one allows `max`). */
  roomIn(name: string, limit: RateLimit, now: number): number {
    const window = this.windows.get(name);
    return window && window.closesAt > now ? limit.max - window.started : limit.max;
  }

  countStart(name: string, limit: RateLimit, now: number): void {
    let window = this.windows.get(name);
    if (!window || window.closesAt <= now) this.windows.set(name, (window = { started: 0, opensAt: now, closesAt: now + limit.windowMs }));
    window.started++;
  }

  /**
   * A task claimed at `claimedAt` and given back unstarted leaves its window's count, while it is
   * open; the room it leaves makes its name's waiting line due now.
   */
  uncountStart(name: string, claimedAt: number | undefined, now: number): void {
    const window = this.windows.get(name);
    if (!window || window.started === 0 || claimedAt === undefined || claimedAt < window.opensAt || now >= window.closesAt) return;
    window.started--;
    if (this.reopenAt.has(name)) this.reopenAt.set(name, Math.min(this.reopenAt.get(name)!, now));
  }

  /** Running slots of `name` free now, of `maxRunning`. */
  freeSlots(name: string, maxRunning: number): number {
    return maxRunning - (this.running.get(name) ?? 0);
  }

  takeSlot(name: string, uuid: string): void {
    this.slotHolders.set(uuid, name);
    this.running.set(name, (this.running.get(name) ?? 0) + 1);
  }

  /**
   * Frees the slot `uuid` holds, if any (its lease ended). Tasks of its name waiting for a slot are
   * due at once (unless their task is paused): true then, and the broker wakes an idle worker.
   */
  freeSlot(uuid: string): boolean {
    const name = this.slotHolders.get(uuid);
    if (name === undefined) return false;
    this.slotHolders.delete(uuid);
    const left = this.running.get(name)! - 1;
    if (left > 0) this.running.set(name, left);
    else this.running.delete(name);
    if (!this.lines.has(name) || this.pausedTasks.has(name)) return false;
    this.reopenAt.set(name, 0);
    return true;
  }

  /** When the window of `name` closes (0: none is open). */
  closesAt(name: string): number {
    return this.windows.get(name)?.closesAt ?? 0;
  }

  /** Puts a task at the tail of its name's line; a new line reopens at `reopenAt` (null: it waits for a resume). */
  join(name: string, uuid: string, reopenAt: number | null): void {
    const line = this.lines.get(name);
    if (line) return void line.push(uuid);
    this.lines.set(name, [uuid]);
    if (reopenAt !== null) this.reopenAt.set(name, reopenAt);
  }

  isPaused(name: string): boolean {
    return this.pausedTasks.has(name);
  }

  /** A paused task's line waits for its resume, which makes it due at once. */
  setPaused(name: string, paused: boolean): void {
    if (paused) {
      this.pausedTasks.add(name);
      this.reopenAt.delete(name);
    } else {
      this.pausedTasks.delete(name);
      if (this.lines.has(name)) this.reopenAt.set(name, 0);
    }
  }

  /** Puts a given-back task at the head of its name's line; false when no line is waiting. */
  rejoinAtHead(name: string, uuid: string): boolean {
    const line = this.lines.get(name);
    line?.unshift(uuid);
    return line !== undefined;
  }

  /** Takes a task out of its name's line (a cancel). */
  leave(name: string, uuid: string): void {
    const line = this.lines.get(name);
    const at = line?.indexOf(uuid) ?? -1;
    if (at < 0) return;
    line!.splice(at, 1);
    if (line!.length === 0) this.forget(name);
  }

  /** The lines that are not paused, the soonest to reopen first: a claim takes from their heads. */
  scheduled(): [name: string, line: string[]][] {
    // Ties by name, as Redis orders a sorted set's members of equal score.
    const byReopen = ([nameA, atA]: [string, number], [nameB, atB]: [string, number]) => atA - atB || (nameA < nameB ? -1 : nameA > nameB ? 1 : 0);
    return [...this.reopenAt].sort(byReopen).map(([name]) => [name, this.lines.get(name)!]);
  }

  /** After a claim took what it could from a line: forgotten once empty, else due again at `dueAt`. */
  settle(name: string, dueAt: number): void {
    if (this.lines.get(name)!.length === 0) this.forget(name);
    else this.reopenAt.set(name, dueAt);
  }

  /** When the first line reopens (Infinity: none waits for a time). */
  nextReopen(): number {
    let first = Infinity;
    for (const at of this.reopenAt.values()) if (at < RUNNING_SLOT_WAIT) first = Math.min(first, at);
    return first;
  }

  /** Every waiting uuid. */
  waiting(): string[] {
    return [...this.lines.values()].flat();
  }

  private forget(name: string): void {
    this.lines.delete(name);
    this.reopenAt.delete(name);
  }
}
