import { describe, expect, it } from 'vitest';
import { raceTimeout, settleWithin } from '../../lib/core/timing.js';

const never = new Promise<never>(() => undefined);

describe('raceTimeout', () => {
  it('settles like the work when it comes first: its value, or its rejection', async () => {
    await expect(raceTimeout(Promise.resolve(42), 1000, () => 'late')).resolves.toBe(42);
    await expect(raceTimeout(Promise.reject(new RangeError('boom')), 1000, () => 'late')).rejects.toThrow(RangeError);
  });

  it('settles with the value onTimeout returns, or what it throws, when the time passes first', async () => {
    await expect(raceTimeout(never, 10, () => 'timed out')).resolves.toBe('timed out');
    await expect(
      raceTimeout(never, 10, () => {
        throw new Error('too slow');
      }),
    ).rejects.toThrow('too slow');
  });

  it('settleWithin ends after its bound even when the work never settles', async () => {
    const startedAt = Date.now();
    await settleWithin([never, Promise.resolve()], 50);
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(45);
  });
});
