import type { CosmosClient } from '@azure/cosmos';
import type { Clock } from '../clock';
import { describeError, type Logger } from '../logger';
import { ensureContainers } from './cosmos';

export interface CheckResult {
  readonly status: 'ok' | 'degraded' | 'down';
  readonly detail?: string;
}

/** How long one probe result is reused: health probes must not become a Cosmos load test. */
const RESULT_TTL_MS = 5_000;
/** A probe that takes longer than this counts as down; health must answer quickly. */
const PROBE_TIMEOUT_MS = 3_000;

/**
 * Reachability of the Cosmos DB account, database and containers. Single-flight and cached for a few
 * seconds, so any number of concurrent `/api/health` calls cost at most one request.
 */
export class CosmosHealthCheck {
  private last: { at: number; result: CheckResult } | undefined;
  private inFlight: Promise<CheckResult> | undefined;

  constructor(
    private readonly client: CosmosClient,
    private readonly databaseId: string,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {}

  check(): Promise<CheckResult> {
    if (this.last && this.clock.now() - this.last.at < RESULT_TTL_MS)
      return Promise.resolve(this.last.result);
    this.inFlight ??= this.probe().finally(() => (this.inFlight = undefined));
    return this.inFlight;
  }

  private async probe(): Promise<CheckResult> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer in ${PROBE_TIMEOUT_MS} ms`)), PROBE_TIMEOUT_MS);
      timer.unref();
    });
    let result: CheckResult;
    try {
      // The database and every container, created again when missing: a replaced, empty database
      // is not healthy until the gateway's containers are back in it.
      await Promise.race([ensureContainers(this.client, this.databaseId), timeout]);
      result = { status: 'ok' };
    } catch (err) {
      if (this.last?.result.status !== 'down') {
        this.logger.log('warn', 'cosmos.unreachable', { error: describeError(err) });
      }
      result = { status: 'down', detail: 'Cosmos DB is unreachable' };
    } finally {
      clearTimeout(timer);
    }
    this.last = { at: this.clock.now(), result };
    return result;
  }
}
