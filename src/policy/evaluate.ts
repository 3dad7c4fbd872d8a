/**
 * The pure policy evaluator: a compiled index and a request in, a decision out. No I/O, no
 * clock, no logging; the same input always gives the same decision.
 *
 * Rules (contract section 4): default deny; any matching enabled `deny` wins; otherwise any
 * matching enabled `allow` allows. A policy matches when its resource and action fit, its
 * principals match, every condition holds and one of its paths matches.
 *
 * - **principals**: every list present must match (AND), any entry within a list (OR). `roles`
 *   and `scopes` compare exactly; `groups`, `tenants` (`tid`), `clients` (`azp`) and `users`
 *   (`oid`) are GUIDs and compare without case. No `principals`: any authenticated caller.
 * - **conditions** read `principal.claims` (own properties only). A claim that is absent or
 *   `null` fails every operator, `notIn` included: a missing claim never satisfies a policy,
 *   whether it allows or denies. For a scalar claim, `equals` is strict equality, `in` /
 *   `notIn` membership. For an array claim (`groups`, `amr`, ...): `equals` and `in` hold when
 *   some element matches; `notIn` holds when no element is in `values`. An object-valued claim
 *   only satisfies `exists`.
 * - **paths**: see path-glob. `{claims.X}` is a whole segment compared literally; a missing or
 *   unusable claim value never matches. Deny globs compare without case, allow globs exactly.
 * - **decision.policies**: every matching deny when denied, every matching allow when allowed,
 *   `[]` on a default deny. Exact-resource policies come first, then `*` ones, each in id order.
 */
import { isAction, type Action } from './actions';
import type { Principal } from '../auth/principal';
import {
  areValidSegments,
  coversSubtree,
  matchValidSegments,
  reachesInto,
  splitPath,
  type Claims,
} from './path-glob';
import {
  candidatesFor,
  type CandidateLists,
  type CompiledCondition,
  type CompiledPolicy,
  type PolicyIndex,
  type PrincipalKeyedPolicies,
} from './policy-index';

/** What the evaluator reads of a caller. A what-if principal built from claims fits too. */
export type PolicyPrincipal = Pick<
  Principal,
  'oid' | 'tid' | 'azp' | 'roles' | 'scopes' | 'groups' | 'claims'
>;

/** Why a decision came out as it did: stable, for clients, audit and tests. */
export type ReasonCode =
  'ALLOWED' | 'EXPLICIT_DENY' | 'NO_MATCHING_POLICY' | 'INVALID_PATH' | 'UNKNOWN_ACTION' | 'UNKNOWN_RESOURCE';

export interface Decision {
  readonly allowed: boolean;
  readonly decision: 'allow' | 'deny';
  /** One human sentence; not for branching (use `reasonCode`). */
  readonly reason: string;
  readonly reasonCode: ReasonCode;
  /** The deciding policy ids (see the file header). */
  readonly policies: readonly string[];
  /** The smallest `maxTokenLifetimeSeconds` of the deciding allow policies, when any sets one. */
  readonly maxTokenLifetimeSeconds?: number;
}

export interface DecisionRequest {
  /** A resource name. The caller checks it exists first (see {@link unknownResourceDecision}). */
  readonly resource: string;
  readonly action: Action;
  /** `/customers/42`, or its segments `['customers', '42']`. */
  readonly path: string | readonly string[];
  readonly principal: PolicyPrincipal;
}

// ---- Matching ---------------------------------------------------------------------------------

const UPPER_CASE = /[A-Z]/;

function anyIn(values: readonly string[], set: ReadonlySet<string>): boolean {
  for (const v of values) if (set.has(v)) return true;
  return false;
}

/** `set` holds lower-case values; `value` matches ignoring case, with no new string when already lower case. */
function hasIgnoringCase(value: string | undefined, set: ReadonlySet<string>): boolean {
  if (value === undefined) return false;
  return set.has(value) || (UPPER_CASE.test(value) && set.has(value.toLowerCase()));
}

function anyInIgnoringCase(values: readonly string[], set: ReadonlySet<string>): boolean {
  for (const v of values) if (hasIgnoringCase(v, set)) return true;
  return false;
}

/** Whether the caller fits the policy's `principals`. */
export function principalMatches(policy: CompiledPolicy, principal: PolicyPrincipal): boolean {
  const p = policy.principals;
  if (p === undefined) return true;
  if (p.roles !== undefined && !anyIn(principal.roles, p.roles)) return false;
  if (p.scopes !== undefined && !anyIn(principal.scopes, p.scopes)) return false;
  if (p.tenants !== undefined && !hasIgnoringCase(principal.tid, p.tenants)) return false;
  if (p.clients !== undefined && !hasIgnoringCase(principal.azp, p.clients)) return false;
  if (p.users !== undefined && !hasIgnoringCase(principal.oid, p.users)) return false;
  if (p.groups !== undefined && !anyInIgnoringCase(principal.groups, p.groups)) return false;
  return true;
}

function conditionHolds(condition: CompiledCondition, claims: Claims): boolean {
  if (!Object.hasOwn(claims, condition.claim)) return false;
  const raw = claims[condition.claim];
  if (raw === null || raw === undefined) return false;
  switch (condition.operator) {
    case 'exists':
      return true;
    case 'equals':
      return Array.isArray(raw) ? raw.includes(condition.value) : raw === condition.value;
    case 'in':
      if (Array.isArray(raw)) return raw.some((v) => condition.values.has(v as never));
      return condition.values.has(raw as never);
    case 'notIn':
      if (Array.isArray(raw)) return !raw.some((v) => condition.values.has(v as never));
      if (typeof raw === 'object') return false;
      return !condition.values.has(raw as never);
  }
}

/** Whether every condition of the policy holds for these claims. */
export function conditionsHold(policy: CompiledPolicy, claims: Claims): boolean {
  for (const condition of policy.conditions) if (!conditionHolds(condition, claims)) return false;
  return true;
}

/** Whether one of the policy's paths matches; `segments` must already be valid. */
function pathMatches(policy: CompiledPolicy, segments: readonly string[], claims: Claims): boolean {
  if (policy.matchesAnyPath) return true;
  for (const glob of policy.globs) if (matchValidSegments(glob, segments, claims)) return true;
  return false;
}

function policyMatches(
  policy: CompiledPolicy,
  segments: readonly string[],
  principal: PolicyPrincipal,
): boolean {
  return (
    principalMatches(policy, principal) &&
    conditionsHold(policy, principal.claims) &&
    pathMatches(policy, segments, principal.claims)
  );
}

// ---- Decisions --------------------------------------------------------------------------------

function toSegments(path: string | readonly string[]): readonly string[] | undefined {
  if (typeof path === 'string') return splitPath(path);
  return areValidSegments(path) ? path : undefined;
}

function displayPath(path: string | readonly string[]): string {
  return typeof path === 'string' ? path || '/' : `/${path.join('/')}`;
}

function named(ids: readonly string[]): string {
  return `${ids.length === 1 ? 'policy' : 'policies'} ${ids.join(', ')}`;
}

function deny(reasonCode: ReasonCode, reason: string, policies: readonly string[] = []): Decision {
  return { allowed: false, decision: 'deny', reason, reasonCode, policies };
}

/** The decision for a resource the gateway does not know: a deny, whatever the policies say. */
export function unknownResourceDecision(resource: string): Decision {
  return deny('UNKNOWN_RESOURCE', `No resource named "${resource}"`);
}

function visit(
  into: CompiledPolicy[] | undefined,
  list: readonly CompiledPolicy[] | undefined,
  segments: readonly string[],
  principal: PolicyPrincipal,
): CompiledPolicy[] | undefined {
  if (list === undefined) return into;
  for (const policy of list) {
    if (!policyMatches(policy, segments, principal)) continue;
    // A policy filed under two of the caller's roles is found twice; name it once.
    if (policy.multiKey && into?.includes(policy)) continue;
    (into ??= []).push(policy);
  }
  return into;
}

function visitEach(
  into: CompiledPolicy[] | undefined,
  map: ReadonlyMap<string, readonly CompiledPolicy[]>,
  keys: readonly string[],
  lowerCase: boolean,
  segments: readonly string[],
  principal: PolicyPrincipal,
): CompiledPolicy[] | undefined {
  if (map.size === 0) return into;
  for (const key of keys) into = visit(into, lookup(map, key, lowerCase), segments, principal);
  return into;
}

/**
 * `map.get(key)`, lower-casing the key first when asked. Entra emits object ids in lower case,
 * so the key is tried as is first and lower-cased only when it has upper-case letters: no new
 * string on the hot path.
 */
function lookup(
  map: ReadonlyMap<string, readonly CompiledPolicy[]>,
  key: string,
  lowerCase: boolean,
): readonly CompiledPolicy[] | undefined {
  const found = map.get(key);
  if (found !== undefined || !lowerCase || !UPPER_CASE.test(key)) return found;
  return map.get(key.toLowerCase());
}

function visitOne(
  into: CompiledPolicy[] | undefined,
  map: ReadonlyMap<string, readonly CompiledPolicy[]>,
  key: string | undefined,
  segments: readonly string[],
  principal: PolicyPrincipal,
): CompiledPolicy[] | undefined {
  if (map.size === 0 || key === undefined) return into;
  return visit(into, lookup(map, key, true), segments, principal);
}

/** The matching policies of one keyed list, in id order; touches only what the caller could match. */
function collect(
  keyed: PrincipalKeyedPolicies,
  segments: readonly string[],
  principal: PolicyPrincipal,
): CompiledPolicy[] | undefined {
  let found = visit(undefined, keyed.open, segments, principal);
  found = visitEach(found, keyed.byRole, principal.roles, false, segments, principal);
  found = visitOne(found, keyed.byUser, principal.oid, segments, principal);
  found = visitEach(found, keyed.byGroup, principal.groups, true, segments, principal);
  found = visitEach(found, keyed.byScope, principal.scopes, false, segments, principal);
  found = visitOne(found, keyed.byClient, principal.azp, segments, principal);
  found = visitOne(found, keyed.byTenant, principal.tid, segments, principal);
  if (found !== undefined && found.length > 1) found.sort(byOrdinal);
  return found;
}

function byOrdinal(a: CompiledPolicy, b: CompiledPolicy): number {
  return a.ordinal - b.ordinal;
}

/** Matching enabled policies: exact-resource ones first, then `*` ones; `undefined` when none. */
function matchingPolicies(
  index: PolicyIndex,
  resource: string,
  action: Action,
  segments: readonly string[],
  principal: PolicyPrincipal,
): CompiledPolicy[] | undefined {
  const exact = index.byResource.get(resource)?.[action];
  const any = index.anyResource[action];
  if (exact === undefined) return collect(any.keyed, segments, principal);
  const first = collect(exact.keyed, segments, principal);
  if (exact.includesAnyResource) return first;
  const second = collect(any.keyed, segments, principal);
  if (first === undefined) return second;
  if (second !== undefined) for (const p of second) first.push(p);
  return first;
}

function ids(policies: readonly CompiledPolicy[]): string[] {
  const out = new Array<string>(policies.length);
  for (let i = 0; i < policies.length; i++) out[i] = policies[i]!.id;
  return out;
}

function minLifetime(policies: readonly CompiledPolicy[]): number | undefined {
  let min: number | undefined;
  for (const policy of policies) {
    const cap = policy.maxTokenLifetimeSeconds;
    if (cap !== undefined && (min === undefined || cap < min)) min = cap;
  }
  return min;
}

/**
 * Decides one request. Touches only the candidate lists of `(resource, action)` and
 * `(*, action)`; never scans the whole policy set.
 *
 * @example
 * ```ts
 * const d = evaluatePolicies(index, { resource: 'orders', action: 'read', path: '/customers/42', principal });
 * if (!d.allowed) throw new GatewayError('ERR_POLICY_DENIED', d.reason);
 * ```
 */
export function evaluatePolicies(index: PolicyIndex, request: DecisionRequest): Decision {
  const { resource, action, principal } = request;
  if (!isAction(action)) {
    return deny('UNKNOWN_ACTION', `"${String(action)}" is not an action (read, create, write, delete)`);
  }
  const segments = toSegments(request.path);
  if (segments === undefined) {
    return deny('INVALID_PATH', 'The path is not a normalized path inside the resource');
  }
  // Denies and allows are found in one pass. Every matching deny is named, so the pass does not
  // stop at the first one.
  const matched = matchingPolicies(index, resource, action, segments, principal);
  if (matched === undefined) {
    return deny(
      'NO_MATCHING_POLICY',
      `No policy allows ${action} on ${resource} at ${displayPath(request.path)}`,
    );
  }
  let denyIds: string[] | undefined;
  for (const policy of matched) if (policy.effect === 'deny') (denyIds ??= []).push(policy.id);
  if (denyIds !== undefined) return deny('EXPLICIT_DENY', `Denied by ${named(denyIds)}`, denyIds);
  const allows = matched;
  const allowIds = ids(allows);
  const cap = minLifetime(allows);
  const decision: Decision = {
    allowed: true,
    decision: 'allow',
    reason: `Allowed by ${named(allowIds)}`,
    reasonCode: 'ALLOWED',
    policies: allowIds,
    // Always present (undefined when no allow sets a cap; JSON leaves it out): one object shape.
    maxTokenLifetimeSeconds: cap,
  };
  return decision;
}

// ---- Explanation (admin what-if) ----------------------------------------------------------------

/** Why one candidate policy did or did not take part in a decision; checked in this order. */
export type PolicyOutcome = 'matched' | 'disabled' | 'principals' | 'conditions' | 'path';

export interface PolicyExplanation {
  readonly id: string;
  readonly effect: 'allow' | 'deny';
  readonly outcome: PolicyOutcome;
}

/**
 * The decision plus, for every candidate policy of `(resource, action)` and `(*, action)`,
 * disabled ones included, the first test it failed. For the admin what-if and for debugging;
 * the request path uses {@link evaluatePolicies}.
 */
export function explainDecision(
  index: PolicyIndex,
  request: DecisionRequest,
): { readonly decision: Decision; readonly candidates: readonly PolicyExplanation[] } {
  const decision = evaluatePolicies(index, request);
  const segments = isAction(request.action) ? toSegments(request.path) : undefined;
  if (segments === undefined) return { decision, candidates: [] };
  const candidates: PolicyExplanation[] = [];
  const { principal } = request;
  const explain = (lists: CandidateLists): void => {
    for (const policy of [...lists.deny, ...lists.allow, ...lists.disabled]) {
      let outcome: PolicyOutcome = 'matched';
      if (!policy.enabled) outcome = 'disabled';
      else if (!principalMatches(policy, principal)) outcome = 'principals';
      else if (!conditionsHold(policy, principal.claims)) outcome = 'conditions';
      else if (!pathMatches(policy, segments, principal.claims)) outcome = 'path';
      candidates.push({ id: policy.id, effect: policy.effect, outcome });
    }
  };
  for (const lists of candidatesFor(index, request.resource, request.action)) explain(lists);
  return { decision, candidates };
}

// ---- SAS scopes -----------------------------------------------------------------------------------

export interface ScopeRequest {
  readonly resource: string;
  /** The actions asked for; at least one. */
  readonly actions: readonly Action[];
  /** The subtree asked for: `/customers/42` or `['customers', '42']`; `/` or `[]` for the whole resource. */
  readonly pathPrefix: string | readonly string[];
  readonly principal: PolicyPrincipal;
}

export interface ActionScopeDecision {
  readonly action: Action;
  readonly allowed: boolean;
  readonly reasonCode: ReasonCode;
  readonly reason: string;
  /** Granting allow ids, or the denies that reach into the subtree. */
  readonly policies: readonly string[];
}

export interface ScopeDecision {
  /** Every asked action is granted on the whole subtree. */
  readonly allowed: boolean;
  /** The first refused action's reason code, or `ALLOWED`. */
  readonly reasonCode: ReasonCode;
  readonly reason: string;
  readonly actions: readonly ActionScopeDecision[];
  /** Every granting allow policy over all actions, in id order: the SAS `spi`. Empty unless allowed. */
  readonly policies: readonly string[];
  /** The smallest `maxTokenLifetimeSeconds` of those policies, when any sets one. */
  readonly maxTokenLifetimeSeconds?: number;
}

function scopeForAction(
  index: PolicyIndex,
  request: ScopeRequest,
  action: Action,
  prefix: readonly string[],
): ActionScopeDecision {
  const { principal, resource } = request;
  const claims = principal.claims;
  const lists = candidatesFor(index, resource, action);
  const fits = (p: CompiledPolicy): boolean => principalMatches(p, principal) && conditionsHold(p, claims);

  // A deny that reaches any path of the subtree refuses the whole scope: the token could not be
  // held to that part of it once issued.
  const denies = lists.flatMap((l) =>
    l.deny.filter((p) => fits(p) && p.globs.some((g) => reachesInto(g, prefix, claims))),
  );
  if (denies.length > 0) {
    return {
      action,
      allowed: false,
      reasonCode: 'EXPLICIT_DENY',
      reason: `Denied by ${named(denies.map((p) => p.id))}`,
      policies: denies.map((p) => p.id),
    };
  }
  const allows = lists.flatMap((l) =>
    l.allow.filter((p) => fits(p) && p.globs.some((g) => coversSubtree(g, prefix, claims))),
  );
  if (allows.length === 0) {
    return {
      action,
      allowed: false,
      reasonCode: 'NO_MATCHING_POLICY',
      reason: `No policy allows ${action} on all of ${resource}${prefix.length ? '/' : ''}${prefix.join('/')}`,
      policies: [],
    };
  }
  const ids = allows.map((p) => p.id);
  return { action, allowed: true, reasonCode: 'ALLOWED', reason: `Allowed by ${named(ids)}`, policies: ids };
}

/**
 * Decides a SAS path scope (contract section 5): each asked action is granted iff some matching
 * allow policy covers the whole subtree ({@link coversSubtree}) and no matching deny policy
 * reaches into it ({@link reachesInto}).
 */
export function evaluateScope(index: PolicyIndex, request: ScopeRequest): ScopeDecision {
  const prefix = toSegments(request.pathPrefix);
  if (prefix === undefined) {
    return {
      allowed: false,
      reasonCode: 'INVALID_PATH',
      reason: 'The path scope is not a normalized path',
      actions: [],
      policies: [],
    };
  }
  const unknown = request.actions.find((a) => !isAction(a));
  if (unknown !== undefined || request.actions.length === 0) {
    return {
      allowed: false,
      reasonCode: 'UNKNOWN_ACTION',
      reason: unknown === undefined ? 'No action was asked for' : `"${String(unknown)}" is not an action`,
      actions: [],
      policies: [],
    };
  }
  const actions = [...new Set(request.actions)].map((a) => scopeForAction(index, request, a, prefix));
  const refused = actions.find((a) => !a.allowed);
  if (refused !== undefined) {
    return { allowed: false, reasonCode: refused.reasonCode, reason: refused.reason, actions, policies: [] };
  }
  const policies = [...new Set(actions.flatMap((a) => a.policies))].sort();
  const cap = minLifetime(policies.map((id) => index.byId.get(id)!));
  const decision: ScopeDecision = {
    allowed: true,
    reasonCode: 'ALLOWED',
    reason: `Allowed by ${named(policies)}`,
    actions,
    policies,
  };
  return cap === undefined ? decision : { ...decision, maxTokenLifetimeSeconds: cap };
}
