import { AuditLog, MemoryAuditSink, type AuditSink } from '../../../src/audit/audit-log';
import { createHash } from 'node:crypto';
import {
  AUDIT_BUCKETS,
  auditBucket,
  auditPartition,
  auditRecordOf,
  toAuditRow,
  type AuditInput,
  type AuditRow,
} from '../../../src/audit/audit-record';
import { ManualClock } from '../../../src/clock';
import { MemoryLogger } from '../../../src/logger';
import { auditInput } from '../../helpers/audit';

const input = (n: number, oid: string | null = 'user-1'): AuditInput =>
  auditInput({ correlationId: `c-${n}`, operation: 'authorize', oid, path: '/customers/1', policies: ['p'] });

function setup(maxQueue = 5, batchSize = 2) {
  const sink = new MemoryAuditSink();
  const logger = new MemoryLogger();
  const log = new AuditLog({
    sink,
    clock: new ManualClock(Date.UTC(2026, 10, 24, 12)),
    logger,
    maxQueue,
    batchSize,
  });
  return { sink, log, logger };
}

describe('AuditLog', () => {
  it('queues without writing, then writes everything in batches on flush', async () => {
    const { sink, log } = setup();
    for (let i = 0; i < 5; i++) log.record(input(i));
    expect(sink.records).toHaveLength(0);
    await log.flush();
    expect(sink.records.map((r) => r.correlationId)).toEqual(['c-0', 'c-1', 'c-2', 'c-3', 'c-4']);
    expect(log.stats).toEqual({ queued: 0, written: 5, dropped: 0, discarded: 0, failedWrites: 0 });
    expect(sink.records[0]).toMatchObject({
      time: '2026-11-24T12:00:00.000Z',
      pk: auditPartition(Date.UTC(2026, 10, 24, 12), 'user-1'),
    });
  });

  it('drops and counts records past the bound instead of blocking (back-pressure)', () => {
    const { log, logger } = setup(3);
    for (let i = 0; i < 10; i++) log.record(input(i));
    expect(log.stats).toMatchObject({ queued: 3, dropped: 7 });
    expect(logger.events().filter((e) => e === 'audit.queue_full')).toHaveLength(1);
  });

  it('keeps records queued while the store fails, and writes them once it recovers', async () => {
    const { sink, log } = setup();
    sink.failing = true;
    log.record(input(1));
    log.record(input(2));
    log.record(input(3));
    await log.flush();
    expect(log.stats).toMatchObject({ queued: 3, written: 0, failedWrites: 1 });
    sink.failing = false;
    await log.close();
    expect(log.stats).toMatchObject({ queued: 0, written: 3 });
    expect(sink.records).toHaveLength(3);
  });

  it('never throws from record(), even with a sink that throws synchronously', async () => {
    const log = new AuditLog({
      sink: {
        write: () => {
          throw new Error('boom');
        },
      },
      clock: new ManualClock(),
      logger: new MemoryLogger(),
    });
    expect(() => log.record(input(1))).not.toThrow();
    await expect(log.flush()).resolves.toBe(false);
    expect(log.stats.failedWrites).toBe(1);
  });
});

/** A sink that keeps every batch it was handed, and fails (or hangs) while told to. */
class ScriptedSink implements AuditSink {
  readonly batches: string[][] = [];
  readonly stored: string[] = [];
  mode: 'ok' | 'fail' | 'hang' = 'ok';
  closed = false;
  write(rows: readonly AuditRow[]): Promise<void> {
    this.batches.push(rows.map((r) => r[2]));
    if (this.mode === 'fail') return Promise.reject(new Error('audit store unavailable'));
    if (this.mode === 'hang') return new Promise(() => undefined);
    this.stored.push(...rows.map((r) => r[2]));
    return Promise.resolve();
  }
  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
}

function scripted(options: { maxQueue?: number; batchSize?: number; shutdownGraceMs?: number } = {}) {
  const sink = new ScriptedSink();
  const logger = new MemoryLogger();
  const log = new AuditLog({
    sink,
    clock: new ManualClock(Date.UTC(2026, 10, 24, 12)),
    logger,
    shutdownRetryMs: 5,
    ...options,
  });
  return { sink, log, logger };
}

describe('AuditLog retries and graceful stop', () => {
  it('retries a failed batch with exactly its rows, never with the queue head as it has grown since', async () => {
    const { sink, log } = scripted({ batchSize: 4 });
    for (let i = 0; i < 3; i++) log.record(input(i));
    sink.mode = 'fail';
    await expect(log.flush()).resolves.toBe(false);
    for (let i = 3; i < 9; i++) log.record(input(i));
    sink.mode = 'ok';
    await expect(log.flush()).resolves.toBe(true);
    expect(sink.batches).toEqual([
      ['c-0', 'c-1', 'c-2'],
      ['c-0', 'c-1', 'c-2'],
      ['c-3', 'c-4', 'c-5', 'c-6'],
      ['c-7', 'c-8'],
    ]);
    expect(sink.stored).toEqual(Array.from({ length: 9 }, (_, i) => `c-${i}`));
    expect(log.stats).toEqual({ queued: 0, written: 9, dropped: 0, discarded: 0, failedWrites: 1 });
  });

  it('counts the batch being retried against the queue bound', async () => {
    const { sink, log } = scripted({ maxQueue: 4, batchSize: 3 });
    sink.mode = 'fail';
    for (let i = 0; i < 3; i++) log.record(input(i));
    await log.flush();
    for (let i = 3; i < 6; i++) log.record(input(i));
    expect(log.stats).toMatchObject({ queued: 4, dropped: 2 });
  });

  it('on close, retries a failing store until it recovers within the grace period, and loses nothing', async () => {
    const { sink, log, logger } = scripted({ shutdownGraceMs: 5_000 });
    sink.mode = 'fail';
    for (let i = 0; i < 5; i++) log.record(input(i));
    const write = sink.write.bind(sink);
    let attempts = 0;
    sink.write = (rows) => {
      if (++attempts === 3) sink.mode = 'ok';
      return write(rows);
    };
    await log.close();
    expect(sink.stored).toHaveLength(5);
    expect(log.stats).toMatchObject({ queued: 0, written: 5, discarded: 0 });
    expect(logger.events()).not.toContain('audit.discarded');
    expect(sink.closed).toBe(true);
  });

  it.each(['fail', 'hang'] as const)(
    'on close with a store that keeps %sing, stops after the grace period, and logs and counts every record it could not write',
    async (mode) => {
      const { sink, log, logger } = scripted({ shutdownGraceMs: 100 });
      for (let i = 0; i < 2; i++) log.record(input(i));
      await log.flush();
      sink.mode = mode;
      for (let i = 2; i < 9; i++) log.record(input(i));
      await log.close();
      expect(log.stats).toEqual({
        queued: 0,
        written: 2,
        dropped: 0,
        discarded: 7,
        failedWrites: expect.any(Number),
      });
      const line = logger.entries.find((e) => e.event === 'audit.discarded');
      expect(line).toMatchObject({ level: 'error', fields: { records: 7, graceMs: 100 } });
      expect(sink.closed).toBe(true);
      // Idempotent: a second close neither writes nor counts again.
      await log.close();
      expect(log.stats.discarded).toBe(7);
    },
  );
});

describe('AuditLog: a write that lands after the grace period', () => {
  it('is counted once, as discarded, not also as written', async () => {
    let land = (): void => undefined;
    const sink: AuditSink = {
      write: () => new Promise<void>((resolve) => (land = resolve)),
    };
    const log = new AuditLog({
      sink,
      clock: new ManualClock(),
      logger: new MemoryLogger(),
      shutdownGraceMs: 20,
    });
    for (let i = 0; i < 3; i++) log.record(input(i));
    await log.close();
    land();
    await log.flush();
    expect(log.stats).toMatchObject({ queued: 0, written: 0, discarded: 3 });
  });
});

describe('audit partitions', () => {
  it('put one user of one day in one bucket, and spread users over the buckets', () => {
    const day = Date.UTC(2026, 10, 24, 1);
    expect(auditPartition(day, 'ABC')).toBe(auditPartition(day + 3_600_000, 'abc'));
    const buckets = new Set(Array.from({ length: 200 }, (_, i) => auditPartition(day, `user-${i}`)));
    expect(buckets.size).toBe(AUDIT_BUCKETS);
    expect(auditPartition(day, null)).toBe('2026-11-24:0');
  });

  it('file a record under the UTC day of its time, to the millisecond, with the bucket of its oid', () => {
    const midnight = Date.UTC(2026, 10, 25);
    const before = auditRecordOf(toAuditRow(input(1), midnight - 1));
    const after = auditRecordOf(toAuditRow(input(2), midnight));
    expect(before).toMatchObject({ time: '2026-11-24T23:59:59.999Z', ts: midnight - 1 });
    expect(before.pk).toBe(auditPartition(midnight - 1, before.oid));
    expect(before.pk.startsWith('2026-11-24:')).toBe(true);
    expect(after.pk).toBe(auditPartition(midnight, after.oid));
    expect(after.pk.startsWith('2026-11-25:')).toBe(true);
    // The bucket is the oid's, whether or not it was seen before (the cache changes nothing).
    for (let i = 0; i < 50; i++) expect(auditBucket(`fresh-${i}`)).toBe(uncachedBucket(`fresh-${i}`));
    expect(auditBucket('fresh-1')).toBe(uncachedBucket('fresh-1'));
  });
});

function uncachedBucket(oid: string): number {
  return createHash('sha256').update(oid.toLowerCase()).digest().readUInt16BE(0) % AUDIT_BUCKETS;
}

describe('AuditLog.health: the recent past, not a lasting mark', () => {
  function withClock() {
    const clock = new ManualClock(Date.UTC(2026, 11, 6));
    const sink = new MemoryAuditSink();
    const log = new AuditLog({ sink, clock, logger: new MemoryLogger(), maxQueue: 3 });
    return { clock, sink, log };
  }

  it('is degraded while writes fail with records waiting, and ok again after the next write succeeds', async () => {
    const { sink, log } = withClock();
    log.record(input(1));
    sink.failing = true;
    await log.flush();
    expect(log.health()).toMatchObject({ status: 'degraded', queued: 1, failedWrites: 1 });
    sink.failing = false;
    await log.flush();
    expect(log.health()).toMatchObject({ status: 'ok', queued: 0, failedWrites: 1 });
    // Records queued between flushes after that old failure are no sign of trouble.
    log.record(input(2));
    expect(log.health().status).toBe('ok');
  });

  it('is degraded for 5 minutes after a drop, then ok', () => {
    const { clock, log } = withClock();
    for (let i = 0; i < 4; i++) log.record(input(i));
    expect(log.health()).toMatchObject({ status: 'degraded', dropped: 1 });
    clock.advance(5 * 60_000 - 1);
    expect(log.health().status).toBe('degraded');
    clock.advance(1);
    expect(log.health()).toMatchObject({ status: 'ok', dropped: 1 });
  });
});
