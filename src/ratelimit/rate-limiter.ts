import type { Clock } from '../clock';

export interface RateLimit {
  /** Sustained requests per second. */
  readonly ratePerSecond: number;
  /** Requests allowed at once above the sustained rate. */
  readonly burst: number;
}

export interface RateDecision {
  readonly allowed: boolean;
  /** Whole seconds until one more request would be allowed (for `Retry-After`); 0 when allowed. */
  readonly retryAfterSeconds: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

const ALLOWED: RateDecision = Object.freeze({ allowed: true, retryAfterSeconds: 0 });

/**
 * Token buckets by key (a principal's oid, a client IP), in memory, per instance.
 *
 * Why in memory: a shared store (Redis, Cosmos) would put I/O on every request's path. The cost
 * is that the limit is per instance: with N instances a caller gets up to N times the rate. That
 * bounds abuse of one instance (the point: nobody knocks it over), not a global quota; for a
 * global quota put Azure API Management or Front Door rate limiting in front.
 *
 * The key map is bounded: past `maxKeys`, the least recently used keys are forgotten (a forgotten
 * key starts with a full bucket, so eviction can only be generous, never lock anyone out).
 */
export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly limit: RateLimit,
    private readonly clock: Clock,
    private readonly maxKeys = 100_000,
  ) {
    if (!(limit.ratePerSecond > 0) || !(limit.burst >= 1)) {
      throw new RangeError('RateLimiter: ratePerSecond must be > 0 and burst >= 1');
    }
  }

  /** Takes one token for `key`: allowed, or how long to wait. */
  take(key: string): RateDecision {
    const now = this.clock.now();
    const { ratePerSecond, burst } = this.limit;
    let bucket = this.buckets.get(key);
    if (bucket === undefined) {
      bucket = { tokens: burst, at: now };
      if (this.buckets.size >= this.maxKeys) this.evictOldest();
    } else {
      this.buckets.delete(key); // re-inserted below: Map order is least recently used first
      bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.at) / 1000) * ratePerSecond);
      bucket.at = now;
    }
    this.buckets.set(key, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return ALLOWED;
    }
    return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - bucket.tokens) / ratePerSecond)) };
  }

  get size(): number {
    return this.buckets.size;
  }

  private evictOldest(): void {
    const excess = Math.max(1, Math.floor(this.maxKeys / 100));
    let n = 0;
    for (const key of this.buckets.keys()) {
      this.buckets.delete(key);
      if (++n >= excess) break;
    }
  }
}
