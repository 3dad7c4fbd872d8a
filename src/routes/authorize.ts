/**
 * `POST /api/authorize`: the decision for the caller (or, for an admin, a what-if principal) on a
 * resource, action and path, with the reason and the deciding policies. An admin also gets, for
 * every candidate policy, the first test it failed: the "why was I denied?" answer. Others get
 * only the decision, so policy contents do not leak to callers.
 */
import { z } from 'zod';
import { hasGroupsOverage } from '../auth/entra/claims';
import { GatewayError } from '../errors';
import { readJsonBody } from '../http/request-context';
import { jsonResponse } from '../http/responses';
import { validationError } from '../http/validation';
import { authenticateCaller, isAdmin, type AuthenticateDeps } from '../pipeline/authenticate';
import { authorize as decide } from '../pipeline/authorize';
import type { Route } from '../pipeline/operation';
import { ACTIONS } from '../policy/actions';
import { explainCandidates, type PolicyPrincipal } from '../policy/evaluate';
import type { Services } from '../services';

type Deps = AuthenticateDeps & Pick<Services, 'config' | 'state'>;

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
    const subject = query.principal === undefined ? caller : principalFromClaims(query.principal);
    const snapshot = deps.state.snapshot();
    const decision = decide(snapshot, subject, query);
    scope.audit.target(query.resource, query.action, query.path);
    scope.audit.decision({
      decision: decision.decision,
      policies: decision.policies,
      reasonCode: query.principal === undefined ? decision.reasonCode : `WHAT_IF:${decision.reasonCode}`,
    });
    // An admin's Entra question also gets every candidate policy, explained.
    if (!admin || caller.sas !== undefined || !snapshot.resources.has(query.resource)) {
      return jsonResponse(200, decision);
    }
    const candidates = explainCandidates(snapshot.index, { ...query, principal: subject });
    return jsonResponse(200, { ...decision, candidates });
  },
};
