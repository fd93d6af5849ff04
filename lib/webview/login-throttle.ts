import { isIPv4, isIPv6 } from 'node:net';

/** How many failed logins a client may make, and how long it then waits. */
export interface LoginThrottleOptions {
  /** Failed logins in a row from one client before it must wait. */
  maxFailures: number;
  /** How long it then waits; failures further apart than this are not counted together. */
  lockoutMs: number;
  /** Clients followed at once: past this, the one whose last failure is oldest is forgotten. */
  maxAddresses: number;
}

interface Failures {
  count: number;
  lastAt: number;
  lockedUntil: number;
}

/**
 * Counts failed logins per client (see clientKey), so that guessing a password takes a pause every
 * few tries. Memory stays bounded: a flood of clients forgets the oldest, never grows the map.
 */
export class LoginThrottle {
  /** By clientKey, in order of last failure, oldest first (each failure moves its client to the end). */
  private readonly failures = new Map<string, Failures>();

  constructor(private readonly options: LoginThrottleOptions) {}

  /** Milliseconds `address` must still wait before its next login is checked; 0 when it may try now. */
  waitMs(address: string, now = Date.now()): number {
    const entry = this.failures.get(clientKey(address));
    return entry ? Math.max(0, entry.lockedUntil - now) : 0;
  }

  failed(address: string, now = Date.now()): void {
    const key = clientKey(address);
    const entry = this.failures.get(key);
    // A pause served, or failures far apart, start the count afresh.
    const fresh = !entry || entry.lockedUntil !== 0 || now - entry.lastAt > this.options.lockoutMs;
    const count = fresh ? 1 : entry.count + 1;
    this.failures.delete(key);
    this.failures.set(key, { count, lastAt: now, lockedUntil: count >= this.options.maxFailures ? now + this.options.lockoutMs : 0 });
    if (this.failures.size > this.options.maxAddresses) this.failures.delete(this.failures.keys().next().value!);
  }

  succeeded(address: string): void {
    this.failures.delete(clientKey(address));
  }
}

/**
 * Whose failures an address counts with. An IPv6 host is usually given a whole /64 and may use
 * any address in it, so the /64 is one client: counted per address, it would never wait, and its
 * flood of addresses would push locked clients out of the table. An IPv4 address is one client,
 * also when a dual-stack socket reports it mapped into IPv6 (`::ffff:a.b.c.d`).
 */
export function clientKey(address: string): string {
  const groups = ipv6Groups(address);
  if (!groups) return address;
  return mappedIPv4(groups) ?? `${hexGroups(groups.slice(0, 4))}::/64`;
}

/**
 * The eight 16-bit groups of an IP address, an IPv4 one as it is mapped into IPv6
 * (`::ffff:a.b.c.d`), so that both families compare in one space; undefined for other text.
 */
export function addressGroups(address: string): number[] | undefined {
  return ipv6Groups(isIPv4(address) ? `::ffff:${address}` : address);
}

/** The IPv4 address that IPv6 groups stand for when they are one mapped into IPv6 (`::ffff:a.b.c.d`). */
function mappedIPv4(groups: number[]): string | undefined {
  if (!(groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff)) return undefined;
  return [groups[6]! >> 8, groups[6]! & 0xff, groups[7]! >> 8, groups[7]! & 0xff].join('.');
}

function hexGroups(groups: number[]): string {
  return groups.map((group) => group.toString(16)).join(':');
}

/** The eight 16-bit groups of an IPv6 address (its zone, `%eth0`, left out); undefined for any other text. */
function ipv6Groups(address: string): number[] | undefined {
  const unzoned = address.replace(/%.*$/, '');
  if (!isIPv6(unzoned)) return undefined;
  // A dotted IPv4 tail stands for the last two groups.
  const hex = unzoned.replace(/(\d+)\.(\d+)\.(\d+)\.(\d+)$/, (_, a: string, b: string, c: string, d: string) =>
    [(Number(a) << 8) | Number(b), (Number(c) << 8) | Number(d)].map((group) => group.toString(16)).join(':'),
  );
  const [head = '', tail] = hex.split('::');
  const parse = (part: string) => (part === '' ? [] : part.split(':').map((group) => parseInt(group, 16)));
  const [front, back] = [parse(head), parse(tail ?? '')];
  const elided = tail === undefined ? [] : Array<number>(8 - front.length - back.length).fill(0);
  return [...front, ...elided, ...back];
}
