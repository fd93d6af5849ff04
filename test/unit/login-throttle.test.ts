import { describe, expect, it } from 'vitest';
import { clientKey, LoginThrottle } from '../../lib/webview/login-throttle.js';

describe('LoginThrottle (the dashboard login\'s rate limit)', () => {
  const options = { maxFailures: 3, lockoutMs: 1_000, maxAddresses: 3 };

  it('makes an address wait after failures in a row, and starts afresh once the pause is over', () => {
    const throttle = new LoginThrottle(options);
    throttle.failed('10.0.0.1', 0);
    throttle.failed('10.0.0.1', 10);
    expect(throttle.waitMs('10.0.0.1', 10)).toBe(0);
    throttle.failed('10.0.0.1', 20);
    expect(throttle.waitMs('10.0.0.1', 20)).toBe(1_000);
    expect(throttle.waitMs('10.0.0.2', 20)).toBe(0);
    expect(throttle.waitMs('10.0.0.1', 1_020)).toBe(0);
    // The pause served: one more failure is the first of a new count.
    throttle.failed('10.0.0.1', 1_030);
    expect(throttle.waitMs('10.0.0.1', 1_030)).toBe(0);
  });

  it('counts failures together only when they are no further apart than the pause, and forgets them on a success', () => {
    const throttle = new LoginThrottle(options);
    for (const at of [0, 2_000, 4_000]) throttle.failed('10.0.0.1', at);
    expect(throttle.waitMs('10.0.0.1', 4_000)).toBe(0);
    throttle.failed('10.0.0.2', 0);
    throttle.failed('10.0.0.2', 1);
    throttle.succeeded('10.0.0.2');
    throttle.failed('10.0.0.2', 2);
    expect(throttle.waitMs('10.0.0.2', 2)).toBe(0);
  });

  it('follows at most maxAddresses addresses, forgetting the one whose last failure is oldest', () => {
    const throttle = new LoginThrottle(options);
    for (const at of [0, 1, 2]) throttle.failed('10.0.0.1', at);
    for (const at of [3, 4, 5]) throttle.failed('10.0.0.2', at);
    throttle.failed('10.0.0.3', 6);
    expect(throttle.waitMs('10.0.0.1', 6)).toBeGreaterThan(0);
    throttle.failed('10.0.0.4', 7);
    expect(throttle.waitMs('10.0.0.1', 7)).toBe(0);
    expect(throttle.waitMs('10.0.0.2', 7)).toBeGreaterThan(0);
  });

  it('counts an IPv6 address by its /64 prefix, an IPv4 one (also mapped into IPv6) by itself', () => {
    expect(clientKey('10.0.0.1')).toBe('10.0.0.1');
    expect(clientKey('::ffff:10.0.0.1')).toBe('10.0.0.1');
    expect(clientKey('::ffff:a00:1')).toBe('10.0.0.1');
    expect(clientKey('2001:db8:1:2::1')).toBe('2001:db8:1:2::/64');
    expect(clientKey('2001:0db8:0001:0002:ffff:ffff:ffff:ffff')).toBe('2001:db8:1:2::/64');
    expect(clientKey('2001:db8:1:2:3:4:5.6.7.8')).toBe('2001:db8:1:2::/64');
    expect(clientKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(clientKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    expect(clientKey('::1')).toBe('0:0:0:0::/64');
    expect(clientKey('2001:db8:1:3::1')).not.toBe(clientKey('2001:db8:1:2::1'));
    // A socket already closed reports no address: kept as it is.
    expect(clientKey('')).toBe('');
  });

  it('makes a whole IPv6 /64 wait once its addresses together failed too often, and gives it one entry, which cannot push others out', () => {
    const throttle = new LoginThrottle({ ...options, maxAddresses: 2 });
    for (const at of [0, 1, 2]) throttle.failed('10.0.0.1', at);
    for (const [at, host] of [[3, '1'], [4, 'a']] as const) throttle.failed(`2001:db8:1:2::${host}`, at);
    // Two addresses of the /64 took one entry: the locked address is still followed.
    expect(throttle.waitMs('10.0.0.1', 4)).toBeGreaterThan(0);
    throttle.failed('2001:db8:1:2:ffff:ffff:ffff:ffff', 5);
    expect(throttle.waitMs('2001:db8:1:2::b', 5)).toBe(1_000);
    expect(throttle.waitMs('2001:db8:1:3::1', 5)).toBe(0);
  });
});
