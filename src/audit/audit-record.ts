import { createHash, randomUUID } from 'node:crypto';

/** What kind of decision a record is about. */
export type AuditOperation = 'authorize' | 'token' | 'proxy' | 'admin' | 'revocation';

/**
 * One decision, as the audit trail keeps it. Built only from values that are safe to keep:
 * claims that identify (oid, tid, azp), never a token, signature, key or query string.
 */
export interface AuditRecord {
  readonly id: string;
  /** Partition key: `<day>:<bucket>` (see {@link auditPartition}). */
  readonly pk: string;
  /** ISO time of the decision. */
  readonly time: string;
  /** Unix milliseconds of the decision, for range queries. */
  readonly ts: number;
  readonly correlationId: string;
  readonly operation: AuditOperation;
  readonly oid: string | null;
  readonly tid: string | null;
  readonly azp: string | null;
  readonly credential: 'entra' | 'sas' | 'none';
  readonly resource: string | null;
  readonly action: string | null;
  /** The request path inside the resource (never the query string). */
  readonly path: string | null;
  readonly decision: 'allow' | 'deny' | 'error';
  readonly policies: readonly string[];
  /** A stable reason: the decision's `reasonCode` or the error's `ERR_` code. */
  readonly reasonCode: string;
  readonly status: number;
  readonly latencyMs: number;
}

export type AuditInput = Omit<AuditRecord, 'id' | 'pk' | 'time' | 'ts'>;

/**
 * Partitions per writer spread: records of one day fall into this many buckets by `oid`, so a
 * busy day is not one hot partition, while one user's records of a day stay in one bucket.
 */
export const AUDIT_BUCKETS = 16;

/** The UTC day (`2026-11-24`) of a time in milliseconds. */
export function auditDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/**
 * Buckets of recent callers. Why: a sha256 per record was the largest part of recording a
 * decision, and a gateway's traffic comes from far fewer callers than requests. Bounded: cleared
 * when full, so a flood of distinct oids costs one hash each and no memory beyond the bound.
 */
const bucketCache = new Map<string, number>();
const BUCKET_CACHE_SIZE = 10_000;

/** The bucket of an oid: stable, spread evenly; records without an oid share bucket 0. */
export function auditBucket(oid: string | null): number {
  if (oid === null) return 0;
  let bucket = bucketCache.get(oid);
  if (bucket === undefined) {
    bucket = createHash('sha256').update(oid.toLowerCase()).digest().readUInt16BE(0) % AUDIT_BUCKETS;
    if (bucketCache.size >= BUCKET_CACHE_SIZE) bucketCache.clear();
    bucketCache.set(oid, bucket);
  }
  return bucket;
}

/**
 * The partition key `<day>:<bucket>`. Why: "what did user X do" reads one partition per day of
 * the range (the user's bucket), and "what happened on day D" reads that day's buckets; a
 * synthetic key gives both without the hierarchical partition keys the embedded server lacks.
 */
export function auditPartition(ms: number, oid: string | null): string {
  return auditPartitionKey(auditDay(ms), auditBucket(oid));
}

/** The one spelling of a partition key, from its day (`2026-11-24`) and bucket. */
export function auditPartitionKey(day: string, bucket: number): string {
  return `${day}:${bucket}`;
}

/**
 * Completes an input into a record at time `ms`. Every member is written out (no spread): this
 * runs once per decision, and a literal of known shape is several times cheaper to build.
 */
export function toAuditRecord(input: AuditInput, ms: number): AuditRecord {
  const time = new Date(ms).toISOString();
  return {
    id: randomUUID(),
    // The day is the ISO time's date part: one conversion serves both.
    pk: auditPartitionKey(time.slice(0, 10), auditBucket(input.oid)),
    time,
    ts: ms,
    correlationId: input.correlationId,
    operation: input.operation,
    oid: input.oid,
    tid: input.tid,
    azp: input.azp,
    credential: input.credential,
    resource: input.resource,
    action: input.action,
    path: input.path,
    decision: input.decision,
    policies: input.policies,
    reasonCode: input.reasonCode,
    status: input.status,
    latencyMs: input.latencyMs,
  };
}
