import { createHash, randomUUID } from 'node:crypto';
import type { ClaimsSubject } from '../policy/subject';

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
  /**
   * What the policies read of the caller when the gateway decided, so that `gateway replay` can
   * decide the request again; `null` when no policy decision was made for an Entra caller (a
   * request refused before deciding, a SAS caller, an admin's what-if). Absent on records written
   * before the gateway kept it.
   */
  readonly inputs?: AuditInputs | null;
}

export type AuditInput = Omit<AuditRecord, 'id' | 'pk' | 'time' | 'ts' | 'inputs'> & {
  readonly inputs: AuditInputs | null;
};

/**
 * The decision inputs of one record (docs/policy-analysis.md, "What the audit trail keeps"): the
 * caller as policies saw it (src/policy/subject.ts), never a token, `email`, `upn` or
 * `preferred_username` (they are dropped from every subject before a policy sees it). `oid`,
 * `tid` and `azp` are the record's own columns.
 *
 * Bounded: at most {@link AUDIT_INPUT_LIMITS}`.groups` groups and, of claims, only those some
 * policy read at the time plus `acrs` and `amr`, each value at most 256 characters or 64 scalars.
 * Past a bound the value is not kept and the record says so (`groupsCapped`, `unrecorded`):
 * replay then calls the record not replayable under a policy that reads it, never decides it on
 * a value it does not have.
 */
export interface AuditInputs {
  /**
   * The policy decision and its reason. The record's `decision` is the request's outcome: an
   * allowed proxy call whose downstream failed is an `error` there and an `allow` here.
   */
  readonly decided: 'allow' | 'deny';
  readonly reason: string;
  readonly roles: readonly string[];
  readonly scopes: readonly string[];
  /** The token's groups; absent under the overage marker or past the cap. */
  readonly groups?: readonly string[];
  readonly groupsOverage?: true;
  /** More groups than the cap: not kept. */
  readonly groupsCapped?: true;
  /** The gateway's classification (`idtyp`, or inferred). */
  readonly idtyp: 'app' | 'user';
  /** A DPoP proof came with the request (a token exchange that binds the token it issues). */
  readonly dpop?: true;
  /** The claims kept, by name; `null`: the token did not carry it. */
  readonly claims: Readonly<Record<string, unknown>>;
  /** Claims read then whose values were past the bound, so not kept. */
  readonly unrecorded?: readonly string[];
}

/** The bounds of {@link AuditInputs}. */
export const AUDIT_INPUT_LIMITS = {
  groups: 64,
  claimChars: 256,
  claimItems: 64,
  /** Claims kept beyond those policies read: the authentication context and methods. */
  alwaysKept: ['acrs', 'amr'] as readonly string[],
} as const;

const EMPTY: Readonly<Record<string, unknown>> = Object.freeze({});
const OBJECT_CLAIM: Readonly<Record<string, unknown>> = Object.freeze({});
const TOO_LARGE = Symbol('too large');

/** A claim value as kept: itself when small and plain, `{}` for an object (policies only test it exists). */
function keptClaim(value: unknown): unknown {
  if (value === undefined || value === null) return null;
  if (typeof value === 'string') return value.length <= AUDIT_INPUT_LIMITS.claimChars ? value : TOO_LARGE;
  if (typeof value === 'number' || typeof value === 'boolean') return value;
  if (Array.isArray(value)) {
    if (value.length > AUDIT_INPUT_LIMITS.claimItems) return TOO_LARGE;
    for (const item of value) {
      const kept = typeof item === 'object' || item === undefined ? TOO_LARGE : keptClaim(item);
      if (kept === TOO_LARGE) return TOO_LARGE;
    }
    return value;
  }
  return typeof value === 'object' ? OBJECT_CLAIM : TOO_LARGE;
}

/**
 * The inputs of a decision made for `subject`, with `claimsRead` the claims the policies in force
 * read (`PolicyIndex.claimsRead`). Runs once per decision: it keeps references to the subject's
 * frozen lists, copies nothing else.
 */
export function auditInputsOf(
  subject: ClaimsSubject,
  claimsRead: readonly string[],
  decision: { readonly decision: 'allow' | 'deny'; readonly reasonCode: string },
  dpop: boolean,
): AuditInputs {
  let claims = EMPTY;
  let unrecorded: string[] | undefined;
  const keep = (name: string) => {
    if (claims === EMPTY) claims = {};
    if (Object.hasOwn(claims, name)) return;
    const value = keptClaim(Object.hasOwn(subject.claims, name) ? subject.claims[name] : undefined);
    if (value === TOO_LARGE) (unrecorded ??= []).push(name);
    else (claims as Record<string, unknown>)[name] = value;
  };
  for (const name of AUDIT_INPUT_LIMITS.alwaysKept) if (Object.hasOwn(subject.claims, name)) keep(name);
  for (const name of claimsRead) keep(name);
  const capped = !subject.groupsOverage && subject.groups.length > AUDIT_INPUT_LIMITS.groups;
  return {
    decided: decision.decision,
    reason: decision.reasonCode,
    roles: subject.roles,
    scopes: subject.scopes,
    ...(subject.groupsOverage
      ? { groupsOverage: true }
      : capped
        ? { groupsCapped: true }
        : { groups: subject.groups }),
    idtyp: subject.idtyp,
    ...(dpop ? { dpop: true } : {}),
    claims,
    ...(unrecorded === undefined ? {} : { unrecorded }),
  };
}

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
 * The stored columns of a record, in row order: every member but `pk` and `time`, which follow
 * from `ts` and `oid` (see {@link auditRecordOf}).
 */
export const AUDIT_COLUMNS = [
  'id',
  'ts',
  'correlationId',
  'operation',
  'oid',
  'tid',
  'azp',
  'credential',
  'resource',
  'action',
  'path',
  'decision',
  'policies',
  'reasonCode',
  'status',
  'latencyMs',
  'inputs',
] as const satisfies readonly Exclude<keyof AuditRecord, 'pk' | 'time'>[];

/** A record as the request path builds it and a page stores it: its values in {@link AUDIT_COLUMNS} order. */
export type AuditRow = ValuesOf<typeof AUDIT_COLUMNS>;
type ValuesOf<C extends readonly (keyof AuditRecord)[]> = { readonly [K in keyof C]: AuditRecord[C[K]] };

/**
 * A decision at time `ms` as a flat row: all the request path builds. The id is made here, so a
 * retried write of the same rows finds its pages already stored; the partition and ISO time are
 * left to the writer. Every member is written out: this runs once per decision.
 */
export function toAuditRow(input: AuditInput, ms: number): AuditRow {
  return [
    randomUUID(),
    ms,
    input.correlationId,
    input.operation,
    input.oid,
    input.tid,
    input.azp,
    input.credential,
    input.resource,
    input.action,
    input.path,
    input.decision,
    input.policies,
    input.reasonCode,
    input.status,
    input.latencyMs,
    input.inputs,
  ];
}

/** The partition key of a row: the UTC day of its time and the bucket of its oid. */
export function auditRowPartition(row: AuditRow): string {
  return auditPartition(row[1], row[4]);
}

/** The record a row stands for, with its partition and ISO time. */
export function auditRecordOf(row: AuditRow): AuditRecord {
  return {
    id: row[0],
    pk: auditRowPartition(row),
    time: new Date(row[1]).toISOString(),
    ts: row[1],
    correlationId: row[2],
    operation: row[3],
    oid: row[4],
    tid: row[5],
    azp: row[6],
    credential: row[7],
    resource: row[8],
    action: row[9],
    path: row[10],
    decision: row[11],
    policies: row[12],
    reasonCode: row[13],
    status: row[14],
    latencyMs: row[15],
    inputs: row[16],
  };
}
