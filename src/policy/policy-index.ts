/**
 * The compiled policy index: built once each time policies load, read by every decision.
 *
 * Why an index: a decision must cost the same with 10 policies or 100,000. Policies are bucketed
 * by resource (an exact name, plus one `*` bucket) and then by action (a policy listing `*` is
 * placed under each of the four actions), with deny and allow lists kept apart. A decision reads
 * the `(resource, action)` bucket (into which up to 64 `*`-resource policies are folded) and,
 * only past that limit, the `(*, action)` bucket; within a bucket it looks policies up by the
 * caller's roles, groups, ... (see {@link PrincipalKeyedPolicies}), never scanning them all. Everything a match
 * needs is prepared here: principal lists as Sets, condition value lists as Sets, path globs
 * compiled.
 *
 * Disabled policies take part in no decision. They stay in `byId` (so a SAS whose `spi` names
 * one is seen as revoked, not as naming an unknown policy) and in each bucket's `disabled` list
 * (so an explanation can say "policy X would match but is disabled").
 */
import { ACTIONS, type Action } from './actions';
import type { Policy, PolicyCondition } from './model';
import { compilePathGlob, type PathGlob } from './path-glob';

/** Principal lists as Sets. GUID lists (groups, tenants, clients, users) hold lower-case values. */
export interface CompiledPrincipals {
  readonly roles: ReadonlySet<string> | undefined;
  readonly scopes: ReadonlySet<string> | undefined;
  readonly groups: ReadonlySet<string> | undefined;
  readonly tenants: ReadonlySet<string> | undefined;
  readonly clients: ReadonlySet<string> | undefined;
  readonly users: ReadonlySet<string> | undefined;
}

type Scalar = string | number | boolean;

export type CompiledCondition =
  | { readonly claim: string; readonly operator: 'equals'; readonly value: Scalar }
  | { readonly claim: string; readonly operator: 'in' | 'notIn'; readonly values: ReadonlySet<Scalar> }
  | { readonly claim: string; readonly operator: 'exists' };

/** A policy ready to be matched. */
export interface CompiledPolicy {
  readonly id: string;
  readonly effect: 'allow' | 'deny';
  readonly enabled: boolean;
  /** The validated document, as loaded. */
  readonly policy: Policy;
  readonly globs: readonly PathGlob[];
  /** One of the globs is `/**`: the path test always passes. */
  readonly matchesAnyPath: boolean;
  /** `undefined`: any authenticated caller. */
  readonly principals: CompiledPrincipals | undefined;
  readonly conditions: readonly CompiledCondition[];
  readonly maxTokenLifetimeSeconds: number | undefined;
  /** Exact-resource policies first, then `*` ones, each in id order: decisions name policies in this order. */
  readonly ordinal: number;
  /** Filed under more than one key: a lookup may find it twice. */
  readonly multiKey: boolean;
}

/**
 * The enabled policies (both effects) of a (resource, action) pair, looked up by who they are for.
 *
 * Why: with tens of policies per resource, checking each one costs more than the decision
 * budget. Each policy is filed under one principal list it requires: its `roles` if it has
 * them, else `users`, `groups`, `scopes`, `clients`, `tenants`, in that order (most selective
 * first). A decision then looks up the caller's own roles, groups, ... and touches only the
 * policies the caller could match, plus `open` (policies without principals). A policy is still
 * fully checked once found: the key only narrows the search.
 */
export interface PrincipalKeyedPolicies {
  readonly open: readonly CompiledPolicy[];
  readonly byRole: ReadonlyMap<string, readonly CompiledPolicy[]>;
  readonly byUser: ReadonlyMap<string, readonly CompiledPolicy[]>;
  readonly byGroup: ReadonlyMap<string, readonly CompiledPolicy[]>;
  readonly byScope: ReadonlyMap<string, readonly CompiledPolicy[]>;
  readonly byClient: ReadonlyMap<string, readonly CompiledPolicy[]>;
  readonly byTenant: ReadonlyMap<string, readonly CompiledPolicy[]>;
}

/** The candidate policies of one (resource, action) pair. The arrays are in policy id order. */
export interface CandidateLists {
  readonly deny: readonly CompiledPolicy[];
  readonly allow: readonly CompiledPolicy[];
  readonly disabled: readonly CompiledPolicy[];
  /** `deny` and `allow` together, keyed by principal: one lookup per caller attribute finds both. */
  readonly keyed: PrincipalKeyedPolicies;
  /**
   * `keyed` also holds the `*`-resource policies of this action, so a decision need not read the
   * `*` bucket. True when there are at most {@link FOLD_ANY_RESOURCE_LIMIT} of them.
   */
  readonly includesAnyResource: boolean;
}

/**
 * Up to this many enabled `*`-resource policies per action are copied into every resource's
 * keyed lookup. Why: a decision then does one set of lookups instead of two; the copies cost
 * resources x this many references at most, so beyond it the `*` bucket is read separately.
 */
export const FOLD_ANY_RESOURCE_LIMIT = 64;

export type ActionBuckets = Readonly<Record<Action, CandidateLists>>;

export interface PolicyIndex {
  /** Buckets of policies naming a resource exactly. */
  readonly byResource: ReadonlyMap<string, ActionBuckets>;
  /** Buckets of policies whose `resource` is `*`. */
  readonly anyResource: ActionBuckets;
  /** Every policy, enabled or not. */
  readonly byId: ReadonlyMap<string, CompiledPolicy>;
}

const EMPTY_MAP: ReadonlyMap<string, readonly CompiledPolicy[]> = new Map();
const EMPTY_KEYED: PrincipalKeyedPolicies = {
  open: [],
  byRole: EMPTY_MAP,
  byUser: EMPTY_MAP,
  byGroup: EMPTY_MAP,
  byScope: EMPTY_MAP,
  byClient: EMPTY_MAP,
  byTenant: EMPTY_MAP,
};
const EMPTY_LISTS: CandidateLists = {
  deny: [],
  allow: [],
  disabled: [],
  keyed: EMPTY_KEYED,
  includesAnyResource: false,
};

type KeyKind = Exclude<keyof PrincipalKeyedPolicies, 'open'>;

/** The principal list a policy is filed under (see {@link PrincipalKeyedPolicies}). */
function keyOf(principals: CompiledPrincipals | undefined): [KeyKind, ReadonlySet<string>] | undefined {
  if (principals === undefined) return undefined;
  if (principals.roles) return ['byRole', principals.roles];
  if (principals.users) return ['byUser', principals.users];
  if (principals.groups) return ['byGroup', principals.groups];
  if (principals.scopes) return ['byScope', principals.scopes];
  if (principals.clients) return ['byClient', principals.clients];
  if (principals.tenants) return ['byTenant', principals.tenants];
  return undefined;
}

function keyPolicies(policies: readonly CompiledPolicy[]): PrincipalKeyedPolicies {
  if (policies.length === 0) return EMPTY_KEYED;
  const open: CompiledPolicy[] = [];
  const maps: Record<KeyKind, Map<string, CompiledPolicy[]>> = {
    byRole: new Map(),
    byUser: new Map(),
    byGroup: new Map(),
    byScope: new Map(),
    byClient: new Map(),
    byTenant: new Map(),
  };
  for (const policy of policies) {
    const key = keyOf(policy.principals);
    if (key === undefined) {
      open.push(policy);
      continue;
    }
    const map = maps[key[0]];
    for (const value of key[1]) {
      const list = map.get(value);
      if (list === undefined) map.set(value, [policy]);
      else list.push(policy);
    }
  }
  // Empty maps are shared: 100,000 policies make tens of thousands of lists, most with few keys.
  const shrink = (m: Map<string, CompiledPolicy[]>): ReadonlyMap<string, readonly CompiledPolicy[]> =>
    m.size === 0 ? EMPTY_MAP : m;
  return {
    open,
    byRole: shrink(maps.byRole),
    byUser: shrink(maps.byUser),
    byGroup: shrink(maps.byGroup),
    byScope: shrink(maps.byScope),
    byClient: shrink(maps.byClient),
    byTenant: shrink(maps.byTenant),
  };
}

function toSet(values: readonly string[] | undefined, lowerCase: boolean): ReadonlySet<string> | undefined {
  if (values === undefined) return undefined;
  return new Set(lowerCase ? values.map((v) => v.toLowerCase()) : values);
}

function compilePrincipals(policy: Policy): CompiledPrincipals | undefined {
  const p = policy.principals;
  if (p === undefined) return undefined;
  const compiled: CompiledPrincipals = {
    // Role and scope values are case-sensitive in Entra; object ids are GUIDs, compared without case.
    roles: toSet(p.roles, false),
    scopes: toSet(p.scopes, false),
    groups: toSet(p.groups, true),
    tenants: toSet(p.tenants, true),
    clients: toSet(p.clients, true),
    users: toSet(p.users, true),
  };
  const any = Object.values(compiled).some((s) => s !== undefined);
  return any ? compiled : undefined;
}

function compileCondition(condition: PolicyCondition): CompiledCondition {
  switch (condition.operator) {
    case 'equals':
      return { claim: condition.claim, operator: 'equals', value: condition.value };
    case 'in':
    case 'notIn':
      return { claim: condition.claim, operator: condition.operator, values: new Set(condition.values) };
    case 'exists':
      return { claim: condition.claim, operator: 'exists' };
  }
}

/** Compiles one validated policy. Throws `PathGlobError` on a glob that was never validated. */
export function compilePolicy(policy: Policy, ordinal = 0): CompiledPolicy {
  // Deny globs ignore case: a deny must not be sidestepped by `/ADMIN` on a case-insensitive host.
  const caseInsensitive = policy.effect === 'deny';
  const globs = policy.paths.map((p) => compilePathGlob(p, { caseInsensitive }));
  const principals = compilePrincipals(policy);
  return {
    id: policy.id,
    effect: policy.effect,
    enabled: policy.enabled,
    policy,
    globs,
    matchesAnyPath: globs.some((g) => g.matchesEverything),
    principals,
    conditions: (policy.conditions ?? []).map(compileCondition),
    maxTokenLifetimeSeconds: policy.maxTokenLifetimeSeconds,
    ordinal,
    multiKey: (keyOf(principals)?.[1].size ?? 0) > 1,
  };
}

interface MutableLists {
  deny: CompiledPolicy[];
  allow: CompiledPolicy[];
  disabled: CompiledPolicy[];
}

function newBuckets(): Record<Action, MutableLists> {
  return {
    read: { deny: [], allow: [], disabled: [] },
    create: { deny: [], allow: [], disabled: [] },
    write: { deny: [], allow: [], disabled: [] },
    delete: { deny: [], allow: [], disabled: [] },
  };
}

/**
 * Builds the index from validated policies. Ids are unique in the store; if one is given twice,
 * the later document wins. Lists are ordered by id so decisions name policies deterministically.
 */
export function compilePolicies(policies: Iterable<Policy>): PolicyIndex {
  const latest = new Map<string, Policy>();
  for (const policy of policies) latest.set(policy.id, policy);
  const sorted = [...latest.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  // Ordinals put exact-resource policies before `*` ones: `*` policies are offset by the count.
  const ordered = sorted.map((policy, i) =>
    compilePolicy(policy, policy.resource === '*' ? sorted.length + i : i),
  );
  const byId = new Map(ordered.map((p) => [p.id, p]));

  const byResource = new Map<string, Record<Action, MutableLists>>();
  const anyResource = newBuckets();
  for (const compiled of ordered) {
    const { resource, actions } = compiled.policy;
    let buckets = anyResource;
    if (resource !== '*') {
      buckets = byResource.get(resource) ?? newBuckets();
      byResource.set(resource, buckets);
    }
    const everyAction = actions.includes('*');
    for (const action of ACTIONS) {
      if (!everyAction && !actions.includes(action)) continue;
      const lists = buckets[action];
      if (!compiled.enabled) lists.disabled.push(compiled);
      else if (compiled.effect === 'deny') lists.deny.push(compiled);
      else lists.allow.push(compiled);
    }
  }
  const finish = (buckets: Record<Action, MutableLists>, fold: boolean): ActionBuckets => {
    const done = {} as Record<Action, CandidateLists>;
    for (const action of ACTIONS) {
      const lists = buckets[action];
      const any = anyResource[action];
      const includesAnyResource = fold && any.deny.length + any.allow.length <= FOLD_ANY_RESOURCE_LIMIT;
      const enabled = [...lists.deny, ...lists.allow];
      if (includesAnyResource) enabled.push(...any.deny, ...any.allow);
      // Keyed in ordinal order, so each keyed list is in that order too.
      enabled.sort((a, b) => a.ordinal - b.ordinal);
      done[action] = { ...lists, keyed: keyPolicies(enabled), includesAnyResource };
    }
    return done;
  };
  const finished = new Map<string, ActionBuckets>();
  for (const [name, buckets] of byResource) finished.set(name, finish(buckets, true));
  return { byResource: finished, anyResource: finish(anyResource, false), byId };
}

/**
 * The candidate lists for one resource and action: exact-resource policies, then `*` ones. Their
 * `deny` / `allow` / `disabled` arrays never overlap (the folded copies live only in `keyed`).
 */
export function candidatesFor(
  index: PolicyIndex,
  resource: string,
  action: Action,
): [CandidateLists, CandidateLists] {
  const exact = index.byResource.get(resource);
  return [exact === undefined ? EMPTY_LISTS : exact[action], index.anyResource[action]];
}

/**
 * True when a policy with this id exists and is enabled. The SAS verifier asks it for every id
 * in `spi`: deleting or disabling a policy revokes what it granted.
 */
export function isPolicyActive(index: PolicyIndex, id: string): boolean {
  return index.byId.get(id)?.enabled === true;
}
