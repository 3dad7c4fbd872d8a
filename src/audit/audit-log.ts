import type { Clock } from '../clock';
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
  /** Records waiting to be written. */
  readonly queued: number;
  readonly written: number;
  /** Records dropped because the queue was full (back-pressure): each one is a gap in the trail. */
  readonly dropped: number;
  /** Batches that failed to write (they stay queued and are retried). */
  readonly failedWrites: number;
}

export interface AuditLogOptions {
  readonly sink: AuditSink;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Most records held in memory; past it new records are dropped and counted. Default 10,000. */
  readonly maxQueue?: number;
  /** Records per sink write (the Cosmos store turns them into pages of 200 per partition). Default 2,000. */
  readonly batchSize?: number;
  /** How often queued records are written. Default 1,000 ms. */
  readonly flushIntervalMs?: number;
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
  private written = 0;
  private dropped = 0;
  private failedWrites = 0;
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private readonly maxQueue: number;
  private readonly batchSize: number;

  constructor(private readonly options: AuditLogOptions) {
    this.maxQueue = options.maxQueue ?? 10_000;
    this.batchSize = options.batchSize ?? 2000;
  }

  /** Starts the periodic flush. */
  start(): void {
    this.timer ??= setInterval(() => void this.flush(), this.options.flushIntervalMs ?? 1000);
    this.timer.unref();
  }

  /** Queues one decision. Never throws, never waits. */
  record(input: AuditInput): void {
    if (this.queue.length >= this.maxQueue) {
      if (this.dropped === 0)
        this.options.logger.log('error', 'audit.queue_full', { maxQueue: this.maxQueue });
      this.dropped++;
      return;
    }
    this.queue.push(toAuditRow(input, this.options.clock.now()));
  }

  get stats(): AuditStats {
    return {
      queued: this.queue.length,
      written: this.written,
      dropped: this.dropped,
      failedWrites: this.failedWrites,
    };
  }

  /** Writes what is queued, batch by batch (single-flight). Stops at the first failure; never throws. */
  flush(): Promise<void> {
    this.flushing ??= this.drain().finally(() => (this.flushing = undefined));
    return this.flushing;
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.slice(0, this.batchSize);
      try {
        await this.options.sink.write(batch);
      } catch (err) {
        this.failedWrites++;
        this.options.logger.log('warn', 'audit.write_failed', {
          queued: this.queue.length,
          error: describeError(err),
        });
        return;
      }
      this.queue.splice(0, batch.length);
      this.written += batch.length;
    }
  }

  /** Stops the timer, writes what is left (graceful shutdown), then closes the sink. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
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
