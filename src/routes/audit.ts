/**
 * `GET /api/audit` (admin): the audit trail, read back one page at a time. Reading it is not
 * itself audited.
 */
import type { HttpResponseInit } from '@azure/functions';
import { z } from 'zod';
import { jsonResponse } from '../http/responses';
import { validationError } from '../http/validation';
import { requireAdmin, type AdminDeps } from '../pipeline/authenticate';
import type { RequestScope, Route } from '../pipeline/operation';
import type { Services } from '../services';

type Deps = AdminDeps & Pick<Services, 'auditStore' | 'clock' | 'config'>;

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;
/** Longest range one query may cover: bounds the partitions a page can touch. */
export const MAX_AUDIT_RANGE_DAYS = 31;
/**
 * Most records one answer holds. Why 5,000: `gateway replay` and `review` read a whole window
 * page by page; at ~0.5 KB a record an answer stays a few MB, and a million records are 200
 * round trips instead of 2,000.
 */
export const MAX_AUDIT_PAGE = 5000;

/** `from` / `to`: unix seconds, or an ISO 8601 date-time. */
const instant = z.string().transform((value, ctx) => {
  const ms = /^\d{1,11}$/.test(value)
    ? Number(value) * 1000
    : /^\d{4}-\d{2}-\d{2}/.test(value)
      ? Date.parse(value)
      : NaN;
  if (!Number.isFinite(ms)) {
    ctx.addIssue({ code: 'custom', message: 'expected unix seconds or an ISO 8601 date-time' });
    return z.NEVER;
  }
  return ms;
});

const AuditQueryParams = z.strictObject({
  oid: z
    .string()
    .regex(/^[A-Za-z0-9-]{1,64}$/, 'expected an object id')
    .optional(),
  from: instant.optional(),
  to: instant.optional(),
  limit: z
    .string()
    .regex(/^\d{1,4}$/, `expected a whole number from 1 to ${MAX_AUDIT_PAGE}`)
    .transform(Number)
    .pipe(z.number().int().min(1).max(MAX_AUDIT_PAGE))
    .optional(),
  cursor: z.string().max(16_384).optional(),
});

/**
 * `GET /api/audit?oid=&from=&to=&limit=&cursor=` (admin): the audit trail, day by day (a user's
 * day oldest first; every user's day bucket by bucket, each oldest first), one page
 * at a time. Without `from`/`to`, the last 24 hours; a range covers at most 31 days.
 */
export const audit: Route<Deps> = {
  name: 'audit',
  template: 'audit',
  methods: ['GET'],
  run: query,
};

async function query(deps: Deps, scope: RequestScope): Promise<HttpResponseInit> {
  const { request } = scope;
  await requireAdmin(deps, scope);
  const params: Record<string, string> = {};
  for (const [key, value] of request.query) {
    if (key in params)
      throw validationError(
        new z.ZodError([{ code: 'custom', path: [key], message: 'given twice', input: value }]),
      );
    params[key] = value;
  }
  const parsed = AuditQueryParams.safeParse(params);
  if (!parsed.success) throw validationError(parsed.error);
  const toMs = parsed.data.to ?? deps.clock.now();
  const fromMs = parsed.data.from ?? toMs - DAY_MS;
  if (fromMs > toMs) {
    throw validationError(
      new z.ZodError([{ code: 'custom', path: ['from'], message: 'must not be after "to"', input: fromMs }]),
    );
  }
  const retention = deps.config.audit.retentionDays;
  // An hour's grace: `--since 90d` against a 90-day trail is the same question, asked a moment later.
  const kept = deps.clock.now() - retention * DAY_MS - HOUR_MS;
  if (fromMs < kept) {
    // Those records are gone (the container's TTL): an empty answer would read as "no traffic".
    throw validationError(
      new z.ZodError([
        {
          code: 'custom',
          path: ['from'],
          message: `before what the audit trail keeps (AUDIT_RETENTION_DAYS: ${retention} days, so from ${new Date(kept).toISOString()})`,
          input: fromMs,
        },
      ]),
    );
  }
  if (toMs - fromMs > MAX_AUDIT_RANGE_DAYS * DAY_MS) {
    throw validationError(
      new z.ZodError([
        {
          code: 'custom',
          path: ['from'],
          message: `the range may cover at most ${MAX_AUDIT_RANGE_DAYS} days`,
          input: fromMs,
        },
      ]),
    );
  }
  const page = await deps.auditStore.query({
    oid: parsed.data.oid,
    fromMs,
    toMs,
    limit: parsed.data.limit ?? 100,
    cursor: parsed.data.cursor,
  });
  return jsonResponse(200, page);
}
