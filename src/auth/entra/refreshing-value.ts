/**
 * A value loaded from the network that the hot path reads from memory: single-flight loads,
 * a remembered last failure, and clock-driven decisions about when another load is allowed.
 * OpenID metadata and each JWKS are one of these.
 */
import type { Clock } from '../../clock';
import { describeError, type Logger } from '../../logger';

/** Loads `T`; refreshes keep the last good value when they fail. */
export class RefreshingValue<T> {
  private current: T | undefined;
  private loadedAtMs: number | undefined;
  private attemptedAtMs: number | undefined;
  private lastError: unknown;
  private inflight: Promise<void> | undefined;
  /** Loads started (successful or not): what tests and the rate limit reason about. */
  loads = 0;

  constructor(
    private readonly name: string,
    private readonly load: () => Promise<T>,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly onLoaded?: (next: T, previous: T | undefined) => void,
  ) {}

  /** The last good value, if any load ever succeeded. */
  get value(): T | undefined {
    return this.current;
  }

  /** True when the latest load failed (the value, if any, is from an earlier load). */
  get failing(): boolean {
    return this.lastError !== undefined;
  }

  /** The error of the latest load when it failed. */
  get error(): unknown {
    return this.lastError;
  }

  /**
   * Loads now, or joins the load in flight: concurrent callers share one request. Never
   * rejects; a failure is remembered (see {@link failing}) and the previous value kept.
   */
  refresh(): Promise<void> {
    this.inflight ??= this.runLoad().finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  /** Resolves when no load is in flight (tests, shutdown). */
  async settled(): Promise<void> {
    while (this.inflight) await this.inflight;
  }

  /**
   * Refreshes only if no load started within `minIntervalMs` (rate limit); joins a load in flight.
   * The interval is measured from the start of the last attempt, successful or not.
   */
  async refreshAtMostEvery(minIntervalMs: number): Promise<void> {
    if (this.inflight) return this.inflight;
    if (this.attemptedAtMs !== undefined && this.clock.now() - this.attemptedAtMs < minIntervalMs) return;
    return this.refresh();
  }

  /**
   * Returns the value, loading it first when there is none (at most one attempt per
   * `retryAfterFailureMs`, so an outage does not turn every request into a request to the IdP).
   */
  async get(retryAfterFailureMs: number): Promise<T | undefined> {
    if (this.current === undefined) await this.refreshAtMostEvery(retryAfterFailureMs);
    return this.current;
  }

  /**
   * Starts a background refresh when the value is older than `maxAgeMs`, was never loaded, or the
   * last load failed (then at most once per `retryAfterFailureMs`). The caller keeps using the
   * current value meanwhile.
   */
  refreshInBackgroundIfOlderThan(maxAgeMs: number, retryAfterFailureMs: number): void {
    if (this.inflight) return;
    const now = this.clock.now();
    const unhealthy = this.loadedAtMs === undefined || this.failing;
    if (!unhealthy && now - (this.loadedAtMs ?? 0) < maxAgeMs) return;
    // While failing, retry on a short leash: soon enough to recover quickly, rarely enough that
    // an outage is not answered with a request to the IdP per incoming request.
    if (unhealthy && this.attemptedAtMs !== undefined && now - this.attemptedAtMs < retryAfterFailureMs)
      return;
    void this.refresh();
  }

  private async runLoad(): Promise<void> {
    this.attemptedAtMs = this.clock.now();
    this.loads += 1;
    try {
      const next = await this.load();
      const previous = this.current;
      this.current = next;
      this.loadedAtMs = this.clock.now();
      if (this.lastError !== undefined)
        this.logger.log('info', 'entra.refresh.recovered', { source: this.name });
      this.lastError = undefined;
      this.onLoaded?.(next, previous);
    } catch (err) {
      this.lastError = err;
      this.logger.log('warn', 'entra.refresh.failed', {
        source: this.name,
        serving: this.current === undefined ? 'nothing' : 'cached',
        error: describeError(err),
      });
    }
  }
}
