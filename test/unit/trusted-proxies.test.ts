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
    // Only proxies named: the left-most of them is the client.
    expect(proxies.clientAddress('10.0.0.1', '10.0.0.2')).toBe('10.0.0.2');
  });

  it('refuses a list holding anything but IP addresses, naming the entry', () => {
    expect(() => new TrustedProxies(['10.0.0.1', '10.0.0.0/8'])).toThrow(new InvalidOptionError('WebView trustedProxies must hold IP addresses, got "10.0.0.0/8".'));
    expect(() => new TrustedProxies([7])).toThrow('got 7');
    expect(() => new TrustedProxies('10.0.0.1')).toThrow(InvalidOptionError);
  });
});
