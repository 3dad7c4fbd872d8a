import {
  MemoryQuotaStore,
  quotaCounters,
  rateLimitHeaders,
  retryAfterSeconds,
} from '../../../src/quota/quota';

const T = Date.UTC(2026, 11, 7, 10, 15, 42, 250); // 10:15:42.250 UTC
const caller = { azp: 'C0FFEE', oid: 'u-1', tid: 't-1' };

describe('quota counters', () => {
  it('names one key per quota, window start and caller, all in one hash slot of the resource', () => {
    const counters = quotaCounters(
      'orders',
      [
        { per: 'client', limit: 100, window: 'minute' },
        { per: 'user', limit: 10, window: 'hour' },
        { per: 'tenant', limit: 5000, window: 'day' },
      ],
      caller,
      T,
    );
    expect(counters.map((c) => c.key)).toEqual([
      `gw:q:{orders}:client:minute:${Date.UTC(2026, 11, 7, 10, 15)}:c0ffee`,
      `gw:q:{orders}:user:hour:${Date.UTC(2026, 11, 7, 10)}:u-1`,
      `gw:q:{orders}:tenant:day:${Date.UTC(2026, 11, 7)}:t-1`,
    ]);
    expect(counters.map((c) => c.resetAt)).toEqual([
      Date.UTC(2026, 11, 7, 10, 16),
      Date.UTC(2026, 11, 7, 11),
      Date.UTC(2026, 11, 8),
    ]);
  });

  it('counts a caller without the id under "-", never under another caller', () => {
    const [counter] = quotaCounters('orders', [{ per: 'user', limit: 1, window: 'day' }], { azp: 'a' }, T);
    expect(counter!.key.endsWith(':-')).toBe(true);
  });

  it('writes the IETF RateLimit fields and Retry-After', () => {
    const counters = quotaCounters(
      'orders',
      [
        { per: 'client', limit: 100, window: 'minute' },
        { per: 'user', limit: 10, window: 'hour' },
      ],
      caller,
      T,
    );
    const outcome = { allowed: false, counts: [100, 3] };
    expect(rateLimitHeaders(counters, outcome, T)).toEqual({
      'ratelimit-policy': '"client-minute";q=100;w=60, "user-hour";q=10;w=3600',
      ratelimit: '"client-minute";r=0;t=18, "user-hour";r=7;t=2658',
    });
    expect(retryAfterSeconds(counters, outcome, T)).toBe(18);
  });
});

describe('the per-instance memory store', () => {
  it('allows exactly the limit in a window, counts nothing it refuses, and starts again with the next window', async () => {
    let now = T;
    const store = new MemoryQuotaStore(() => now);
    const counters = () =>
      quotaCounters(
        'orders',
        [
          { per: 'client', limit: 3, window: 'minute' },
          { per: 'user', limit: 5, window: 'hour' },
        ],
        caller,
        now,
      );
    const outcomes = [];
    for (let i = 0; i < 5; i++) outcomes.push(await store.take(counters()));
    expect(outcomes.map((o) => o.allowed)).toEqual([true, true, true, false, false]);
    // The refused calls counted in neither quota.
    expect((await store.peek(counters())).counts).toEqual([3, 3]);
    now += 60_000;
    expect((await store.take(counters())).counts).toEqual([1, 4]);
  });
});
