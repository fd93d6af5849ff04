import { describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../../lib/index.js';
import { TrustedProxies } from '../../lib/webview/trusted-proxies.js';

describe('TrustedProxies (whose address a request forwarded by a reverse proxy counts for)', () => {
  it('takes a trusted peer by any spelling of its address, IPv4 mapped into IPv6 too', () => {
    const proxies = new TrustedProxies(['10.0.0.1', '2001:db8::5']);
    expect(proxies.clientAddress('::ffff:10.0.0.1', '203.0.113.1')).toBe('203.0.113.1');
    expect(proxies.clientAddress('2001:0db8:0:0:0:0:0:5', '203.0.113.1')).toBe('203.0.113.1');
    expect(proxies.clientAddress('2001:db8::6', '203.0.113.1')).toBe('2001:db8::6');
  });

  it('walks a chain of trusted proxies from the right, and keeps the peer for a malformed entry on the way', () => {
    const proxies = new TrustedProxies(['10.0.0.1', '10.0.0.2']);
    expect(proxies.clientAddress('10.0.0.1', '198.51.100.7, 203.0.113.1, 10.0.0.2')).toBe('203.0.113.1');
    expect(proxies.clientAddress('10.0.0.1', ['198.51.100.7, 203.0.113.1', '10.0.0.2'])).toBe('203.0.113.1');
    // Left of the client, anything goes: it is never read.
    expect(proxies.clientAddress('10.0.0.1', 'garbage, 203.0.113.1')).toBe('203.0.113.1');
    expect(proxies.clientAddress('10.0.0.1', '203.0.113.1, garbage')).toBe('10.0.0.1');
    expect(proxies.clientAddress('10.0.0.1', '')).toBe('10.0.0.1');
    expect(proxies.clientAddress('10.0.0.1', undefined)).toBe('10.0.0.1');
    // Some proxies write the client's port, or an IPv6 address in brackets.
    expect(proxies.clientAddress('10.0.0.1', '203.0.113.7:5678')).toBe('203.0.113.7');
    expect(proxies.clientAddress('10.0.0.1', '[2001:db8::1]:443')).toBe('2001:db8::1');
    expect(proxies.clientAddress('10.0.0.1', '[2001:db8::1], 10.0.0.2:80')).toBe('2001:db8::1');
    expect(proxies.clientAddress('10.0.0.1', '203.0.113.7:port')).toBe('10.0.0.1');
    // Only proxies named: the left-most of them is the client.
    expect(proxies.clientAddress('10.0.0.1', '10.0.0.2')).toBe('10.0.0.2');
  });

  it('trusts every address of a CIDR range, to its edges, and none past them', () => {
    const proxies = new TrustedProxies(['10.0.0.0/8', '192.168.4.0/22', 'fd00::/8']);
    for (const peer of ['10.0.0.0', '10.255.255.255', '192.168.4.0', '192.168.7.255', 'fd00::', 'fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff']) {
      expect(trusts(proxies, peer), peer).toBe(true);
    }
    for (const peer of ['9.255.255.255', '11.0.0.0', '192.168.3.255', '192.168.8.0', 'fcff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'fe00::']) {
      expect(trusts(proxies, peer), peer).toBe(false);
    }
    // Bits past the prefix length are left out: this is 10.0.0.0/8 too.
    expect(trusts(new TrustedProxies(['10.1.2.3/8']), '10.200.0.1')).toBe(true);
  });

  it('holds every address of its family in a /0, and one address in a /32 or /128', () => {
    const anyIPv4 = new TrustedProxies(['0.0.0.0/0']);
    expect(trusts(anyIPv4, '0.0.0.0')).toBe(true);
    expect(trusts(anyIPv4, '255.255.255.255')).toBe(true);
    expect(trusts(anyIPv4, '2001:db8::1')).toBe(false);
    const single = new TrustedProxies(['10.0.0.1/32', '2001:db8::5/128']);
    expect(trusts(single, '10.0.0.1')).toBe(true);
    expect(trusts(single, '10.0.0.2')).toBe(false);
    expect(trusts(single, '10.0.0.0')).toBe(false);
    expect(trusts(single, '2001:db8::5')).toBe(true);
    expect(trusts(single, '2001:db8::4')).toBe(false);
    expect(trusts(single, '2001:db8::6')).toBe(false);
  });

  it('matches IPv4 and its IPv4-mapped IPv6 form alike, peers and ranges both', () => {
    const ipv4Range = new TrustedProxies(['10.0.0.0/8']);
    expect(trusts(ipv4Range, '::ffff:10.1.2.3')).toBe(true);
    expect(trusts(ipv4Range, '::ffff:a01:203')).toBe(true);
    expect(trusts(ipv4Range, '::ffff:11.1.2.3')).toBe(false);
    const mappedRange = new TrustedProxies(['::ffff:10.0.0.0/104']);
    expect(trusts(mappedRange, '10.1.2.3')).toBe(true);
    expect(trusts(mappedRange, '11.1.2.3')).toBe(false);
    // IPv4 addresses are mapped into IPv6: the range of all IPv6 addresses holds them.
    expect(trusts(new TrustedProxies(['::/0']), '203.0.113.1')).toBe(true);
  });

  it('skips forwarded entries inside a trusted range when walking the chain', () => {
    const proxies = new TrustedProxies(['10.0.0.0/8']);
    expect(proxies.clientAddress('10.0.0.1', '198.51.100.7, 203.0.113.1, 10.9.9.9, 10.0.0.2')).toBe('203.0.113.1');
  });

  it('refuses a list holding anything but IP addresses and CIDR ranges, naming the entry', () => {
    expect(() => new TrustedProxies(['10.0.0.1', 'proxy.example'])).toThrow(new InvalidOptionError('WebView trustedProxies must hold IP addresses or CIDR ranges, got "proxy.example".'));
    expect(() => new TrustedProxies([7])).toThrow('got 7');
    expect(() => new TrustedProxies('10.0.0.1')).toThrow(InvalidOptionError);
    for (const malformed of ['proxy.example/8', '10.0.0.0/8/8', '/8', '10.0.0/8']) {
      expect(() => new TrustedProxies([malformed])).toThrow(new InvalidOptionError(`WebView trustedProxies must hold IP addresses or CIDR ranges, got "${malformed}".`));
    }
    for (const [range, most] of [['10.0.0.0/33', 32], ['::ffff:10.0.0.0/129', 128], ['fd00::/129', 128], ['10.0.0.0/', 32], ['10.0.0.0/-1', 32], ['10.0.0.0/ 8', 32], ['fd00::/0x8', 128]] as const) {
      const prefix = range.slice(range.indexOf('/') + 1);
      const refusal = `the prefix length of WebView trustedProxies entry "${range}" must be a whole number from 0 to ${most}, got "${prefix}".`;
      expect(() => new TrustedProxies(['10.0.0.1', range])).toThrow(new InvalidOptionError(refusal));
    }
  });
});

/** Whether the proxies trust `peer`: then it is a forwarded request's X-Forwarded-For that counts. */
function trusts(proxies: TrustedProxies, peer: string): boolean {
  return proxies.clientAddress(peer, '203.0.113.9') === '203.0.113.9';
}
