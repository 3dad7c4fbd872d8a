import { ManualClock } from '../../../src/clock';
import { RateLimiter } from '../../../src/ratelimit/rate-limiter';

describe('RateLimiter', () => {
  it('allows a burst, then refuses with Retry-After until tokens refill', () => {
    const clock = new ManualClock();
    const limiter = new RateLimiter({ ratePerSecond: 2, burst: 3 }, clock);
    expect([1, 2, 3].map(() => limiter.take('a').allowed)).toEqual([true, true, true]);
    expect(limiter.take('a')).toEqual({ allowed: false, retryAfterSeconds: 1 });
    clock.advance(499);
    expect(limiter.take('a').allowed).toBe(false);
    clock.advance(1);
    expect(limiter.take('a').allowed).toBe(true);
  });

  it('keeps keys apart', () => {
    const limiter = new RateLimiter({ ratePerSecond: 1, burst: 1 }, new ManualClock());
    expect(limiter.take('a').allowed).toBe(true);
    expect(limiter.take('a').allowed).toBe(false);
    expect(limiter.take('b').allowed).toBe(true);
  });

  it('rounds Retry-After up to whole seconds for slow rates', () => {
    const limiter = new RateLimiter({ ratePerSecond: 0.1, burst: 1 }, new ManualClock());
    limiter.take('a');
    expect(limiter.take('a')).toEqual({ allowed: false, retryAfterSeconds: 10 });
  });

  it('never grows past maxKeys, forgetting the least recently used', () => {
    const clock = new ManualClock();
    const limiter = new RateLimiter({ ratePerSecond: 1, burst: 1 }, clock, 100);
    limiter.take('keep');
    for (let i = 0; i < 1000; i++) {
      limiter.take(`k${i}`);
      if (i % 10 === 0) limiter.take('keep');
    }
    expect(limiter.size).toBeLessThanOrEqual(100);
    expect(limiter.take('keep').allowed).toBe(false); // recently used: still limited
  });

  it.each([
    [{ ratePerSecond: 0, burst: 1 }],
    [{ ratePerSecond: 1, burst: 0 }],
    [{ ratePerSecond: Number.NaN, burst: 1 }],
  ])('refuses a nonsensical limit %p', (limit) => {
    expect(() => new RateLimiter(limit, new ManualClock())).toThrow(RangeError);
  });
});
