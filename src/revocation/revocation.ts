/**
 * Revocation records (docs/reference.md §5, `POST /api/revocations`), as stored in the Cosmos DB
 * `revocations` container (partition `/id`):
 *
 * - `{"id": "sid:<sid>", "kind": "sid", "sid", "revokedAt", "purgeAfter", "ttl"}` revokes one token;
 * - `{"id": "oid:<oid>", "kind": "oid", "oid", "before", "revokedAt", "purgeAfter", "ttl"}`
 *   revokes every token of that user or app whose `st` is at or before `before` (`st` has
 *   one-second resolution: a token issued earlier in the same second as `before` is revoked too,
 *   and so is one issued later in that second; the oid compares without case).
 *
 * A record must outlive every token it can affect: `purgeAfter` = max(`revokedAt`, `before`) +
 * `SAS_MAX_TTL_SECONDS` + clock skew. `ttl` (seconds) lets real Cosmos DB expire it on its own
 * when the container's default TTL is on; housekeeping purges it too (the embedded server
 * ignores `ttl`).
 */
import { z } from 'zod';
import type { ParseResult } from '../store/refreshing-collection';
import type { StoredDocument } from '../store/document-store';

const SID = /^[A-Za-z0-9_-]{22,86}$/;
const OID = /^[A-Za-z0-9._:@-]{1,128}$/;
const SECONDS = z.number().int().min(0).max(99_999_999_999);

/** The body of `POST /api/revocations`: exactly one of the two shapes, nothing else. */
export const RevocationRequestSchema = z.union([
  z.strictObject({ sid: z.string().regex(SID, 'must be a SAS token id (sid)') }),
  z.strictObject({
    oid: z.string().regex(OID, 'must be an object id'),
    before: SECONDS.optional(),
  }),
]);

export type RevocationRequest = z.output<typeof RevocationRequestSchema>;

const StoredSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    id: z.string(),
    kind: z.literal('sid'),
    sid: z.string().regex(SID),
    revokedAt: SECONDS,
    purgeAfter: SECONDS,
    ttl: z.number().int().optional(),
  }),
  z.strictObject({
    id: z.string(),
    kind: z.literal('oid'),
    oid: z.string().regex(OID),
    before: SECONDS,
    revokedAt: SECONDS,
    purgeAfter: SECONDS,
    ttl: z.number().int().optional(),
  }),
]);

export type Revocation = z.output<typeof StoredSchema>;

/**
 * The document id of a revocation: `sid:<sid>` or `oid:<oid>`. Object ids are GUIDs and compare
 * without case, so the oid is kept in lower case: `ABC…` and `abc…` are one user, one record.
 */
export function revocationId(request: { sid: string } | { oid: string }): string {
  return 'sid' in request ? `sid:${request.sid}` : `oid:${request.oid.toLowerCase()}`;
}

/** Validates a stored record; its id must agree with its body. */
export function parseStoredRevocation(doc: StoredDocument): ParseResult<Revocation> {
  const parsed = StoredSchema.safeParse(doc.body);
  if (!parsed.success) return { ok: false, error: parsed.error.issues[0]?.message ?? 'invalid revocation' };
  const value = parsed.data;
  const id = revocationId(value.kind === 'sid' ? { sid: value.sid } : { oid: value.oid });
  // Records stored before oids were lower-cased keep their id; the body's oid is what counts.
  if (value.id !== id && !(value.kind === 'oid' && value.id === `oid:${value.oid}`)) {
    return { ok: false, error: 'id: must be sid:<sid> or oid:<oid> of the body' };
  }
  return { ok: true, value: value.kind === 'oid' ? { ...value, oid: value.oid.toLowerCase() } : value };
}

/** The record to store for a request at `now`. */
export function buildRevocation(
  request: RevocationRequest,
  now: number,
  lifetime: { maxTtlSeconds: number; skewSeconds: number },
): Revocation {
  const keep = lifetime.maxTtlSeconds + lifetime.skewSeconds;
  if ('sid' in request) {
    const purgeAfter = now + keep;
    return {
      id: revocationId(request),
      kind: 'sid',
      sid: request.sid,
      revokedAt: now,
      purgeAfter,
      ttl: purgeAfter - now,
    };
  }
  const before = request.before ?? now;
  const purgeAfter = Math.max(now, before) + keep;
  return {
    id: revocationId(request),
    kind: 'oid',
    oid: request.oid.toLowerCase(),
    before,
    revokedAt: now,
    purgeAfter,
    ttl: Math.max(1, purgeAfter - now),
  };
}
