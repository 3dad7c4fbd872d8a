/**
 * The pure policy evaluator: a compiled index and a request in, a decision out. No I/O, no
 * clock, no logging; the same input always gives the same decision.
 *
 * Rules (docs/reference.md §5): default deny; any matching enabled `deny` wins; otherwise any
 * matching enabled `allow` allows. A policy matches when its resource and action fit, its
 * principals match, every condition holds and one of its paths matches.
 *
 * One meaning of a policy: {@link policyOutcome} says whether a policy applies to a subject and,
 * if not, the first test it fails. The request decision ({@link evaluatePolicies}), the SAS scope
 * decision ({@link evaluateScope}) and the explanation ({@link explainCandidates}) all ask it; they
 * differ only in their path test (a request path matches; a subtree is covered, or reached into)
 * and in which candidates they ask about. The index only narrows the candidates.
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
import {
  areValidSegments,
  coversSubtree,
  matchSpans,
  newPathSpans,
  reachesInto,
  scanPath,
  spansOf,
  splitPath,
  type PathSpans,
} from './path-glob';
import {
  candidatesFor,
  policiesFiledUnder,
  type CompiledCondition,
  type CompiledPolicy,
  type CompiledPrincipals,
  type PolicyIndex,
  type PrincipalKeyedPolicies,
  type PrincipalKeyIds,
} from './policy-index';
import type { Claims, PolicySubject } from './subject';

/** Why a decision came out as it did: stable, for clients, audit and tests. */
export type ReasonCode =
  | 'ALLOWED'
  | 'EXPLICIT_DENY'
  | 'GROUPS_OVERAGE'
  | 'NO_MATCHING_POLICY'
  | 'INVALID_PATH'
  | 'UNKNOWN_ACTION'
  | 'UNKNOWN_RESOURCE';

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
  readonly principal: PolicySubject;
}

// ---- The caller, prepared once ------------------------------------------------------------------

const UPPER_CASE = /[A-Z]/;

/** `value` as GUID lists compare it: lower-cased only when it has upper-case letters (no new string otherwise). */
function guidForm(value: string): string {
  return UPPER_CASE.test(value) ? value.toLowerCase() : value;
}

/**
 * What the evaluator derives from a principal: its GUID values in compare form, and the numbers
 * of its values in one index's {@link PrincipalKeyIds}.
 *
 * Why cached: a verified Entra principal is reused across requests (the token cache hands out
 * the same object), so lower-casing and numbering its roles and groups once, instead of on every
 * decision for every candidate policy, takes that work off the hot path. The cache is a
 * WeakMap keyed by the principal object, so it lives exactly as long as the principal. Principals
 * are immutable (`readonly` throughout); a view is still rebuilt when any field it was derived
 * from is replaced, and the numbers are redone when the index changes.
 */
interface PrincipalView extends Omit<PolicySubject, 'claims' | 'groupsOverage' | 'dpopBound'> {
  readonly oidForm: string | undefined;
  readonly tidForm: string;
  readonly azpForm: string | undefined;
  readonly groupForms: readonly string[];
  /** The index {@link keys} were numbered against. */
  keysOf: PrincipalKeyIds | undefined;
  /** Ascending, distinct: the numbers of the caller's values that some policy is filed under. */
  keys: Int32Array;
}

const NO_KEYS = new Int32Array(0);
const views = new WeakMap<PolicySubject, PrincipalView>();

function viewOf(principal: PolicySubject): PrincipalView {
  const cached = views.get(principal);
  if (
    cached !== undefined &&
    cached.roles === principal.roles &&
    cached.groups === principal.groups &&
    cached.scopes === principal.scopes &&
    cached.oid === principal.oid &&
    cached.tid === principal.tid &&
    cached.azp === principal.azp
  ) {
    return cached;
  }
  const view: PrincipalView = {
    oid: principal.oid,
    tid: principal.tid,
    azp: principal.azp,
    roles: principal.roles,
    scopes: principal.scopes,
    groups: principal.groups,
    oidForm: principal.oid === undefined ? undefined : guidForm(principal.oid),
    tidForm: guidForm(principal.tid),
    azpForm: principal.azp === undefined ? undefined : guidForm(principal.azp),
    groupForms: principal.groups.map(guidForm),
    keysOf: undefined,
    keys: NO_KEYS,
  };
  views.set(principal, view);
  return view;
}

function numberKeys(ids: PrincipalKeyIds, view: PrincipalView): Int32Array {
  const found: number[] = [];
  const add = (table: ReadonlyMap<string, number>, value: string | undefined): void => {
    const id = value === undefined ? undefined : table.get(value);
    if (id !== undefined) found.push(id);
  };
  for (const role of view.roles) add(ids.roles, role);
  for (const scope of view.scopes) add(ids.scopes, scope);
  for (const group of view.groupForms) add(ids.groups, group);
  add(ids.users, view.oidForm);
  add(ids.clients, view.azpForm);
  add(ids.tenants, view.tidForm);
  if (found.length === 0) return NO_KEYS;
  // Sorted and distinct: a caller holding a role twice finds its policies once.
  const sorted = Int32Array.from(found).sort();
  let n = 1;
  for (let i = 1; i < sorted.length; i++) if (sorted[i] !== sorted[n - 1]) sorted[n++] = sorted[i]!;
  return n === sorted.length ? sorted : sorted.slice(0, n);
}

/** The caller's key numbers in `index`, computed once per principal and index. */
function keysIn(index: PolicyIndex, view: PrincipalView): Int32Array {
  if (view.keysOf !== index.principalKeys) {
    view.keys = numberKeys(index.principalKeys, view);
    view.keysOf = index.principalKeys;
  }
  return view.keys;
}

// ---- Matching ---------------------------------------------------------------------------------

function anyIn(values: readonly string[], set: ReadonlySet<string>): boolean {
  for (const v of values) if (set.has(v)) return true;
  return false;
}

/** `set` holds lower-case values; `value` is tried as is and in its {@link guidForm}. */
function hasGuid(value: string | undefined, form: string | undefined, set: ReadonlySet<string>): boolean {
  if (value === undefined) return false;
  return set.has(value) || (form !== value && set.has(form!));
}

/**
 * @param unknownGroupsMatch the caller's groups are unknown (overage) and a deny is being
 *   checked: its `groups` list counts as matched
 */
function principalFits(p: CompiledPrincipals, view: PrincipalView, unknownGroupsMatch: boolean): boolean {
  if (p.roles !== undefined && !anyIn(view.roles, p.roles)) return false;
  if (p.scopes !== undefined && !anyIn(view.scopes, p.scopes)) return false;
  if (p.tenants !== undefined && !hasGuid(view.tid, view.tidForm, p.tenants)) return false;
  if (p.clients !== undefined && !hasGuid(view.azp, view.azpForm, p.clients)) return false;
  if (p.users !== undefined && !hasGuid(view.oid, view.oidForm, p.users)) return false;
  if (p.groups !== undefined) {
    if (unknownGroupsMatch) return true;
    const groups = view.groups;
    const forms = view.groupForms;
    for (let i = 0; i < groups.length; i++) if (hasGuid(groups[i], forms[i], p.groups)) return true;
    return false;
  }
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

/**
 * Whether every condition of the policy holds for these claims.
 *
 * @param unknownGroupsHold the caller's groups are unknown (overage) and a deny is being
 *   checked: a condition on the `groups` claim counts as holding
 */
export function conditionsHold(policy: CompiledPolicy, claims: Claims, unknownGroupsHold = false): boolean {
  const conditions = policy.conditions;
  for (let i = 0; i < conditions.length; i++) {
    const condition = conditions[i]!;
    if (unknownGroupsHold && condition.claim === 'groups') continue;
    if (!conditionHolds(condition, claims)) return false;
  }
  return true;
}

/** Whether one of the policy's paths matches; the path must already be valid. */
function pathMatches(policy: CompiledPolicy, spans: PathSpans, claims: Claims): boolean {
  if (policy.matchesAnyPath) return true;
  const globs = policy.globs;
  for (let i = 0; i < globs.length; i++) if (matchSpans(globs[i]!, spans, claims)) return true;
  return false;
}

// ---- One meaning of a policy --------------------------------------------------------------------

/**
 * Whether one policy applies to a subject, or the first test it fails; checked in this order.
 * `dpop`: the policy has `requireDpop` and the subject is not bound to a DPoP key.
 * `groupsOverage`: the policy tests groups and the caller's are unknown (overage): an allow of
 * this kind cannot grant, and a deny of this kind applies when every other test passes.
 */
export type PolicyOutcome =
  'matched' | 'disabled' | 'groupsOverage' | 'principals' | 'dpop' | 'conditions' | 'path';

/** The path test of a question: a request path matches, a subtree is covered or reached into. */
type PathTest = (policy: CompiledPolicy, claims: Claims) => boolean;

/** What {@link policyOutcome} reads of a subject: the subject and its prepared view. */
interface Asker {
  readonly subject: PolicySubject;
  readonly view: PrincipalView;
}

/**
 * The one meaning of a policy for a subject (see the file header). `principalsKnown`: the index
 * found the policy under the one principal list it has, through a key the subject holds, so its
 * principals match already (a speed-up that changes no answer).
 */
function policyOutcome(
  policy: CompiledPolicy,
  asker: Asker,
  paths: PathTest,
  principalsKnown = false,
): PolicyOutcome {
  if (!policy.enabled) return 'disabled';
  const { subject, view } = asker;
  const claims = subject.claims;
  if (subject.groupsOverage === true && policy.testsGroups) {
    // Fail closed: the caller may well be in the groups. An allow on groups cannot grant; a deny
    // on groups applies when every other test passes, its group tests counted as passed.
    if (policy.effect === 'allow') return 'groupsOverage';
    if (policy.principals !== undefined && !principalFits(policy.principals, view, true)) return 'principals';
    if (!conditionsHold(policy, claims, true)) return 'conditions';
    return paths(policy, claims) ? 'groupsOverage' : 'path';
  }
  if (!principalsKnown && policy.principals !== undefined && !principalFits(policy.principals, view, false))
    return 'principals';
  if (policy.requireDpop && subject.dpopBound !== true) return 'dpop';
  if (!conditionsHold(policy, claims)) return 'conditions';
  return paths(policy, claims) ? 'matched' : 'path';
}

/** Whether a policy with this outcome takes part in the decision: it matched, or it is a deny an overage caller meets. */
function applies(policy: CompiledPolicy, outcome: PolicyOutcome): boolean {
  return outcome === 'matched' || (outcome === 'groupsOverage' && policy.effect === 'deny');
}

// ---- Decisions --------------------------------------------------------------------------------

function toSegments(path: string | readonly string[]): readonly string[] | undefined {
  if (typeof path === 'string') return splitPath(path);
  return areValidSegments(path) ? path : undefined;
}

/**
 * The request path read into `spans` (a string path is not cut up), or `undefined` when it is
 * not a normalized path.
 */
function toSpans(path: string | readonly string[], spans: PathSpans): PathSpans | undefined {
  if (typeof path === 'string') return scanPath(path, spans) ? spans : undefined;
  return areValidSegments(path) ? spansOf(path) : undefined;
}

/**
 * One reusable {@link PathSpans} for the decision in progress. Taken and given back around each
 * decision, so a decision started while another runs (nothing does that; a claim getter could)
 * gets its own.
 */
let spareSpans: PathSpans | undefined = newPathSpans();

function displayPath(path: string | readonly string[]): string {
  return typeof path === 'string' ? path || '/' : `/${path.join('/')}`;
}

function named(ids: readonly string[]): string {
  return `${ids.length === 1 ? 'policy' : 'policies'} ${ids.join(', ')}`;
}

const NO_POLICIES: readonly string[] = Object.freeze([]);

function deny(reasonCode: ReasonCode, reason: string, policies: readonly string[] = NO_POLICIES): Decision {
  return { allowed: false, decision: 'deny', reason, reasonCode, policies };
}

/** The decision for a resource the gateway does not know: a deny, whatever the policies say. */
export function unknownResourceDecision(resource: string): Decision {
  return deny('UNKNOWN_RESOURCE', `No resource named "${resource}"`);
}

/** One decision's lookup: what every candidate is checked against. */
interface Probe extends Asker {
  readonly keys: Int32Array;
  readonly paths: PathTest;
  /** Denies that apply only because the caller's groups are unknown (overage). */
  overage: CompiledPolicy[] | undefined;
}

/** Appends the policies of `list` that match; `keyed`: found under a key the caller holds. */
function visit(
  into: CompiledPolicy[] | undefined,
  list: readonly CompiledPolicy[],
  keyed: boolean,
  probe: Probe,
): CompiledPolicy[] | undefined {
  for (let i = 0; i < list.length; i++) {
    const policy = list[i]!;
    // Found by key and filed under its only list: the principals match already.
    const outcome = policyOutcome(policy, probe, probe.paths, keyed && policy.keyedOnly);
    if (outcome === 'matched') {
      // A policy filed under two of the caller's roles is found twice; name it once.
      if (into === undefined) into = [policy];
      else if (!policy.multiKey || !into.includes(policy)) into.push(policy);
    } else if (outcome === 'groupsOverage' && policy.effect === 'deny') {
      if (probe.overage === undefined) probe.overage = [policy];
      else if (!probe.overage.includes(policy)) probe.overage.push(policy);
    }
  }
  return into;
}

/** The matching policies of one keyed list, in ordinal order; touches only what the caller could match. */
function collect(
  into: CompiledPolicy[] | undefined,
  keyed: PrincipalKeyedPolicies,
  probe: Probe,
): CompiledPolicy[] | undefined {
  if (keyed.open.length > 0) into = visit(into, keyed.open, false, probe);
  if (keyed.keys.length === 0) return into;
  const mine = probe.keys;
  for (let k = 0; k < mine.length; k++) {
    const list = policiesFiledUnder(keyed, mine[k]!);
    if (list !== undefined) into = visit(into, list, true, probe);
  }
  return into;
}

function byOrdinal(a: CompiledPolicy, b: CompiledPolicy): number {
  return a.ordinal - b.ordinal;
}

/** Matching enabled policies: exact-resource ones first, then `*` ones; `undefined` when none. */
function matchingPolicies(
  index: PolicyIndex,
  resource: string,
  action: Action,
  probe: Probe,
): CompiledPolicy[] | undefined {
  const exact = index.byResource.get(resource)?.[action];
  let found: CompiledPolicy[] | undefined;
  if (exact !== undefined) found = collect(undefined, exact.keyed, probe);
  if (exact === undefined || !exact.includesAnyResource) {
    found = collect(found, index.anyResource[action].keyed, probe);
  }
  // Ordinals put exact-resource policies before `*` ones, each in id order.
  if (found !== undefined && found.length > 1) found.sort(byOrdinal);
  return found;
}

/**
 * For a groups-overage caller: the enabled denies that test groups and apply with its groups
 * unknown. The index files them under group keys the caller cannot show, so they are read from
 * the bucket's `groupDenies`; {@link policyOutcome} decides each one. Adds to `probe.overage`.
 */
function overageDenies(index: PolicyIndex, resource: string, action: Action, probe: Probe): void {
  for (const lists of candidatesFor(index, resource, action)) {
    for (const policy of lists.groupDenies) {
      if (probe.overage?.includes(policy) || policyOutcome(policy, probe, probe.paths) !== 'groupsOverage')
        continue;
      (probe.overage ??= []).push(policy);
    }
  }
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
 * The `policies` and `reason` of a decision made by the `count` matched policies of `effect`.
 * One policy (the common case) shares its precomputed, frozen pair: no new array or string.
 */
function decidedBy(
  matched: readonly CompiledPolicy[],
  effect: 'allow' | 'deny',
  count: number,
): { readonly ids: readonly string[]; readonly reason: string } {
  if (count === 1) {
    for (const policy of matched) {
      if (policy.effect === effect) return { ids: policy.soleIds, reason: policy.soleReason };
    }
  }
  const ids: string[] = [];
  for (const policy of matched) if (policy.effect === effect) ids.push(policy.id);
  return { ids, reason: `${effect === 'deny' ? 'Denied' : 'Allowed'} by ${named(ids)}` };
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
  const scratch = spareSpans ?? newPathSpans();
  spareSpans = undefined;
  let matched: CompiledPolicy[] | undefined;
  let overage: CompiledPolicy[] | undefined;
  try {
    const spans = toSpans(request.path, scratch);
    if (spans === undefined) {
      return deny('INVALID_PATH', 'The path is not a normalized path inside the resource');
    }
    const view = viewOf(principal);
    const probe: Probe = {
      subject: principal,
      view,
      keys: keysIn(index, view),
      paths: (policy, claims) => pathMatches(policy, spans, claims),
      overage: undefined,
    };
    // Denies and allows are found in one pass. Every matching deny is named, so the pass does not
    // stop at the first one.
    matched = matchingPolicies(index, resource, action, probe);
    if (principal.groupsOverage === true) overageDenies(index, resource, action, probe);
    overage = probe.overage;
  } finally {
    scratch.path = ''; // hold no request data between decisions
    spareSpans = scratch;
  }
  if (overage !== undefined) {
    // Denies found only because the caller's groups are unknown: named with any other deny.
    const regular = matched?.filter((p) => p.effect === 'deny') ?? [];
    const ids = [...regular, ...overage].sort(byOrdinal).map((p) => p.id);
    return deny(
      regular.length > 0 ? 'EXPLICIT_DENY' : 'GROUPS_OVERAGE',
      regular.length > 0
        ? `Denied by ${named(ids)}`
        : `Denied by ${named(ids)}: the token has Entra's groups-overage marker instead of its groups, so a policy on groups is never passed`,
      ids,
    );
  }
  if (matched === undefined) {
    return deny(
      'NO_MATCHING_POLICY',
      `No policy allows ${action} on ${resource} at ${displayPath(request.path)}`,
    );
  }
  let denies = 0;
  for (const policy of matched) if (policy.effect === 'deny') denies++;
  if (denies > 0) {
    const by = decidedBy(matched, 'deny', denies);
    return deny('EXPLICIT_DENY', by.reason, by.ids);
  }
  const by = decidedBy(matched, 'allow', matched.length);
  const decision: Decision = {
    allowed: true,
    decision: 'allow',
    reason: by.reason,
    reasonCode: 'ALLOWED',
    policies: by.ids,
    // Always present (undefined when no allow sets a cap; JSON leaves it out): one object shape.
    maxTokenLifetimeSeconds: minLifetime(matched),
  };
  return decision;
}

// ---- Explanation (admin what-if) ----------------------------------------------------------------

export interface PolicyExplanation {
  readonly id: string;
  readonly effect: 'allow' | 'deny';
  readonly outcome: PolicyOutcome;
}

/**
 * For every candidate policy of `(resource, action)` and `(*, action)`, disabled ones included,
 * its {@link policyOutcome}. For the admin what-if and for debugging; the decision itself is
 * {@link evaluatePolicies}', from the same outcomes.
 */
export function explainCandidates(
  index: PolicyIndex,
  request: DecisionRequest,
): readonly PolicyExplanation[] {
  const spans = isAction(request.action) ? toSpans(request.path, newPathSpans()) : undefined;
  if (spans === undefined) return [];
  const asker: Asker = { subject: request.principal, view: viewOf(request.principal) };
  const paths: PathTest = (policy, claims) => pathMatches(policy, spans, claims);
  const candidates: PolicyExplanation[] = [];
  for (const lists of candidatesFor(index, request.resource, request.action)) {
    for (const policy of [...lists.deny, ...lists.allow, ...lists.disabled]) {
      candidates.push({ id: policy.id, effect: policy.effect, outcome: policyOutcome(policy, asker, paths) });
    }
  }
  return candidates;
}

/** The decision and the explanation of every candidate ({@link explainCandidates}). */
export function explainDecision(
  index: PolicyIndex,
  request: DecisionRequest,
): { readonly decision: Decision; readonly candidates: readonly PolicyExplanation[] } {
  return { decision: evaluatePolicies(index, request), candidates: explainCandidates(index, request) };
}

// ---- SAS scopes -----------------------------------------------------------------------------------

export interface ScopeRequest {
  readonly resource: string;
  /** The actions asked for; at least one. */
  readonly actions: readonly Action[];
  /** The subtree asked for: `/customers/42` or `['customers', '42']`; `/` or `[]` for the whole resource. */
  readonly pathPrefix: string | readonly string[];
  readonly principal: PolicySubject;
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
  const lists = candidatesFor(index, resource, action);
  const asker: Asker = { subject: principal, view: viewOf(principal) };
  // A deny that reaches any path of the subtree refuses the whole scope: the token could not be
  // held to that part of it once issued.
  const reaches: PathTest = (policy, claims) => policy.globs.some((g) => reachesInto(g, prefix, claims));
  const covers: PathTest = (policy, claims) => policy.globs.some((g) => coversSubtree(g, prefix, claims));

  const denies: CompiledPolicy[] = [];
  let explicit = false;
  for (const list of lists) {
    for (const policy of list.deny) {
      const outcome = policyOutcome(policy, asker, reaches);
      if (!applies(policy, outcome)) continue;
      denies.push(policy);
      explicit ||= outcome === 'matched';
    }
  }
  if (denies.length > 0) {
    return {
      action,
      allowed: false,
      reasonCode: explicit ? 'EXPLICIT_DENY' : 'GROUPS_OVERAGE',
      reason: `Denied by ${named(denies.map((p) => p.id))}`,
      policies: denies.map((p) => p.id),
    };
  }
  const allows = lists.flatMap((l) => l.allow.filter((p) => policyOutcome(p, asker, covers) === 'matched'));
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
 * Decides a SAS path scope (docs/reference.md §6): each asked action is granted iff some matching
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
