/** How many failed logins an address may make, and how long it then waits. */
export interface LoginThrottleOptions {
  /** Failed logins in a row from one address before it must wait. */
  maxFailures: number;
  /** How long it then waits; failures further apart than this are not counted together. */
  lockoutMs: number;
  /** Addresses followed at once: past this, the one whose last failure is oldest is forgotten. */
  maxAddresses: number;
}

interface Failures {
  count: number;
  lastAt: number;
  lockedUntil: number;
}

/**
 * Counts failed logins per client address, so that guessing a password takes a pause every few
 * tries. Memory stays bounded: a flood of addresses forgets the oldest, never grows the map.
 */
export class LoginThrottle {
  /** In order of last failure, oldest first (each failure moves its address to the end). */
  private readonly failures = new Map<string, Failures>();

  constructor(private readonly options: LoginThrottleOptions) {}

  /** Milliseconds `address` must still wait before its next login is checked; 0 when it may try now. */
  waitMs(address: string, now = Date.now()): number {
    const entry = this.failures.get(address);
    return entry ? Math.max(0, entry.lockedUntil - now) : 0;
  }

  failed(address: string, now = Date.now()): void {
    const entry = this.failures.get(address);
    // A pause served, or failures far apart, start the count afresh.
    const fresh = !entry || entry.lockedUntil !== 0 || now - entry.lastAt > this.options.lockoutMs;
    const count = fresh ? 1 : entry.count + 1;
    this.failures.delete(address);
    this.failures.set(address, { count, lastAt: now, lockedUntil: count >= this.options.maxFailures ? now + this.options.lockoutMs : 0 });
    if (this.failures.size > this.options.maxAddresses) this.failures.delete(this.failures.keys().next().value!);
  }

  succeeded(address: string): void {
    this.failures.delete(address);
  }
}
