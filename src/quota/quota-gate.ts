/**
 * The quotas of a call (docs/quotas.md): spends one call of the caller against every quota of the
 * resource, in the store every instance shares, and says what the caller sees: the RateLimit
 * fields, or 429 `ERR_QUOTA_EXCEEDED` with `Retry-After`.
 *
 * A store that does not answer within {@link REDIS_DEADLINE_MS} (down, frozen, unreachable) never
 * holds a call: the resource's `quotaStoreFailure` decides it (`allow`, the default, or `deny`:
 * 429 `ERR_QUOTA_UNAVAILABLE`), never a 5xx. The failure is counted (a metric) and shown in
 * `/api/health` until the store answers again; nothing needs to be done for it to recover.
 */
import type { Clock } from '../clock';
import { GatewayError } from '../errors';
import { describeError, type Logger } from '../logger';
import type { Metrics } from '../observability/metrics';
import type { Resource } from '../policy/model';
import { REDIS_DEADLINE_MS, withinDeadline, type RedisHealth } from '../store/redis-connection';
import {
  quotaCounters,
  quotaReport,
  rateLimitHeaders,
  retryAfterSeconds,
  type QuotaCaller,
  type QuotaCounter,
  type QuotaOutcome,
  type QuotaStore,
} from './quota';

const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({});

type QuotaResource = Pick<Resource, 'name' | 'quotas' | 'quotaStoreFailure'>;

/** `checks.quotas` of `/api/health`. */
export interface QuotaHealth {
  readonly status: 'ok' | 'degraded';
  /** `redis`: counted across every instance; `memory`: per instance (no `REDIS_URL`). */
  readonly store: 'redis' | 'memory';
  /** Calls decided without the store since it last answered. */
  readonly failures: number;
  readonly lastError?: string;
}

export class QuotaGate {
  private failures = 0;
  private lastError: string | undefined;

  constructor(
    private readonly store: QuotaStore,
    private readonly deps: {
      readonly clock: Clock;
      readonly logger: Logger;
      readonly metrics: Metrics;
      /** The Redis connection's own state, when the store is Redis. */
      readonly connection?: () => RedisHealth;
    },
  ) {}

  get storeKind(): QuotaStore['kind'] {
    return this.store.kind;
  }

  /**
   * Counts one call of `caller` on `resource`. Returns the RateLimit fields to send with the
   * answer (none when the resource has no quota, or the store did not answer).
   *
   * @throws {GatewayError} 429 `ERR_QUOTA_EXCEEDED` (with `Retry-After` and the fields), or 429
   *   `ERR_QUOTA_UNAVAILABLE` when the store did not answer and the resource says `deny`
   */
  async spend(resource: QuotaResource, caller: QuotaCaller): Promise<Readonly<Record<string, string>>> {
    if (resource.quotas === undefined) return NO_HEADERS;
    const now = this.deps.clock.now();
    const counters = quotaCounters(resource.name, resource.quotas, caller, now);
    const outcome = await this.ask(resource, () => this.store.take(counters));
    if (outcome === undefined) return NO_HEADERS;
    const headers = rateLimitHeaders(counters, outcome, now);
    if (!outcome.allowed) {
      this.deps.metrics.quotaExceeded(resource.name);
      throw new GatewayError('ERR_QUOTA_EXCEEDED', undefined, {
        headers: { ...headers, 'retry-after': String(retryAfterSeconds(counters, outcome, now)) },
      });
    }
    return headers;
  }

  /**
   * The RateLimit fields of `caller` on `resource` as the counters stand, spending nothing: what a
   * refused call carries. None when the resource has no quota or the store does not answer.
   */
  async peekHeaders(resource: QuotaResource, caller: QuotaCaller): Promise<Readonly<Record<string, string>>> {
    const read = await this.peek(resource, caller);
    return read === undefined ? NO_HEADERS : rateLimitHeaders(read.counters, read.outcome, read.now);
  }

  /** What is left of each quota for `caller`, without spending any (the decision API). */
  async remaining(
    resource: QuotaResource,
    caller: QuotaCaller,
  ): Promise<ReturnType<typeof quotaReport> | undefined> {
    const read = await this.peek(resource, caller);
    return read === undefined ? undefined : quotaReport(read.counters, read.outcome, read.now);
  }

  /** The counters of `caller` on `resource`, read without spending; `undefined` without quotas or an answer. */
  private async peek(
    resource: QuotaResource,
    caller: QuotaCaller,
  ): Promise<{ counters: QuotaCounter[]; outcome: QuotaOutcome; now: number } | undefined> {
    if (resource.quotas === undefined) return undefined;
    const now = this.deps.clock.now();
    const counters = quotaCounters(resource.name, resource.quotas, caller, now);
    try {
      const outcome = await withinDeadline(this.store.peek(counters));
      this.answered();
      return { counters, outcome, now };
    } catch (err) {
      this.failed(err);
      return undefined;
    }
  }

  /** The store's answer, or `undefined` when it gave none in time and the resource lets the call through. */
  private async ask(
    resource: QuotaResource,
    work: () => Promise<QuotaOutcome>,
  ): Promise<QuotaOutcome | undefined> {
    try {
      const outcome = await withinDeadline(work(), REDIS_DEADLINE_MS);
      this.answered();
      return outcome;
    } catch (err) {
      this.failed(err);
      const decided = resource.quotaStoreFailure;
      this.deps.metrics.quotaStoreFailure(resource.name, decided);
      if (decided === 'deny')
        throw new GatewayError('ERR_QUOTA_UNAVAILABLE', undefined, { headers: { 'retry-after': '1' } });
      return undefined;
    }
  }

  private answered(): void {
    if (this.failures > 0) this.deps.logger.log('info', 'quota.store_recovered', { failures: this.failures });
    this.failures = 0;
    this.lastError = undefined;
  }

  private failed(err: unknown): void {
    // One log line per outage: the metric counts every call.
    if (this.failures === 0)
      this.deps.logger.log('warn', 'quota.store_failed', { error: describeError(err) });
    this.failures++;
    this.lastError = err instanceof Error ? err.message : String(err);
  }

  health(): QuotaHealth {
    const connection = this.deps.connection?.();
    const failing = this.failures > 0 || (connection !== undefined && !connection.ready);
    const lastError = this.lastError ?? connection?.lastError;
    return {
      status: failing ? 'degraded' : 'ok',
      store: this.store.kind,
      failures: this.failures,
      ...(lastError === undefined ? {} : { lastError }),
    };
  }

  close(): Promise<void> {
    return this.store.close();
  }
}
