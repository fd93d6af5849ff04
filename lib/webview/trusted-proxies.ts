import { InvalidOptionError } from '../core/errors.js';
import { canonicalAddress } from './login-throttle.js';

/**
 * The reverse proxies in front of the dashboard, so that a request they forward is counted for
 * the client it came from (see clientAddress), not for the proxy that all requests share.
 */
export class TrustedProxies {
  private readonly addresses: ReadonlySet<string>;

  constructor(trustedProxies: unknown) {
    this.addresses = new Set(proxyAddresses(trustedProxies));
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
      const next = entries.pop()!;
      if (canonicalAddress(next) === undefined) return peer;
      client = next;
    }
    return client;
  }

  private isTrusted(address: string): boolean {
    const canonical = canonicalAddress(address);
    return canonical !== undefined && this.addresses.has(canonical);
  }
}

function proxyAddresses(trustedProxies: unknown): string[] {
  if (!Array.isArray(trustedProxies)) throw new InvalidOptionError('WebView trustedProxies must be a list of IP addresses.');
  return trustedProxies.map((given: unknown) => {
    const canonical = typeof given === 'string' ? canonicalAddress(given) : undefined;
    if (canonical === undefined) throw new InvalidOptionError(`WebView trustedProxies must hold IP addresses, got ${JSON.stringify(given)}.`);
    return canonical;
  });
}
