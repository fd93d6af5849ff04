import { describe, expect, it } from 'vitest';
import { LoginThrottle } from '../../lib/webview/login-throttle.js';

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
});
