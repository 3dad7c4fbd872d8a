import type { Clock } from '../clock';
import { describeError, type Logger } from '../logger';
import type { CheckResult } from './cosmos-health';

/** True when `err` or one of its causes carries the HTTP status `status` (the SDK's `code`). */
function hasStatus(err: unknown, status: number): boolean {
  for (let e: unknown = err, depth = 0; e !== undefined && e !== null && depth < 4; depth++) {
    if ((e as { code?: unknown }).code === status) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/** Something that can load itself and pull changes (a RefreshingCollection, typically). */
export interface Refreshable {
  readonly name: string;
  readonly loaded: boolean;
  readonly invalidDocuments: ReadonlyMap<string, string>;
  pull(): Promise<boolean>;
}

export interface StateRefresherOptions {
  readonly collections: readonly Refreshable[];
  readonly intervalSeconds: number;
  /** `POLICY_MAX_STALENESS_SECONDS`: past this age the state is not decided on ({@link stale}). */
  readonly maxStalenessSeconds: number;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Called after a refresh that changed anything: rebuild derived state (the policy index) here. */
  readonly onChange: () => void;
  /** Runs before the first pull until it succeeds once (create the database and containers). */
  readonly prepare?: () => Promise<void>;
  /** Extra periodic housekeeping (tombstone purge); failures are logged, never fatal. */
  readonly housekeeping?: () => Promise<void>;
  readonly housekeepingIntervalSeconds?: number;
}

/**
 * Keeps in-memory state current: loads every collection at start, then pulls changes every
 * `POLICY_REFRESH_SECONDS`. When Cosmos DB is unreachable the last good state stays in force
 * (and health says degraded) for at most `POLICY_MAX_STALENESS_SECONDS`; past that, or with
 * nothing ever loaded, health is down and callers fail closed (503).
 *
 * Why a bound: the state holds revocations and the policy versions SAS tokens are tied to. An
 * instance cut off from Cosmos DB would otherwise accept, for as long as the outage lasts, tokens
 * revoked on another instance just before it began. The price is availability: past the bound an
 * outage of Cosmos DB is an outage of the gateway's decisions (docs/operations.md).
 *
 * The timer only calls {@link refresh}; tests call it directly instead of waiting.
 */
export class StateRefresher {
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;
  private lastSuccessAt: number | undefined;
  private lastError: string | undefined;
  private lastHousekeepingAt = 0;
  private prepared = false;

  constructor(private readonly options: StateRefresherOptions) {}

  /** True once every collection has loaded at least once. */
  get ready(): boolean {
    return this.options.collections.every((c) => c.loaded);
  }

  /**
   * Milliseconds since the state was last confirmed current (the start of the last pull that
   * succeeded: nothing written before it can be missing), or undefined if never.
   */
  ageMs(): number | undefined {
    return this.lastSuccessAt === undefined ? undefined : this.options.clock.now() - this.lastSuccessAt;
  }

  /** True when the state was never confirmed current, or not within `POLICY_MAX_STALENESS_SECONDS`. */
  stale(): boolean {
    const age = this.ageMs();
    return age === undefined || age > this.options.maxStalenessSeconds * 1000;
  }

  /** First load, then the periodic refresh. Never throws. */
  async start(): Promise<void> {
    await this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.options.intervalSeconds * 1000);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Pulls changes now (single-flight). Never throws: a failure keeps the last good state. */
  refresh(): Promise<void> {
    this.inFlight ??= this.pullAll().finally(() => (this.inFlight = undefined));
    return this.inFlight;
  }

  private async pullAll(): Promise<void> {
    const { collections, logger, clock } = this.options;
    const startedAt = clock.now();
    try {
      if (!this.prepared && this.options.prepare) await this.options.prepare();
      this.prepared = true;
      const changed = await Promise.all(collections.map((c) => c.pull()));
      if (changed.some(Boolean)) this.options.onChange();
      if (this.lastError !== undefined) logger.log('info', 'store.refresh_recovered', {});
      this.lastSuccessAt = startedAt;
      this.lastError = undefined;
    } catch (err) {
      // A container or database that is gone (404: the database was replaced or deleted) is
      // created again by the next refresh, so admin writes and DPoP proofs work again.
      if (hasStatus(err, 404)) this.prepared = false;
      if (this.lastError === undefined) {
        logger.log('error', 'store.refresh_failed', { keptLastGood: this.ready, error: describeError(err) });
      }
      this.lastError = err instanceof Error ? err.message : String(err);
      return;
    }
    const every = (this.options.housekeepingIntervalSeconds ?? 3600) * 1000;
    if (this.options.housekeeping && clock.now() - this.lastHousekeepingAt >= every) {
      this.lastHousekeepingAt = clock.now();
      await this.options.housekeeping().catch((err: unknown) => {
        logger.log('warn', 'store.housekeeping_failed', { error: describeError(err) });
      });
    }
  }

  /**
   * `ok`; `degraded` (serving the last good state while refreshes fail or are late, or skipping
   * invalid documents); `down` (nothing loaded, or older than `POLICY_MAX_STALENESS_SECONDS`:
   * every decision is refused).
   */
  health(): CheckResult & {
    ageSeconds?: number;
    maxStalenessSeconds: number;
    invalidDocuments?: Record<string, string[]>;
  } {
    const { maxStalenessSeconds, intervalSeconds } = this.options;
    const age = this.ageMs();
    const ageSeconds = age === undefined ? undefined : Math.round(age / 1000);
    const aged = { ...(ageSeconds === undefined ? {} : { ageSeconds }), maxStalenessSeconds };
    if (!this.ready)
      return { status: 'down', detail: 'Policies have never loaded; every request is refused', ...aged };
    if (this.stale()) {
      return {
        status: 'down',
        detail:
          'Policies could not be refreshed within POLICY_MAX_STALENESS_SECONDS; every request is refused',
        ...aged,
      };
    }
    const invalid: Record<string, string[]> = {};
    for (const c of this.options.collections) {
      if (c.invalidDocuments.size > 0) invalid[c.name] = [...c.invalidDocuments.keys()];
    }
    const hasInvalid = Object.keys(invalid).length > 0;
    const late = age !== undefined && age > 2 * intervalSeconds * 1000;
    if (this.lastError !== undefined || late) {
      return {
        status: 'degraded',
        detail:
          this.lastError !== undefined
            ? 'Cosmos DB is unreachable; serving the last good policies'
            : 'The policy refresh is late (Cosmos DB slow or hanging); serving the last good policies',
        ...aged,
        ...(hasInvalid ? { invalidDocuments: invalid } : {}),
      };
    }
    if (hasInvalid) {
      return {
        status: 'degraded',
        detail: 'Some stored documents are invalid and skipped',
        ...aged,
        invalidDocuments: invalid,
      };
    }
    return { status: 'ok', ...aged };
  }
}
