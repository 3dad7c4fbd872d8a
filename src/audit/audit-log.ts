import type { Clock } from '../clock';
import type { CheckResult } from '../store/cosmos-health';
import { describeError, type Logger } from '../logger';
import { auditRecordOf, toAuditRow, type AuditInput, type AuditRecord, type AuditRow } from './audit-record';

/**
 * Where records go: Cosmos DB from a worker thread in production ({@link AuditWorkerSink}), memory
 * in tests. A write either stores every row or fails; rows carry their ids, so a retried write
 * stores nothing twice.
 */
export interface AuditSink {
  write(rows: readonly AuditRow[]): Promise<void>;
  /** Releases what the sink holds (a worker, a client); called once, after the last write. */
  close?(): Promise<void>;
}

/** Counters the audit log reports in `/api/health` and metrics. */
export interface AuditStats {
  /** Records waiting to be written, the batch being written included. */
  readonly queued: number;
  /** Records the sink acknowledged as stored. */
  readonly written: number;
  /** Records dropped because the queue was full (back-pressure): each one is a gap in the trail. */
  readonly dropped: number;
  /**
   * Records still unconfirmed when a graceful stop's grace period ran out (the store failing or
   * hanging): each one is a gap in the trail, logged as `audit.discarded`.
   */
  readonly discarded: number;
  /** Batches that failed to write (they stay queued and are retried). */
  readonly failedWrites: number;
}

/**
 * Defaults in one place.
 *
 * Why a 4 s shutdown grace: the Functions host gives its language worker 5 s between
 * `WorkerTerminate` (which runs the app's terminate hook) and killing it; 4 s leaves the last
 * log line and the process's exit time to get out. The local stack uses the same bound.
 *
 * Why 50,000 queued records: the writer thread stores ~50,000 rows/s here (`npm run bench --
 * audit`: 47,000-54,000), about eight times the gateway's own top rate on this machine (~6,700
 * req/s through the proxy), so against a healthy store the queue never holds more than about a
 * second of records. The bound is for a store that fails or hangs: 50,000 rows are ~7 s of
 * full-speed traffic here (far longer at an instance's usual rate) and ~65 MB of heap (measured:
 * ~1.3 KB per queued row), a few percent of a Flex Consumption instance's 2 GB; past it records
 * are dropped and counted rather than risking the instance's memory.
 */
export const AUDIT_DEFAULTS = {
  maxQueue: 50_000,
  batchSize: 5_000,
  flushIntervalMs: 1_000,
  shutdownGraceMs: 4_000,
  /** Between retries of a failed batch while stopping. */
  shutdownRetryMs: 200,
  /**
   * How long a drop keeps `/api/health` saying `degraded`: long enough for a probe to see it,
   * short enough that one blip does not page the "degraded for 10 minutes" alert.
   */
  dropReportedMs: 5 * 60_000,
  /** Queued records past which health says `degraded` (the store is slower than the traffic). */
  backlogRecords: 1_000,
} as const;

/** The audit trail's entry of `/api/health`. */
export type AuditHealth = CheckResult & {
  readonly queued: number;
  readonly written: number;
  readonly dropped: number;
  readonly failedWrites: number;
};

export interface AuditLogOptions {
  readonly sink: AuditSink;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Most records held in memory; past it new records are dropped and counted. */
  readonly maxQueue?: number;
  /** Records per sink write (the Cosmos store turns them into pages of 200 per partition). */
  readonly batchSize?: number;
  /** How often queued records are written. */
  readonly flushIntervalMs?: number;
  /** Longest {@link AuditLog.close} keeps retrying before it counts what is left as discarded. */
  readonly shutdownGraceMs?: number;
  readonly shutdownRetryMs?: number;
}

/**
 * The decision log, written off the request path: {@link record} only appends a flat row to a
 * bounded in-memory queue (never awaits, never throws), and a timer hands batches to the sink,
 * which in production writes them to Cosmos DB from its own thread.
 *
 * Why a bounded queue that drops new records when full: an authorization gateway must keep
 * answering when its audit store is slow or down; blocking requests on audit writes would turn an
 * audit outage into a gateway outage. Drops are counted and reported (health, metrics) so the gap
 * is visible. When the store fails, batches stay queued and are retried on the next tick.
 */
export class AuditLog {
  private queue: AuditRow[] = [];
  /**
   * The rows handed to the sink and not yet acknowledged. A failed write is retried with exactly
   * these rows, never with the queue's head as it is by then: the sink's pages are named by their
   * content, and a retry of other rows would find some pages "already stored" that are not.
   */
  private batch: AuditRow[] | undefined;
  private written = 0;
  private dropped = 0;
  private discarded = 0;
  private failedWrites = 0;
  /** Whether the last write attempt failed, and when the last record was dropped (the injected clock). */
  private lastWriteFailed = false;
  private lastDropAt: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<boolean> | undefined;
  private closing: Promise<void> | undefined;
  private readonly maxQueue: number;
  private readonly batchSize: number;

  constructor(private readonly options: AuditLogOptions) {
    this.maxQueue = options.maxQueue ?? AUDIT_DEFAULTS.maxQueue;
    this.batchSize = options.batchSize ?? AUDIT_DEFAULTS.batchSize;
  }

  /** Starts the periodic flush. */
  start(): void {
    if (this.closing) return;
    this.timer ??= setInterval(
      () => void this.flush(),
      this.options.flushIntervalMs ?? AUDIT_DEFAULTS.flushIntervalMs,
    );
    this.timer.unref();
  }

  /** Queues one decision. Never throws, never waits. */
  record(input: AuditInput): void {
    if (this.pending >= this.maxQueue) {
      if (this.dropped === 0)
        this.options.logger.log('error', 'audit.queue_full', { maxQueue: this.maxQueue });
      this.dropped++;
      this.lastDropAt = this.options.clock.now();
      return;
    }
    this.queue.push(toAuditRow(input, this.options.clock.now()));
  }

  get stats(): AuditStats {
    return {
      queued: this.pending,
      written: this.written,
      dropped: this.dropped,
      discarded: this.discarded,
      failedWrites: this.failedWrites,
    };
  }

  /**
   * The trail's health over the recent past, never requests' (the trail never refuses one):
   * `degraded` while writes are failing (the last attempt failed and records wait), while more
   * than `backlogRecords` wait, or for `dropReportedMs` after a record was dropped; `ok` again on
   * its own once writes succeed, so one failed write is no lasting mark.
   */
  health(): AuditHealth {
    const { queued, written, dropped, failedWrites } = this.stats;
    const counts = { queued, written, dropped, failedWrites };
    const now = this.options.clock.now();
    const failing = queued > 0 && this.lastWriteFailed;
    if (this.lastDropAt !== undefined && now - this.lastDropAt < AUDIT_DEFAULTS.dropReportedMs)
      return { status: 'degraded', detail: 'Audit records were dropped in the last 5 minutes', ...counts };
    if (failing)
      return { status: 'degraded', detail: 'Audit writes are failing; records are buffered', ...counts };
    if (queued > AUDIT_DEFAULTS.backlogRecords)
      return { status: 'degraded', detail: 'Audit writes are behind; records are buffered', ...counts };
    return { status: 'ok', ...counts };
  }

  /** Records not yet acknowledged by the sink. */
  private get pending(): number {
    return this.queue.length + (this.batch?.length ?? 0);
  }

  /**
   * Writes what is queued, batch by batch (single-flight). Stops at the first failure; never
   * throws. Resolves true when everything queued when it ran was stored.
   */
  flush(): Promise<boolean> {
    this.flushing ??= this.drain().finally(() => (this.flushing = undefined));
    return this.flushing;
  }

  private async drain(): Promise<boolean> {
    for (;;) {
      if (this.batch === undefined && this.queue.length > 0) {
        this.batch = this.queue.splice(0, this.batchSize);
      }
      const batch = this.batch;
      if (batch === undefined) return true;
      try {
        await this.options.sink.write(batch);
      } catch (err) {
        this.failedWrites++;
        this.lastWriteFailed = true;
        this.options.logger.log('warn', 'audit.write_failed', {
          queued: this.pending,
          error: describeError(err),
        });
        return false;
      }
      // Counted as discarded by a stop whose grace ran out meanwhile: stored after all, but one
      // record is never counted twice.
      if (this.batch !== batch) return false;
      this.batch = undefined;
      this.written += batch.length;
      this.lastWriteFailed = false;
    }
  }

  /**
   * Graceful stop: no more timer; writes what is left, retrying a failing store, for at most
   * `shutdownGraceMs`; then counts what the store never acknowledged as `discarded` and logs it
   * (`audit.discarded`), and closes the sink. Records recorded meanwhile are written too.
   * Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= this.stop();
    return this.closing;
  }

  private async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    const graceMs = this.options.shutdownGraceMs ?? AUDIT_DEFAULTS.shutdownGraceMs;
    const retryMs = this.options.shutdownRetryMs ?? AUDIT_DEFAULTS.shutdownRetryMs;
    let timer: NodeJS.Timeout | undefined;
    let expired = false;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        expired = true;
        resolve();
      }, graceMs);
    });
    let failedAttempts = 0;
    while (!expired && this.pending > 0) {
      const stored = await Promise.race([this.flush(), deadline.then(() => false)]);
      if (stored && this.pending === 0) break;
      if (!stored && !expired) {
        failedAttempts++;
        await Promise.race([new Promise((resolve) => setTimeout(resolve, retryMs)), deadline]);
      }
    }
    clearTimeout(timer);
    const left = this.pending;
    if (left > 0) {
      // A write still in flight may yet land: counted as discarded all the same, since nothing
      // confirms it (a gap reported that is not one beats a loss reported as written).
      this.discarded += left;
      this.queue = [];
      this.batch = undefined;
      this.options.logger.log('error', 'audit.discarded', {
        records: left,
        graceMs,
        failedAttempts,
        reason: 'the audit store did not acknowledge them before the shutdown grace period ended',
      });
    }
    await this.options.sink.close?.();
  }
}

/** Keeps records in memory: for tests and for runs without a store. */
export class MemoryAuditSink implements AuditSink {
  readonly records: AuditRecord[] = [];
  failing = false;
  write(rows: readonly AuditRow[]): Promise<void> {
    if (this.failing) return Promise.reject(new Error('audit store unavailable'));
    for (const row of rows) this.records.push(auditRecordOf(row));
    return Promise.resolve();
  }
}
