/**
 * `POST /api/revocations` (admin): revoke one SAS token by `sid`, or every token of a user or
 * app (`oid`) issued before `before` (unix seconds; default now). The record is visible on this
 * instance at once and on every other within `POLICY_REFRESH_SECONDS`.
 */
import type { HttpResponseInit } from '@azure/functions';
import { nowSeconds } from '../clock';
import { GatewayError } from '../errors';
import { readJsonBody } from '../http/request-context';
import { jsonResponse } from '../http/responses';
import { validationError } from '../http/validation';
import { requireAdmin, type AdminDeps } from '../pipeline/authenticate';
import type { RequestScope, Route } from '../pipeline/operation';
import { buildRevocation, RevocationRequestSchema } from '../revocation/revocation';
import type { Services } from '../services';

type Deps = AdminDeps & Pick<Services, 'clock' | 'state' | 'logger'>;

/**
 * Stores a revocation. 201 with the stored record; 200 with the held record when an `oid`
 * revocation with a `before` at least as late already exists (an earlier `before` never
 * replaces a later one).
 *
 * @throws {GatewayError} 401 / 403 (admin role), 400 `ERR_VALIDATION` (exactly `{sid}` or
 *   `{oid, before?}`; `before` not more than the clock skew in the future), 415, 413, 503.
 */
export const revocations: Route<Deps> = {
  name: 'revocations',
  template: 'revocations',
  methods: ['POST'],
  audit: 'revocation',
  run: revoke,
};

async function revoke(deps: Deps, scope: RequestScope): Promise<HttpResponseInit> {
  const { correlationId, request, audit } = scope;
  audit.target('revocations', 'create', null);
  const admin = await requireAdmin(deps, scope);
  const parsed = RevocationRequestSchema.safeParse(await readJsonBody(request));
  if (!parsed.success) throw validationError(parsed.error);
  const now = nowSeconds(deps.clock);
  const skewSeconds = deps.config.entra.clockSkewSeconds;
  if ('oid' in parsed.data && parsed.data.before !== undefined && parsed.data.before > now + skewSeconds) {
    throw new GatewayError('ERR_VALIDATION', 'before: must not be in the future', {
      extensions: { field: 'before' },
    });
  }
  const record = buildRevocation(parsed.data, now, {
    maxTtlSeconds: deps.config.sas.maxTtlSeconds,
    skewSeconds,
  });
  audit.target('revocations', 'create', `/${record.id}`);
  const revocations = deps.state.revocations;
  const store = revocations.store;
  if (record.kind === 'oid') {
    const held = await store.get(record.id);
    const heldBefore = held && !held.deleted ? held.body.before : undefined;
    if (typeof heldBefore === 'number' && heldBefore >= record.before) {
      revocations.apply(held!);
      return jsonResponse(200, held!.body);
    }
  }
  const { doc } = await store.put(record.id, { ...record });
  revocations.apply(doc);
  deps.logger.log('info', 'sas.revoked', {
    correlationId,
    by: admin.oid,
    id: record.id,
    ...(record.kind === 'oid' ? { before: record.before } : {}),
  });
  return jsonResponse(201, doc.body);
}
