import { isIPv4 } from 'node:net';
import { wholeNumberText } from '../core/config.js';
import { InvalidOptionError } from '../core/errors.js';
import { addressGroups } from './login-throttle.js';

/** Addresses as IPv6 has them: an IPv4 range is its IPv4-mapped one, 96 bits longer (`10.0.0.0/8` is `::ffff:10.0.0.0/104`). */
const ADDRESS_BITS = 128;
const IPV4_BITS = 32;

/** The addresses a trustedProxies entry stands for: those whose first `prefixLength` bits are those of `address`. */
export interface AddressRange {
  address: bigint;
  prefixLength: number;
}

/**
 * The reverse proxies in front of the dashboard, so that a request they forward is counted for
 * the client it came from (see clientAddress), not for the proxy that all requests share.
 */
export class TrustedProxies {
  private readonly ranges: readonly AddressRange[];

  constructor(trustedProxies: unknown) {
    this.ranges = proxyRanges(trustedProxies, 'WebView trustedProxies');
  }

  /**
   * The address of the client a request comes from. From a trusted proxy, it is the right-most
   * X-Forwarded-For address that is no trusted proxy: each proxy appends the address it was
   * reached from, so the entries left of that one are the client's to write, and may be forged.
   * A peer that is no trusted proxy is the client, whatever it sends; a malformed entry on the
   * way falls back to the peer.
   */
  clientAddress(peer: string, forwardedFor: string | string[] | undefined): string {
    // Node joins a repeated header of this name into one; its type allows a list all the same.
    const entries = [forwardedFor ?? []].flat().flatMap((header) => header.split(',')).map((entry) => entry.trim());
    let client = peer;
    while (this.isTrusted(client) && entries.length > 0) {
      const next = forwardedAddress(entries.pop()!);
      if (next === undefined) return peer;
      client = next;
    }
    return client;
  }

  private isTrusted(address: string): boolean {
    const bits = addressBits(address);
    return bits !== undefined && this.ranges.some((range) => inRange(bits, range));
  }
}

/**
 * The ranges of a trustedProxies list: IP addresses and CIDR ranges (`10.0.0.0/8`, `fd00::/8`).
 * Anything else is refused, naming the entry and what `label` calls the list (the CLI checks its
 * option with it before it reaches Redis).
 */
export function proxyRanges(trustedProxies: unknown, label: string): AddressRange[] {
  if (!Array.isArray(trustedProxies)) throw new InvalidOptionError(`${label} must be a list of IP addresses or CIDR ranges.`);
  return trustedProxies.map((given: unknown) => proxyRange(given, label));
}

/** One entry: an address alone is the range of that address only. */
function proxyRange(given: unknown, label: string): AddressRange {
  const [address = '', prefix, ...extra] = typeof given === 'string' ? given.split('/') : [];
  const bits = addressBits(address);
  if (bits === undefined || extra.length > 0) throw new InvalidOptionError(`${label} must hold IP addresses or CIDR ranges, got ${JSON.stringify(given)}.`);
  if (prefix === undefined) return { address: bits, prefixLength: ADDRESS_BITS };
  const familyBits = isIPv4(address) ? IPV4_BITS : ADDRESS_BITS;
  const prefixLength = wholeNumberText(`the prefix length of ${label} entry ${JSON.stringify(given)}`, prefix, 0, familyBits);
  return { address: bits, prefixLength: prefixLength + ADDRESS_BITS - familyBits };
}

/**
 * The address of an X-Forwarded-For entry, which some proxies write with the client's port
 * (`203.0.113.7:5678`, `[2001:db8::1]:443`) or an IPv6 address in brackets; undefined for text
 * that holds no IP address.
 */
function forwardedAddress(entry: string): string | undefined {
  const bracketed = /^\[([^\]]+)\](?::\d{1,5})?$/.exec(entry);
  const address = bracketed ? bracketed[1]! : entry.replace(/^(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}$/, '$1');
  return addressBits(address) === undefined ? undefined : address;
}

/** An IP address as one 128-bit number (see ADDRESS_BITS); undefined for text that is none. */
function addressBits(address: string): bigint | undefined {
  return addressGroups(address)?.reduce((bits, group) => (bits << 16n) | BigInt(group), 0n);
}

/** Whether the address agrees with the range on the bits its prefix fixes (the range's own later bits never count). */
function inRange(address: bigint, { address: start, prefixLength }: AddressRange): boolean {
  return (address ^ start) >> BigInt(ADDRESS_BITS - prefixLength) === 0n;
}
