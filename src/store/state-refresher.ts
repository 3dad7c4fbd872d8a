import type { Clock } from '../clock';
import { describeError, type Logger } from '../logger';
import type { CheckResult } from './cosmos-health';

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
 * (and health says degraded); with nothing ever loaded, health is down and callers fail closed.
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

  /** Milliseconds since the state was last confirmed current, or undefined if never. */
  ageMs(): number | undefined {
    return this.lastSuccessAt === undefined ? undefined : this.options.clock.now() - this.lastSuccessAt;
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
    try {
      if (!this.prepared && this.options.prepare) await this.options.prepare();
      this.prepared = true;
      const changed = await Promise.all(collections.map((c) => c.pull()));
      if (changed.some(Boolean)) this.options.onChange();
      if (this.lastError !== undefined) logger.log('info', 'store.refresh_recovered', {});
      this.lastSuccessAt = clock.now();
      this.lastError = undefined;
    } catch (err) {
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

  /** `ok`, `degraded` (serving the last good state, or skipping invalid documents) or `down` (nothing loaded). */
  health(): CheckResult & { ageSeconds?: number; invalidDocuments?: Record<string, string[]> } {
    const age = this.ageMs();
    const ageSeconds = age === undefined ? undefined : Math.round(age / 1000);
    if (!this.ready)
      return { status: 'down', detail: 'Policies have never loaded; every request is refused' };
    const invalid: Record<string, string[]> = {};
    for (const c of this.options.collections) {
      if (c.invalidDocuments.size > 0) invalid[c.name] = [...c.invalidDocuments.keys()];
    }
    const hasInvalid = Object.keys(invalid).length > 0;
    if (this.lastError !== undefined) {
      return {
        status: 'degraded',
        detail: 'Cosmos DB is unreachable; serving the last good policies',
        ...(ageSeconds === undefined ? {} : { ageSeconds }),
        ...(hasInvalid ? { invalidDocuments: invalid } : {}),
      };
    }
    if (hasInvalid) {
      return {
        status: 'degraded',
        detail: 'Some stored documents are invalid and skipped',
        ageSeconds: ageSeconds ?? 0,
        invalidDocuments: invalid,
      };
    }
    return { status: 'ok', ...(ageSeconds === undefined ? {} : { ageSeconds }) };
  }
}
