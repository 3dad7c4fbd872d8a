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
 * compiled, principal values numbered ({@link PrincipalKeyIds}) so a lookup compares integers.
 *
 * Disabled policies take part in no decision. They stay in `byId` (so a SAS whose `spi` names
 * one is seen as revoked, not as naming an unknown policy) and in each bucket's `disabled` list
 * (so an explanation can say "policy X would match but is disabled").
 */
import { ACTIONS, type Action } from './actions';
import { effectiveConditions, type Policy, type PolicyCondition } from './model';
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
  /**
   * The stored version's tag (see policy-version.ts): what a SAS token's `spv` names. `''` when
   * the policy was compiled without a stored version (tests, what-if tools).
   */
  readonly version: string;
  readonly globs: readonly PathGlob[];
  /** One of the globs is `/**`: the path test always passes. */
  readonly matchesAnyPath: boolean;
  /** `undefined`: any authenticated caller. */
  readonly principals: CompiledPrincipals | undefined;
  readonly conditions: readonly CompiledCondition[];
  readonly maxTokenLifetimeSeconds: number | undefined;
  /** `authContext`: matches only a caller whose `acrs` lists it (one of its {@link conditions}). */
  readonly authContext: string | undefined;
  /** `requireDpop`: matches only a caller bound to a DPoP key (`dpopBound` in src/policy/subject.ts). */
  readonly requireDpop: boolean;
  /** Exact-resource policies first, then `*` ones, each in id order: decisions name policies in this order. */
  readonly ordinal: number;
  /**
   * It names groups (`principals.groups`, or a condition on the `groups` claim). A caller whose
   * token carries the groups-overage marker never passes such a policy: see `groupsOverage` in
   * src/auth/principal.ts.
   */
  readonly testsGroups: boolean;
  /**
   * The claims it reads (its conditions' and its `{claims.X}` paths'), sorted: what the audit
   * trail keeps of a caller so that a decision can be made again (src/audit/audit-record.ts).
   */
  readonly claimsRead: readonly string[];
  /** Filed under more than one key: a lookup may find it twice. */
  readonly multiKey: boolean;
  /**
   * Its principals are exactly the one list it is filed under: a caller who finds it by key
   * matches its principals, and the evaluator need not check them again.
   */
  readonly keyedOnly: boolean;
  /** `[id]`, frozen: the `policies` of a decision this policy makes alone (shared, never copied). */
  readonly soleIds: readonly string[];
  /** The `reason` of a decision this policy makes alone: `Allowed by policy X` or `Denied by policy X`. */
  readonly soleReason: string;
}

/**
 * The enabled policies (both effects) of a (resource, action) pair, looked up by who they are for.
 *
 * Why: with tens of policies per resource, checking each one costs more than the decision
 * budget. Each policy is filed under one principal list it requires: its `roles` if it has
 * them, else `users`, `groups`, `scopes`, `clients`, `tenants`, in that order (most selective
 * first). A decision then looks up the caller's own roles, groups, ... and touches only the
 * policies the caller could match, plus `open` (policies without principals). A policy is still
 * fully checked once found, apart from the list it was found under: the key only narrows the
 * search.
 *
 * Keys are numbers from {@link PolicyIndex.principalKeys}, so a lookup is a binary search over a
 * small sorted `Int32Array` (no string hashing or compares, few cache lines). Most of a caller's
 * keys are in no bucket it asks about, so a one-cache-line bit filter answers those without the
 * search (see {@link keyFilterBit}).
 */
export interface PrincipalKeyedPolicies {
  /** Policies without principals, in ordinal order. */
  readonly open: readonly CompiledPolicy[];
  /** The key numbers policies are filed under, ascending. */
  readonly keys: Int32Array;
  /** Bit {@link keyFilterBit}`(key, filterShift)` is set for every key in `keys` (a one-hash Bloom filter). */
  readonly filter: Int32Array;
  readonly filterShift: number;
  /** `lists[i]`: the policies filed under `keys[i]`, in ordinal order. */
  readonly lists: ReadonlyArray<readonly CompiledPolicy[]>;
}

/** The kinds of principal list, in the order a policy is filed by (see {@link PrincipalKeyedPolicies}). */
export const PRINCIPAL_KINDS = ['roles', 'users', 'groups', 'scopes', 'clients', 'tenants'] as const;
export type PrincipalKind = (typeof PRINCIPAL_KINDS)[number];

/**
 * Every principal value some policy is filed under, numbered, one table per kind (GUID kinds
 * hold lower-case values). Shared by every bucket of one index: a caller's values are numbered
 * once per index (the evaluator caches that on the principal) and then compared as integers.
 */
export type PrincipalKeyIds = Readonly<Record<PrincipalKind, ReadonlyMap<string, number>>>;

/** The candidate policies of one (resource, action) pair. The arrays are in policy id order. */
export interface CandidateLists {
  readonly deny: readonly CompiledPolicy[];
  readonly allow: readonly CompiledPolicy[];
  readonly disabled: readonly CompiledPolicy[];
  /** The enabled denies of `deny` that test groups: what a groups-overage caller must also meet. */
  readonly groupDenies: readonly CompiledPolicy[];
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
  /** The numbers of the principal values policies are filed under. */
  readonly principalKeys: PrincipalKeyIds;
  /** Every claim an enabled policy reads (see {@link CompiledPolicy.claimsRead}), sorted. */
  readonly claimsRead: readonly string[];
  /** Whether any enabled allow names an authentication context: step-up is looked for only then. */
  readonly hasAuthContexts: boolean;
}

const EMPTY_KEYED: PrincipalKeyedPolicies = {
  open: [],
  keys: new Int32Array(0),
  filter: new Int32Array(1),
  filterShift: 27,
  lists: [],
};

/**
 * The filter bit of `key`: a multiplicative (Fibonacci) hash, top `32 - shift` bits. Why hash:
 * key numbers are handed out in policy order, so their low bits need not be spread.
 */
export function keyFilterBit(key: number, shift: number): number {
  return Math.imul(key, 0x9e3779b1) >>> shift;
}

/**
 * The policies of `keyed` filed under principal key `key`, or undefined when none are. The bit
 * filter answers most misses without the binary search over `keys`.
 */
export function policiesFiledUnder(
  keyed: PrincipalKeyedPolicies,
  key: number,
): readonly CompiledPolicy[] | undefined {
  const bit = keyFilterBit(key, keyed.filterShift);
  if ((keyed.filter[bit >>> 5]! & (1 << (bit & 31))) === 0) return undefined;
  const keys = keyed.keys;
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (keys[mid]! < key) lo = mid + 1;
    else hi = mid;
  }
  return keys[lo] === key ? keyed.lists[lo] : undefined;
}

/** Filter size in bits: about 8 per key (a few percent false positives), 32 to 4096. */
function filterBits(keys: number): number {
  let bits = 32;
  while (bits < keys * 8 && bits < 4096) bits *= 2;
  return bits;
}
const EMPTY_LISTS: CandidateLists = {
  deny: [],
  allow: [],
  disabled: [],
  groupDenies: [],
  keyed: EMPTY_KEYED,
  includesAnyResource: false,
};

/** The principal list a policy is filed under (see {@link PrincipalKeyedPolicies}). */
function keyOf(
  principals: CompiledPrincipals | undefined,
): readonly [PrincipalKind, ReadonlySet<string>] | undefined {
  if (principals === undefined) return undefined;
  for (const kind of PRINCIPAL_KINDS) {
    const list = principals[kind];
    if (list !== undefined) return [kind, list];
  }
  return undefined;
}

/** Numbers principal values as buckets are keyed; one per index. */
class KeyNumbering {
  private next = 0;
  readonly ids: Record<PrincipalKind, Map<string, number>> = {
    roles: new Map(),
    users: new Map(),
    groups: new Map(),
    scopes: new Map(),
    clients: new Map(),
    tenants: new Map(),
  };

  idOf(kind: PrincipalKind, value: string): number {
    const table = this.ids[kind];
    let id = table.get(value);
    if (id === undefined) {
      id = this.next++;
      table.set(value, id);
    }
    return id;
  }
}

function keyPolicies(policies: readonly CompiledPolicy[], numbering: KeyNumbering): PrincipalKeyedPolicies {
  if (policies.length === 0) return EMPTY_KEYED;
  const open: CompiledPolicy[] = [];
  const byKey = new Map<number, CompiledPolicy[]>();
  for (const policy of policies) {
    const key = keyOf(policy.principals);
    if (key === undefined) {
      open.push(policy);
      continue;
    }
    for (const value of key[1]) {
      const id = numbering.idOf(key[0], value);
      const list = byKey.get(id);
      if (list === undefined) byKey.set(id, [policy]);
      else list.push(policy);
    }
  }
  const keys = Int32Array.from(byKey.keys()).sort();
  const lists = Array.from(keys, (id) => byKey.get(id)!);
  const bits = filterBits(keys.length);
  const filterShift = 32 - Math.log2(bits);
  const filter = new Int32Array(bits / 32);
  for (const id of keys) {
    const bit = keyFilterBit(id, filterShift);
    filter[bit >>> 5]! |= 1 << (bit & 31);
  }
  return { open, keys, filter, filterShift, lists };
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

const NO_CONDITIONS: readonly CompiledCondition[] = Object.freeze([]);

/**
 * Compiled path lists and condition lists, shared between the policies of one index that spell
 * them alike. Why: a large policy set repeats a handful of shapes (`/customers/{claims.oid}/**`,
 * `ctry in [...]`); one shared, immutable copy of each keeps memory down and keeps the data a
 * decision reads in cache.
 */
export class CompileCache {
  private readonly globs = new Map<string, readonly PathGlob[]>();
  private readonly conditions = new Map<string, readonly CompiledCondition[]>();

  globsOf(paths: readonly string[], caseInsensitive: boolean): readonly PathGlob[] {
    const key = `${caseInsensitive ? 'i' : 's'}\n${paths.join('\n')}`;
    let globs = this.globs.get(key);
    if (globs === undefined) {
      globs = paths.map((p) => compilePathGlob(p, { caseInsensitive }));
      this.globs.set(key, globs);
    }
    return globs;
  }

  conditionsOf(conditions: readonly PolicyCondition[] | undefined): readonly CompiledCondition[] {
    if (conditions === undefined || conditions.length === 0) return NO_CONDITIONS;
    // JSON keeps `1` and `"1"` apart, as the strict comparison does.
    const key = JSON.stringify(conditions);
    let compiled = this.conditions.get(key);
    if (compiled === undefined) {
      compiled = conditions.map(compileCondition);
      this.conditions.set(key, compiled);
    }
    return compiled;
  }
}

/** Compiles one validated policy. Throws `PathGlobError` on a glob that was never validated. */
export function compilePolicy(
  policy: Policy,
  ordinal = 0,
  cache = new CompileCache(),
  version = '',
): CompiledPolicy {
  // Deny globs ignore case: a deny must not be sidestepped by `/ADMIN` on a case-insensitive host.
  const caseInsensitive = policy.effect === 'deny';
  const globs = cache.globsOf(policy.paths, caseInsensitive);
  const principals = compilePrincipals(policy);
  const key = keyOf(principals);
  const listCount =
    principals === undefined ? 0 : PRINCIPAL_KINDS.filter((kind) => principals[kind] !== undefined).length;
  return {
    id: policy.id,
    effect: policy.effect,
    enabled: policy.enabled,
    policy,
    version,
    globs,
    matchesAnyPath: globs.some((g) => g.matchesEverything),
    principals,
    conditions: cache.conditionsOf(effectiveConditions(policy)),
    maxTokenLifetimeSeconds: policy.maxTokenLifetimeSeconds,
    requireDpop: policy.requireDpop === true,
    authContext: policy.authContext,
    ordinal,
    testsGroups:
      principals?.groups !== undefined || effectiveConditions(policy).some((c) => c.claim === 'groups'),
    claimsRead: [
      ...new Set([...effectiveConditions(policy).map((c) => c.claim), ...globs.flatMap((g) => g.claims)]),
    ].sort(),
    multiKey: (key?.[1].size ?? 0) > 1,
    keyedOnly: key !== undefined && listCount === 1,
    soleIds: Object.freeze([policy.id]),
    soleReason: `${policy.effect === 'deny' ? 'Denied' : 'Allowed'} by policy ${policy.id}`,
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
 *
 * @param versions each stored policy's version tag, by id (see {@link CompiledPolicy.version})
 */
export function compilePolicies(
  policies: Iterable<Policy>,
  versions: ReadonlyMap<string, string> = new Map(),
): PolicyIndex {
  const latest = new Map<string, Policy>();
  for (const policy of policies) latest.set(policy.id, policy);
  const sorted = [...latest.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  // Ordinals put exact-resource policies before `*` ones: `*` policies are offset by the count.
  const cache = new CompileCache();
  const ordered = sorted.map((policy, i) =>
    compilePolicy(
      policy,
      policy.resource === '*' ? sorted.length + i : i,
      cache,
      versions.get(policy.id) ?? '',
    ),
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
  const numbering = new KeyNumbering();
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
      done[action] = {
        ...lists,
        groupDenies: lists.deny.filter((p) => p.testsGroups),
        keyed: keyPolicies(enabled, numbering),
        includesAnyResource,
      };
    }
    return done;
  };
  const finished = new Map<string, ActionBuckets>();
  for (const [name, buckets] of byResource) finished.set(name, finish(buckets, true));
  return {
    byResource: finished,
    anyResource: finish(anyResource, false),
    byId,
    principalKeys: numbering.ids,
    claimsRead: Object.freeze(
      [...new Set(ordered.filter((p) => p.enabled).flatMap((p) => p.claimsRead))].sort(),
    ),
    hasAuthContexts: ordered.some((p) => p.enabled && p.authContext !== undefined),
  };
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
 * True when a policy with this id exists, is enabled and is still at `version`. The SAS
 * verifier asks it for every id in `spi` with its tag in `spv`: any write to a granting policy
 * (narrowing it, disabling it, deleting and re-creating it) revokes what it granted, as editing
 * an Azure stored access policy does.
 */
export function isPolicyActive(index: PolicyIndex, id: string, version: string): boolean {
  const policy = index.byId.get(id);
  return policy !== undefined && policy.enabled && policy.version === version;
}
