import { z } from 'zod';
import type { Principal } from '../auth/principal';
import { GatewayError } from '../errors';
import type { Gateway, RequestScope } from '../gateway';
import { validationError } from '../http/validation';
import { readJsonBody } from '../http/request-context';
import { jsonResponse } from '../http/responses';
import type { HttpResponseInit } from '@azure/functions';
import { checkSasScope } from '../verifier/sas-scope';
import type { SasGrant } from '../verifier/verify-sas-token';
import { ACTIONS } from './actions';
import { hasGroupsOverage } from '../auth/entra/claims';
import { explainDecision, unknownResourceDecision, type PolicyPrincipal } from './evaluate';

const stringList = z.array(z.string().max(256)).max(1024);

/**
 * The what-if principal an admin may send: claims, as a token would carry them. Only the claims
 * policies read are typed; any other claim is kept for conditions and `{claims.X}` paths.
 */
const WhatIfClaims = z
  .object({
    oid: z.string().max(256).optional(),
    tid: z.string().max(256).optional(),
    azp: z.string().max(256).optional(),
    appid: z.string().max(256).optional(),
    roles: stringList.optional(),
    scp: z.string().max(4096).optional(),
    groups: stringList.optional(),
  })
  .catchall(z.unknown());

const AuthorizeBody = z.strictObject({
  resource: z.string().min(1).max(128),
  action: z.enum(ACTIONS),
  path: z.string().min(1).max(2048).default('/'),
  principal: WhatIfClaims.optional(),
});

/** Builds the principal of an admin's what-if question from its claims alone. */
export function principalFromClaims(claims: z.output<typeof WhatIfClaims>): PolicyPrincipal {
  const groupsOverage = hasGroupsOverage(claims);
  const { groups: _groups, ...withoutGroups } = claims;
  return {
    oid: claims.oid,
    tid: (claims.tid ?? '').toLowerCase(),
    azp: claims.azp ?? claims.appid,
    roles: claims.roles ?? [],
    scopes: (claims.scp ?? '').split(' ').filter((s) => s.length > 0),
    groups: groupsOverage ? [] : (claims.groups ?? []),
    groupsOverage,
    claims: groupsOverage ? withoutGroups : claims,
  };
}

/** What the decision API answers (and the audit trail keeps of it). */
export interface DecisionBody {
  readonly allowed: boolean;
  readonly decision: 'allow' | 'deny';
  readonly reason: string;
  readonly reasonCode: string;
  readonly policies: readonly string[];
}

/** The decision for a SAS caller: inside its scope, allowed by its granting policies (`spi`). */
export function sasDecision(
  grant: SasGrant,
  query: { resource: string; action: string; path: string },
): DecisionBody {
  const scope = checkSasScope(grant, query);
  if (!scope.inside) {
    return { allowed: false, decision: 'deny', reason: scope.reason, reasonCode: 'SAS_SCOPE', policies: [] };
  }
  return {
    allowed: true,
    decision: 'allow',
    reason: `Allowed by the shared access signature (granted by ${grant.policies.join(', ')})`,
    reasonCode: 'ALLOWED',
    policies: grant.policies,
  };
}

function isAdmin(gateway: Gateway, principal: Principal): boolean {
  return principal.kind === 'entra' && principal.roles.includes(gateway.config.adminRole);
}

/**
 * `POST /api/authorize`: the decision for the caller (or, for an admin, a what-if principal) on a
 * resource, action and path, with the reason and the deciding policies. An admin also gets, for
 * every candidate policy, the first test it failed: the "why was I denied?" answer. Others get
 * only the decision, so policy contents do not leak to callers.
 */
export async function authorizeRequest(
  gateway: Gateway,
  { request, audit }: RequestScope,
): Promise<HttpResponseInit> {
  const caller = await gateway.authenticate(request, { acceptSas: true });
  const parsed = AuthorizeBody.safeParse(await readJsonBody(request));
  if (!parsed.success) throw validationError(parsed.error);
  const query = parsed.data;
  const answer = (decision: DecisionBody, extra: Record<string, unknown> = {}): HttpResponseInit => {
    Object.assign(audit, {
      resource: query.resource,
      action: query.action,
      path: query.path,
      decision: decision.decision,
      policies: decision.policies,
      reasonCode: query.principal === undefined ? decision.reasonCode : `WHAT_IF:${decision.reasonCode}`,
    });
    return jsonResponse(200, { ...decision, ...extra });
  };
  const admin = isAdmin(gateway, caller);
  if (query.principal !== undefined && !admin) {
    throw new GatewayError('ERR_ADMIN_ROLE_REQUIRED', 'Only an admin may ask what-if for another principal');
  }
  const subject = query.principal === undefined ? caller : principalFromClaims(query.principal);
  const snapshot = gateway.state.snapshot();
  if (!snapshot.resources.has(query.resource)) {
    return answer(unknownResourceDecision(query.resource));
  }
  // A SAS caller's grant was decided at issuance and is kept honest by the `spi` check of its
  // verification: policies are not evaluated again, only the token's own scope.
  if (caller.sas !== undefined) return answer(sasDecision(caller.sas, query));
  const { decision, candidates } = explainDecision(snapshot.index, {
    resource: query.resource,
    action: query.action,
    path: query.path,
    principal: subject,
  });
  return answer(decision, admin ? { candidates } : {});
}
