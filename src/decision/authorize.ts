/**
 * The one decision of the gateway, for SAS and Entra callers alike. The decision API, the proxy
 * and the token exchange all ask {@link authorize}; each only says what the answer means on its
 * route (a decision body, a 403, an `invalid_scope`). `gateway replay` and `gateway review`
 * (src/analysis/replay.ts) ask it again about recorded requests, under a candidate policy set.
 *
 * - An unknown resource is a deny (`UNKNOWN_RESOURCE`), whatever the policies say.
 * - A SAS caller is held to its token's grant (`sr`, `sp`), decided when the token was issued and
 *   kept honest by its verification (revocations, the granting policies' versions): policies are
 *   not evaluated again. Outside the grant: a deny with `SAS_SCOPE`.
 * - An Entra caller (or an admin's what-if principal) is decided by the policies now.
 * - A resource with `requireDpop` denies (`DPOP_REQUIRED`) every caller whose token is not bound
 *   to a DPoP key, and a token request that brings no DPoP proof; a policy with `requireDpop`
 *   matches only a token request that brings one.
 * - Step-up (docs/step-up.md): an Entra caller that would be allowed but for an authentication
 *   context its token's `acrs` lacks (the resource's `authContext`, or an allow policy's) is
 *   denied with `AUTH_CONTEXT_REQUIRED`, naming the context that makes it pass. Found by
 *   deciding again with the context added, so "would be allowed" is the decision itself: a deny
 *   that wins anyway, or no allow at all, is never turned into a prompt.
 */
import type { SasGrant } from '../sas/sas-token';
import type { Action } from '../policy/actions';
import {
  evaluatePolicies,
  evaluateScope,
  unknownResourceDecision,
  type Decision,
  type DecisionRequest,
  type ReasonCode,
} from '../policy/evaluate';
import type { Resource } from '../policy/model';
import { candidatesFor, type PolicyIndex } from '../policy/policy-index';
import { authContextsOf, type PolicySubject } from '../policy/subject';
import { checkSasScope } from '../sas/sas-scope';

/**
 * Why a decision came out as it did: the evaluator's reasons, plus a SAS used outside its grant
 * and a credential without a DPoP key on a resource that requires one.
 */
export type AuthorizeReason = ReasonCode | 'SAS_SCOPE' | 'DPOP_REQUIRED' | 'AUTH_CONTEXT_REQUIRED';

/** The outcome of {@link authorize}: the evaluator's decision, with a SAS's own reason too. */
export type Authorization = Omit<Decision, 'reasonCode'> & {
  readonly reasonCode: AuthorizeReason;
  /**
   * With `AUTH_CONTEXT_REQUIRED`: the authentication context to step up to (`c1`...`c99`);
   * `policies` are then the ones that would allow the request once the token lists it.
   */
  readonly authContext?: string;
};

/**
 * What a decision reads: the compiled policies and the resources by name. An instance's live
 * snapshot (src/state/policy-state.ts) is one; `gateway replay` builds one from a candidate file.
 */
export interface DecisionSnapshot {
  readonly index: PolicyIndex;
  readonly resources: ReadonlyMap<string, Pick<Resource, 'requireDpop' | 'authContext'>>;
}

/** A request to decide: one action on one path (`/customers/42` or its segments). */
export type RequestQuery = Omit<DecisionRequest, 'principal'>;

/** A SAS scope to issue: every asked action on the whole subtree (docs/reference.md §6). */
export interface ScopeQuery {
  readonly resource: string;
  readonly actions: readonly Action[];
  /** The subtree's segments; `[]` for the whole resource. */
  readonly subtree: readonly string[];
}

/**
 * Who asks: a verified caller (with its SAS grant, if any) or an admin's what-if principal.
 * `jkt`: the DPoP key a token being issued will be bound to (a verified proof came with the
 * request); a SAS caller's own binding is its grant's `jkt`.
 */
export type Caller = PolicySubject & { readonly sas?: SasGrant; readonly jkt?: string };

const NO_POLICIES: readonly string[] = Object.freeze([]);

function sasAuthorization(grant: SasGrant, query: RequestQuery | ScopeQuery): Authorization {
  if (!('action' in query)) {
    return {
      allowed: false,
      decision: 'deny',
      reason: 'A shared access signature cannot be exchanged for another',
      reasonCode: 'SAS_SCOPE',
      policies: NO_POLICIES,
    };
  }
  const path = typeof query.path === 'string' ? query.path : `/${query.path.join('/')}`;
  const scope = checkSasScope(grant, { resource: query.resource, action: query.action, path });
  if (!scope.inside) {
    return {
      allowed: false,
      decision: 'deny',
      reason: scope.reason,
      reasonCode: 'SAS_SCOPE',
      policies: NO_POLICIES,
    };
  }
  return {
    allowed: true,
    decision: 'allow',
    reason: `Allowed by the shared access signature (granted by ${grant.policies.join(', ')})`,
    reasonCode: 'ALLOWED',
    policies: grant.policies,
  };
}

/**
 * Decides a request or a SAS scope for a caller against one policy snapshot.
 *
 * @example
 * ```ts
 * const d = authorize(state.snapshot(), principal, { resource: 'orders', action: 'read', path: '/customers/42' });
 * if (!d.allowed) throw new GatewayError(d.reasonCode === 'SAS_SCOPE' ? 'ERR_SAS_SCOPE' : 'ERR_POLICY_DENIED');
 * ```
 */
export function authorize(
  snapshot: DecisionSnapshot,
  caller: Caller,
  query: RequestQuery | ScopeQuery,
): Authorization {
  const resource = snapshot.resources.get(query.resource);
  if (resource === undefined) return unknownResourceDecision(query.resource);
  if (resource.requireDpop === true && (caller.jkt ?? caller.sas?.jkt) === undefined) {
    return {
      allowed: false,
      decision: 'deny',
      reason: `Resource "${query.resource}" accepts only DPoP-bound tokens`,
      reasonCode: 'DPOP_REQUIRED',
      policies: NO_POLICIES,
    };
  }
  if (caller.sas !== undefined) return sasAuthorization(caller.sas, query);
  // A proof came with the request: `requireDpop` policies may match (and grant only bound tokens).
  const principal: PolicySubject = caller.jkt === undefined ? caller : { ...caller, dpopBound: true };
  const decided = decide(snapshot.index, principal, query);
  // The common case costs one comparison: allowed with no context on the resource, or denied
  // where no allow names a context.
  if (
    decided.allowed
      ? resource.authContext === undefined
      : !snapshot.index.hasAuthContexts && resource.authContext === undefined
  )
    return decided;
  return stepUp(snapshot.index, resource.authContext, principal, query, decided);
}

/** At most this many contexts are tried for one request (each is one more decision). */
const MAX_STEP_UP_TRIES = 8;

/**
 * {@link authorize}'s answer when a context could matter: `AUTH_CONTEXT_REQUIRED` when adding the
 * resource's missing context, then (on a deny with no matching allow) each context an allow for
 * this request names, makes the decision an allow; otherwise `decided` unchanged (or, when the
 * resource's context itself brings a deny, that deny).
 */
function stepUp(
  index: PolicyIndex,
  resourceContext: string | undefined,
  principal: PolicySubject,
  query: RequestQuery | ScopeQuery,
  decided: Authorization,
): Authorization {
  if (!decided.allowed && decided.reasonCode !== 'NO_MATCHING_POLICY') return decided;
  const have = authContextsOf(principal.claims);
  const needed = resourceContext !== undefined && !have.includes(resourceContext) ? [resourceContext] : [];
  if (decided.allowed && needed.length === 0) return decided;
  const extras: (string | undefined)[] = decided.allowed ? [undefined] : policyContexts(index, query, have);
  for (const extra of extras.slice(0, MAX_STEP_UP_TRIES)) {
    const adds = extra === undefined || needed.includes(extra) ? needed : [...needed, extra];
    if (adds.length === 0) continue;
    const stepped: PolicySubject = {
      ...principal,
      claims: { ...principal.claims, acrs: [...have, ...adds] },
    };
    const again = decide(index, stepped, query);
    if (!again.allowed) {
      if (decided.allowed) return again; // the resource's context itself brings a deny
      continue;
    }
    const context = adds[0]!;
    return {
      allowed: false,
      decision: 'deny',
      reason: `Allowed by ${again.policies.join(', ')} only with authentication context ${context} (the token's acrs lacks it)`,
      reasonCode: 'AUTH_CONTEXT_REQUIRED',
      policies: again.policies,
      authContext: context,
    };
  }
  return decided;
}

/** The contexts allows for this request name that the caller lacks, in policy order. */
function policyContexts(
  index: PolicyIndex,
  query: RequestQuery | ScopeQuery,
  have: readonly string[],
): string[] {
  const contexts: string[] = [];
  for (const action of 'action' in query ? [query.action] : query.actions) {
    for (const lists of candidatesFor(index, query.resource, action)) {
      for (const policy of lists.allow) {
        const context = policy.authContext;
        if (context !== undefined && !have.includes(context) && !contexts.includes(context))
          contexts.push(context);
      }
    }
  }
  return contexts;
}

/** The policies' decision for a request or a SAS scope. */
function decide(
  index: PolicyIndex,
  principal: PolicySubject,
  query: RequestQuery | ScopeQuery,
): Authorization {
  if ('action' in query) {
    const { resource: name, action, path } = query;
    return evaluatePolicies(index, { resource: name, action, path, principal });
  }
  const scope = evaluateScope(index, {
    resource: query.resource,
    actions: query.actions,
    pathPrefix: query.subtree,
    principal,
  });
  return {
    allowed: scope.allowed,
    decision: scope.allowed ? 'allow' : 'deny',
    reason: scope.reason,
    reasonCode: scope.reasonCode,
    // The granting policies (the token's `spi`) when allowed; none otherwise.
    policies: scope.policies,
    ...(scope.maxTokenLifetimeSeconds === undefined
      ? {}
      : { maxTokenLifetimeSeconds: scope.maxTokenLifetimeSeconds }),
  };
}
