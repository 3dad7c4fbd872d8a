import { AuditLog, MemoryAuditSink } from '../../../src/audit/audit-log';
import { createHash } from 'node:crypto';
import {
  AUDIT_BUCKETS,
  auditBucket,
  auditPartition,
  auditRecordOf,
  toAuditRow,
  type AuditInput,
} from '../../../src/audit/audit-record';
import { ManualClock } from '../../../src/clock';
import { MemoryLogger } from '../../../src/logger';

const input = (n: number, oid: string | null = 'user-1'): AuditInput => ({
  correlationId: `c-${n}`,
  operation: 'authorize',
  oid,
  tid: 't',
  azp: 'a',
  credential: 'entra',
  resource: 'orders',
  action: 'read',
  path: '/customers/1',
  decision: 'allow',
  policies: ['p'],
  reasonCode: 'ALLOWED',
  status: 200,
  latencyMs: 1,
});

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
    expect(log.stats).toEqual({ queued: 0, written: 5, dropped: 0, failedWrites: 0 });
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
    await expect(log.flush()).resolves.toBeUndefined();
    expect(log.stats.failedWrites).toBe(1);
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
