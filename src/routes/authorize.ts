/**
 * `POST /api/authorize`: the decision for the caller (or, for an admin, a what-if principal) on a
 * resource, action and path, with the reason and the deciding policies. An admin also gets, for
 * every candidate policy, the first test it failed: the "why was I denied?" answer. Others get
 * only the decision, so policy contents do not leak to callers.
 */
import { z } from 'zod';
import { GatewayError } from '../errors';
import { readJsonBody } from '../http/request-context';
import { jsonResponse } from '../http/responses';
import { validationError } from '../http/validation';
import { authenticateCaller, isAdmin, type AuthenticateDeps } from '../pipeline/authenticate';
import { authContextClaims } from '../auth/entra/claims-challenge';
import { authorize as decide } from '../decision/authorize';
import type { Route } from '../pipeline/operation';
import { ACTIONS } from '../policy/actions';
import { explainCandidates } from '../policy/evaluate';
import { ClaimTypeError, subjectFromClaims, type ClaimsSubject } from '../policy/subject';
import type { Services } from '../services';

type Deps = AuthenticateDeps & Pick<Services, 'config' | 'state' | 'quotas'>;

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

/**
 * The subject of an admin's what-if question: what the gateway makes of a token carrying these
 * claims, by the same function the Entra validator uses (src/policy/subject.ts). A missing `tid`
 * is the gateway's own tenant. A token with neither `roles` nor `scp` never reaches a policy
 * (401 `ERR_TOKEN_NO_SCOPE_OR_ROLE`, unless `ENTRA_ALLOW_ACL_AUTHORIZATION`), so neither does
 * its what-if: 400, saying so.
 *
 * @throws {GatewayError} 400 `ERR_VALIDATION` naming the claim at fault
 */
export function whatIfSubject(
  claims: Readonly<Record<string, unknown>>,
  entra: Pick<Services['config']['entra'], 'tenantId' | 'allowAclAuthorization'>,
): ClaimsSubject {
  const withTenant = claims.tid === undefined ? { ...claims, tid: entra.tenantId } : claims;
  let subject: ClaimsSubject;
  try {
    subject = subjectFromClaims(withTenant);
  } catch (err) {
    if (!(err instanceof ClaimTypeError)) throw err;
    throw new GatewayError('ERR_VALIDATION', `principal.${err.claim}: must be ${err.expected}`, {
      extensions: { field: `principal.${err.claim}` },
    });
  }
  if (!entra.allowAclAuthorization && subject.roles.length === 0 && subject.scopes.length === 0) {
    throw new GatewayError(
      'ERR_VALIDATION',
      'principal: a token with neither roles nor scp is refused before any policy (ERR_TOKEN_NO_SCOPE_OR_ROLE)',
      { extensions: { field: 'principal' } },
    );
  }
  return subject;
}

export const authorize: Route<Deps> = {
  name: 'authorize',
  template: 'authorize',
  methods: ['POST'],
  audit: 'authorize',
  async run(deps, scope) {
    const caller = await authenticateCaller(deps, scope, { acceptSas: true });
    const parsed = AuthorizeBody.safeParse(await readJsonBody(scope.request));
    if (!parsed.success) throw validationError(parsed.error);
    const query = parsed.data;
    const admin = isAdmin(deps, caller);
    if (query.principal !== undefined && !admin) {
      throw new GatewayError(
        'ERR_ADMIN_ROLE_REQUIRED',
        'Only an admin may ask what-if for another principal',
      );
    }
    const subject =
      query.principal === undefined ? caller : whatIfSubject(query.principal, deps.config.entra);
    const snapshot = deps.state.snapshot();
    const decided = decide(snapshot, subject, query);
    // A step-up deny carries the claims to ask Entra for, as the proxy's challenge does.
    const stepUp =
      decided.authContext === undefined
        ? decided
        : { ...decided, claims: authContextClaims(decided.authContext) };
    // An allowed caller of a resource with quotas learns what is left, without spending any.
    const resource = snapshot.resources.get(query.resource);
    const quota =
      decided.allowed && query.principal === undefined && resource !== undefined
        ? await deps.quotas.remaining(resource, subject)
        : undefined;
    const decision = quota === undefined ? stepUp : { ...stepUp, quota };
    scope.audit.target(query.resource, query.action, query.path);
    scope.audit.decision({
      decision: decision.decision,
      policies: decision.policies,
      reasonCode: query.principal === undefined ? decision.reasonCode : `WHAT_IF:${decision.reasonCode}`,
    });
    // A what-if is a question, not traffic: nothing to replay.
    if (query.principal === undefined) scope.audit.decidedFor(caller, snapshot.index.claimsRead, decision);
    // An admin's Entra question also gets every candidate policy, explained.
    if (!admin || caller.sas !== undefined || !snapshot.resources.has(query.resource)) {
      return jsonResponse(200, decision);
    }
    const candidates = explainCandidates(snapshot.index, { ...query, principal: subject });
    return jsonResponse(200, { ...decision, candidates });
  },
};
