/**
 * Quotas (docs/quotas.md): "at most `limit` calls per client, user or tenant and UTC minute, hour
 * or day" on a resource, counted in one store every instance shares (Redis, with `REDIS_URL`) so
 * that however many instances run, together they allow at most `limit` per key and window.
 *
 * Windows are fixed and aligned to UTC: a counter is named by its window's start, so every
 * instance counts into the same key without agreeing on anything but the clock, and the key
 * expires with its window. A call is counted only when every counter of the resource has room;
 * then all are counted, in one atomic step (src/quota/redis-quota-store.ts).
 */
import { QUOTA_WINDOWS, type Quota } from '../policy/model';

/** The caller a quota counts: its client, user and tenant. */
export interface QuotaCaller {
  readonly azp?: string | undefined;
  readonly oid?: string | undefined;
  readonly tid?: string | undefined;
}

/** One counter of one call: a quota, applied to this caller, in this window. */
export interface QuotaCounter {
  /** The store key: `gw:q:{<resource>}:<per>:<window>:<window start>:<caller id>`. */
  readonly key: string;
  readonly limit: number;
  /** The `RateLimit-Policy` name: `<per>-<window>`, e.g. `client-minute`. */
  readonly name: string;
  readonly windowSeconds: number;
  /** Unix milliseconds at which the window ends and the counter starts again. */
  readonly resetAt: number;
}

/** What the store says of a call's counters: whether it fits, and each counter's count after it. */
export interface QuotaOutcome {
  readonly allowed: boolean;
  readonly counts: readonly number[];
}

/** The id a quota counts a caller by; callers without one share the `-` counter. */
function callerId(caller: QuotaCaller, per: Quota['per']): string {
  const value = per === 'client' ? caller.azp : per === 'user' ? caller.oid : caller.tid;
  return value === undefined || value === '' ? '-' : value.toLowerCase();
}

/**
 * The counters of one call to `resource` at `nowMs`. Keys share the hash tag `{<resource>}`, so a
 * call's counters live in one slot of a clustered Redis and one script can count them all.
 */
export function quotaCounters(
  resource: string,
  quotas: readonly Quota[],
  caller: QuotaCaller,
  nowMs: number,
): QuotaCounter[] {
  return quotas.map((quota) => {
    const windowSeconds = QUOTA_WINDOWS[quota.window];
    const windowMs = windowSeconds * 1000;
    const start = Math.floor(nowMs / windowMs) * windowMs;
    return {
      key: `gw:q:{${resource}}:${quota.per}:${quota.window}:${start}:${callerId(caller, quota.per)}`,
      limit: quota.limit,
      name: `${quota.per}-${quota.window}`,
      windowSeconds,
      resetAt: start + windowMs,
    };
  });
}

/** Seconds until `resetAt`, at least 1 (a client must wait into the next window). */
function secondsUntil(resetAt: number, nowMs: number): number {
  return Math.max(1, Math.ceil((resetAt - nowMs) / 1000));
}

/**
 * The IETF RateLimit fields (draft-ietf-httpapi-ratelimit-headers, structured-field lists of
 * quota policy items): `RateLimit-Policy: "client-minute";q=100;w=60` and
 * `RateLimit: "client-minute";r=37;t=12`, one item per quota.
 */
export function rateLimitHeaders(
  counters: readonly QuotaCounter[],
  outcome: QuotaOutcome,
  nowMs: number,
): Record<string, string> {
  const policy = counters.map((c) => `"${c.name}";q=${c.limit};w=${c.windowSeconds}`).join(', ');
  const state = counters
    .map(
      (c, i) =>
        `"${c.name}";r=${Math.max(0, c.limit - (outcome.counts[i] ?? 0))};t=${secondsUntil(c.resetAt, nowMs)}`,
    )
    .join(', ');
  return { 'ratelimit-policy': policy, ratelimit: state };
}

/** `Retry-After` of a refused call: when the soonest full counter starts again. */
export function retryAfterSeconds(
  counters: readonly QuotaCounter[],
  outcome: QuotaOutcome,
  nowMs: number,
): number {
  let soonest = Infinity;
  counters.forEach((c, i) => {
    if ((outcome.counts[i] ?? 0) >= c.limit) soonest = Math.min(soonest, c.resetAt);
  });
  return secondsUntil(soonest === Infinity ? nowMs + 1000 : soonest, nowMs);
}

/** The remaining quota of each counter, as the decision API reports it. */
export function quotaReport(
  counters: readonly QuotaCounter[],
  outcome: QuotaOutcome,
  nowMs: number,
): { name: string; limit: number; remaining: number; resetSeconds: number }[] {
  return counters.map((c, i) => ({
    name: c.name,
    limit: c.limit,
    remaining: Math.max(0, c.limit - (outcome.counts[i] ?? 0)),
    resetSeconds: secondsUntil(c.resetAt, nowMs),
  }));
}

/**
 * Where counters are kept: Redis for every instance, or this instance's memory. `take` counts
 * one call against every counter when all have room (and only then); `peek` counts nothing.
 * Both reject when the store cannot answer; the caller bounds how long it waits.
 */
export interface QuotaStore {
  readonly kind: 'redis' | 'memory';
  take(counters: readonly QuotaCounter[]): Promise<QuotaOutcome>;
  peek(counters: readonly QuotaCounter[]): Promise<QuotaOutcome>;
  close(): Promise<void>;
}

/**
 * Counters in this instance's memory: exact for one instance, and per instance when several
 * run (the banner and `/api/health` say so). Expired windows are dropped as new ones start.
 */
export class MemoryQuotaStore implements QuotaStore {
  readonly kind = 'memory' as const;
  private readonly counts = new Map<string, { count: number; resetAt: number }>();
  /** Most counters kept: past it, the oldest windows go first (a flood of callers costs bounded memory). */
  private static readonly MAX_COUNTERS = 100_000;

  constructor(private readonly now: () => number) {}

  private current(counter: QuotaCounter): number {
    const held = this.counts.get(counter.key);
    return held === undefined || held.resetAt <= this.now() ? 0 : held.count;
  }

  take(counters: readonly QuotaCounter[]): Promise<QuotaOutcome> {
    const counts = counters.map((c) => this.current(c));
    if (counters.some((c, i) => counts[i]! >= c.limit)) return Promise.resolve({ allowed: false, counts });
    if (this.counts.size >= MemoryQuotaStore.MAX_COUNTERS) this.evict();
    counters.forEach((c, i) => this.counts.set(c.key, { count: counts[i]! + 1, resetAt: c.resetAt }));
    return Promise.resolve({ allowed: true, counts: counts.map((n) => n + 1) });
  }

  peek(counters: readonly QuotaCounter[]): Promise<QuotaOutcome> {
    const counts = counters.map((c) => this.current(c));
    return Promise.resolve({ allowed: counters.every((c, i) => counts[i]! < c.limit), counts });
  }

  private evict(): void {
    const now = this.now();
    for (const [key, held] of this.counts) if (held.resetAt <= now) this.counts.delete(key);
    // Still full: drop the oldest (insertion order), never grow past the bound.
    for (const key of this.counts.keys()) {
      if (this.counts.size < MemoryQuotaStore.MAX_COUNTERS) break;
      this.counts.delete(key);
    }
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
