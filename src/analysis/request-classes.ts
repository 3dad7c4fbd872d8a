/**
 * The finitely many kinds of request a set of policies can tell apart (docs/policy-analysis.md).
 *
 * A policy compares claims with the literals it names, path segments with its glob's literals
 * and `{claims.X}` values, and nothing else. So two requests that agree on every such comparison
 * are decided alike by every policy of the sets, and one representative of each kind decides for
 * all of its kind. This module enumerates one representative per kind, for one resource and
 * action: every combination of
 *
 * - the caller's roles, scopes and groups, as subsets of the literals the policies name (literals
 *   named by exactly the same lists are merged: holding either is the same), plus one role and one
 *   scope no policy names; groups overage when a policy tests groups;
 * - `oid`, `tid`, `azp`: each literal named, or a value none names;
 * - `idtyp`: `app` or `user`, when a condition reads it;
 * - every other claim a condition reads: absent, each literal value, a value none names, and an
 *   array of two or more literals;
 * - DPoP binding, when a policy requires it;
 * - the path: one witness per set of globs a path can match at once, found by a breadth-first walk
 *   of the globs' automata over an alphabet of their literals (each also with its case changed,
 *   for the case-insensitive deny globs), the claim values `{claims.X}` segments read, and one
 *   segment none names.
 *
 * Each representative is a token's claims: the analyzer turns them into a subject with the
 * gateway's own `subjectFromClaims` and decides them with its own `evaluatePolicies`. Nothing
 * here decides anything.
 */
import { ACTIONS, type Action } from '../policy/actions';
import { effectiveConditions, type Policy } from '../policy/model';
import { claimSegmentValue, compilePathGlob, isValidSegment, type PathGlob } from '../policy/path-glob';
import { LIST_ONLY_CLAIMS } from '../policy/subject';

/** One kind of request: the token claims of its caller, its path, and whether it brings a DPoP proof. */
export interface RequestClass {
  readonly resource: string;
  readonly action: Action;
  /** Path segments (`[]` is `/`). */
  readonly path: readonly string[];
  /** The claims of a token of this kind, as the what-if takes them. */
  readonly claims: Readonly<Record<string, unknown>>;
  readonly dpopBound: boolean;
}

/** The analysis would take more than its bound: refused, never answered by a guess. */
export class AnalysisTooLargeError extends Error {
  constructor(
    readonly what: string,
    readonly size: number,
    readonly bound: number,
  ) {
    super(
      `too large to analyze exactly: ${what} is ${size.toLocaleString('en-US')} (the bound is ${bound.toLocaleString('en-US')})`,
    );
    this.name = 'AnalysisTooLargeError';
  }
}

/** A policy the analysis cannot treat exactly: refused, naming it. */
export class NotAnalyzableError extends Error {
  constructor(
    readonly policy: string,
    why: string,
  ) {
    super(`policy ${policy}: ${why}`);
    this.name = 'NotAnalyzableError';
  }
}

/** Claims whose meaning the analysis does not model (they interact with the overage marker). */
const UNMODELLED_CLAIMS = new Set(['hasgroups', '_claim_names', '_claim_sources']);

/** Claims the enumeration sets itself (and so reads their condition literals specially). */
const PRINCIPAL_CLAIMS = new Set(['roles', 'scp', 'groups', 'oid', 'tid', 'azp', 'appid', 'idtyp']);

/**
 * The prefix of values no policy names (`unnamed-role`, `unnamed-users`, ...): `unnamed`, or
 * `unnamed2`, ... when the policies' own text holds it, so it can never equal a literal.
 */
function freshPrefix(text: string): string {
  let prefix = 'unnamed';
  for (let n = 2; text.includes(prefix); n++) prefix = `unnamed${n}`;
  return prefix;
}
type Scalar = string | number | boolean;

/** A policy's part in the analysis: its document, for its literals. */
export interface AnalyzedPolicy {
  readonly policy: Policy;
}

/** The scope of a question: which resource and action, and extra literals (from assertions). */
export interface ClassScope {
  readonly resource: string;
  readonly action: Action;
  /** Globs and principal literals that must also be told apart (an assertion's). */
  readonly extraGlobs?: readonly string[];
  readonly extraPrincipals?: Policy['principals'];
}

/** Whether a policy takes part in decisions on this resource and action. */
export function appliesTo(policy: Policy, resource: string, action: Action): boolean {
  return (
    (policy.resource === resource || policy.resource === '*') &&
    (policy.actions.includes('*') || policy.actions.includes(action))
  );
}

/** The resources a question ranges over: every name the sets use, and one they do not. */
export function resourcesOf(policies: readonly Policy[], extra: readonly string[] = []): string[] {
  const names = new Set<string>(extra.filter((r) => r !== '*'));
  for (const p of policies) if (p.resource !== '*') names.add(p.resource);
  const list = [...names].sort();
  if (policies.some((p) => p.resource === '*') || extra.includes('*'))
    list.push(`${freshPrefix(JSON.stringify([policies, extra]))}-resource`);
  return list;
}

export { ACTIONS };

/**
 * Literals merged by where they are named: holding any one of a group is the same to every policy.
 * `signatureOf(v)` lists the places `v` is named.
 */
function mergeBySignature(values: readonly string[], signatureOf: (v: string) => string): string[] {
  const seen = new Map<string, string>();
  for (const v of [...values].sort()) {
    const signature = signatureOf(v);
    if (!seen.has(signature)) seen.set(signature, v);
  }
  return [...seen.values()];
}

function subsets<T>(items: readonly T[]): T[][] {
  const out: T[][] = [[]];
  for (const item of items) {
    const n = out.length;
    for (let i = 0; i < n; i++) out.push([...out[i]!, item]);
  }
  return out;
}

function product(sizes: readonly number[]): number {
  return sizes.reduce((a, b) => a * b, 1);
}

/** A segment with its case changed (`Admin` → `aDMIN`), or undefined when it has no letters. */
function caseVariant(segment: string): string | undefined {
  let out = '';
  for (const c of segment) out += c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase();
  return out === segment ? undefined : out;
}

// ---- Paths: the globs' automata -------------------------------------------------------------------

/** The positions a glob's automaton can be in: token indices, `**` closed over (it may match nothing). */
function close(glob: PathGlob, positions: ReadonlySet<number>): Set<number> {
  const out = new Set(positions);
  for (const p of [...out].sort((a, b) => a - b)) {
    let i = p;
    while (i < glob.tokens.length && glob.tokens[i]!.kind === 'globstar') out.add(++i);
  }
  return out;
}

function segmentFits(
  glob: PathGlob,
  token: PathGlob['tokens'][number],
  segment: string,
  claims: Readonly<Record<string, unknown>>,
): boolean {
  const same = (a: string, b: string) =>
    glob.caseInsensitive ? a.toLowerCase() === b.toLowerCase() : a === b;
  switch (token.kind) {
    case 'literal':
      return same(token.value, segment);
    case 'star':
    case 'globstar':
      return true;
    case 'claim': {
      const value = claimSegmentValue(claims, token.claim);
      return value !== undefined && same(value, segment);
    }
  }
}

function step(
  glob: PathGlob,
  positions: ReadonlySet<number>,
  segment: string,
  claims: Readonly<Record<string, unknown>>,
): Set<number> {
  const next = new Set<number>();
  for (const p of positions) {
    const token = glob.tokens[p];
    if (token === undefined) continue;
    if (token.kind === 'globstar') next.add(p);
    else if (segmentFits(glob, token, segment, claims)) next.add(p + 1);
  }
  return close(glob, next);
}

/**
 * One path for each set of `globs` a path can match at once (with `claims` read by `{claims.X}`):
 * a breadth-first walk of the product of their automata, so the shortest witness of each set.
 *
 * @throws {AnalysisTooLargeError} past `bound` product states
 */
export function pathClasses(
  globs: readonly PathGlob[],
  alphabet: readonly string[],
  claims: Readonly<Record<string, unknown>>,
  bound: number,
): string[][] {
  const start = globs.map((g) => close(g, new Set([0])));
  const key = (state: readonly Set<number>[]) =>
    state.map((s) => [...s].sort((a, b) => a - b).join(',')).join('|');
  const accepting = (state: readonly Set<number>[]) =>
    state.map((s, i) => (s.has(globs[i]!.tokens.length) ? '1' : '0')).join('');
  const seen = new Set<string>([key(start)]);
  const witnesses = new Map<string, string[]>([[accepting(start), []]]);
  let frontier: { state: Set<number>[]; path: string[] }[] = [{ state: start, path: [] }];
  while (frontier.length > 0) {
    const next: typeof frontier = [];
    for (const { state, path } of frontier) {
      for (const segment of alphabet) {
        const moved = state.map((s, i) => step(globs[i]!, s, segment, claims));
        const k = key(moved);
        if (seen.has(k)) continue;
        seen.add(k);
        if (seen.size > bound)
          throw new AnalysisTooLargeError('the number of path automaton states', seen.size, bound);
        const movedPath = [...path, segment];
        const vector = accepting(moved);
        if (!witnesses.has(vector)) witnesses.set(vector, movedPath);
        next.push({ state: moved, path: movedPath });
      }
    }
    frontier = next;
  }
  return [...witnesses.values()];
}

// ---- Principals ---------------------------------------------------------------------------------

interface ClaimAxis {
  readonly name: string;
  readonly values: readonly unknown[];
}

/** Bounds of one enumeration. */
export interface ClassBounds {
  /** Most request kinds of one resource and action. */
  readonly classes: number;
  /** Most product states of one path walk. */
  readonly pathStates: number;
}

export const DEFAULT_BOUNDS: ClassBounds = { classes: 2_000_000, pathStates: 20_000 };

/**
 * Calls `visit` with one representative of every kind of request the `policies` (both sets of a
 * comparison, and the extras of the scope) can tell apart, for one resource and action, until
 * `visit` returns true (found what it looked for). Returns the number of kinds visited.
 *
 * @throws {AnalysisTooLargeError} past the bounds
 * @throws {NotAnalyzableError} a condition the analysis does not model
 */
export function forEachRequestClass(
  policies: readonly Policy[],
  scope: ClassScope,
  visit: (request: RequestClass) => boolean | void,
  bounds: ClassBounds = DEFAULT_BOUNDS,
): number {
  const relevant = policies.filter((p) => appliesTo(p, scope.resource, scope.action));
  const FRESH = freshPrefix(JSON.stringify([relevant, scope]));
  const lists = [
    ...relevant.map((p) => ({ id: p.id, principals: p.principals })),
    { id: '(scope)', principals: scope.extraPrincipals },
  ];

  const conditionValues = new Map<string, { values: Scalar[]; arrays: boolean }>();
  for (const p of relevant) {
    for (const c of effectiveConditions(p)) {
      if (UNMODELLED_CLAIMS.has(c.claim))
        throw new NotAnalyzableError(p.id, `a condition on "${c.claim}" is not analyzed`);
      const values = 'value' in c ? [c.value] : 'values' in c ? c.values : [];
      if (c.claim === 'scp' && values.some((v) => typeof v === 'string' && v.includes(' ')))
        throw new NotAnalyzableError(
          p.id,
          'a condition on "scp" with several scopes in one value is not analyzed',
        );
      const entry = conditionValues.get(c.claim) ?? { values: [], arrays: false };
      for (const v of values) if (!entry.values.includes(v)) entry.values.push(v);
      entry.arrays ||= c.operator !== 'exists';
      conditionValues.set(c.claim, entry);
    }
  }
  const conditionStrings = (claim: string) =>
    (conditionValues.get(claim)?.values ?? []).filter((v): v is string => typeof v === 'string');

  // Where each literal of a list kind is named: merged when named in exactly the same places.
  const named = (
    kind: 'roles' | 'scopes' | 'groups' | 'users' | 'tenants' | 'clients',
    lower: boolean,
    claim?: string,
  ) => {
    const values = new Set<string>();
    for (const l of lists)
      for (const v of l.principals?.[kind] ?? []) values.add(lower ? v.toLowerCase() : v);
    if (claim !== undefined) for (const v of conditionStrings(claim)) values.add(v);
    const signature = (v: string) =>
      lists
        .filter((l) => (l.principals?.[kind] ?? []).some((x) => (lower ? x.toLowerCase() : x) === v))
        .map((l) => l.id)
        .join(',') + `|${claim !== undefined && conditionStrings(claim).includes(v) ? v : ''}`;
    return mergeBySignature([...values], signature);
  };
  const roles = [...named('roles', false, 'roles'), `${FRESH}-role`];
  const scopes = [...named('scopes', false, 'scp'), `${FRESH}-scope`];
  const groups = named('groups', true, 'groups');
  const testsGroups =
    groups.length > 0 || relevant.some((p) => effectiveConditions(p).some((c) => c.claim === 'groups'));
  // Path globs of the question, and the claims their placeholders read.
  const globs: PathGlob[] = [];
  for (const p of relevant)
    for (const g of p.paths) globs.push(compilePathGlob(g, { caseInsensitive: p.effect === 'deny' }));
  for (const g of scope.extraGlobs ?? []) globs.push(compilePathGlob(g));
  const placeholderClaims = [...new Set(globs.flatMap((g) => g.claims))].sort();
  const literals = [
    ...new Set(globs.flatMap((g) => g.tokens.flatMap((t) => (t.kind === 'literal' ? [t.value] : [])))),
  ].sort();

  const single = (kind: 'users' | 'tenants' | 'clients', claims: string[]) => {
    const values = new Set<string>(named(kind, true));
    for (const claim of claims) for (const v of conditionStrings(claim)) values.add(v);
    // A claim compared exactly (a condition, a placeholder) tells a value from its case variant.
    if (claims.some((c) => conditionValues.has(c) || placeholderClaims.includes(c)))
      for (const v of [...values]) {
        const variant = caseVariant(v);
        if (variant !== undefined) values.add(variant);
      }
    return [...[...values].sort(), `${FRESH}-${kind}`];
  };
  const oids = single('users', ['oid']);
  const tids = single('tenants', ['tid']);
  const azps = single('clients', ['azp', 'appid']);
  const idtyps = conditionValues.has('idtyp') ? ['app', 'user'] : ['user'];
  const dpop = relevant.some((p) => p.requireDpop === true) ? [false, true] : [false];

  // Every other claim a condition or a path placeholder reads.
  const axes: ClaimAxis[] = [];
  for (const claim of [...new Set([...conditionValues.keys(), ...placeholderClaims])].sort()) {
    if (PRINCIPAL_CLAIMS.has(claim)) continue;
    const values = conditionValues.get(claim)?.values ?? [];
    if (LIST_ONLY_CLAIMS.includes(claim)) {
      // Seen only as a list: absent, empty, each value alone, an unnamed one, and combinations.
      const lists = subsets(values).filter((s) => s.length >= 2);
      axes.push({
        name: claim,
        values: [undefined, [], ...values.map((v) => [v]), [`${FRESH}-${claim}`], ...lists],
      });
      continue;
    }
    const scalars: unknown[] = [undefined, ...values, `${FRESH}-${claim}`];
    // A placeholder claim may equal a path literal: then that literal segment is its segment too.
    if (placeholderClaims.includes(claim))
      for (const l of literals) if (!scalars.includes(l)) scalars.push(l);
    const arrays =
      (conditionValues.get(claim)?.arrays ?? false) ? subsets(values).filter((s) => s.length >= 2) : [];
    axes.push({ name: claim, values: [...scalars, ...arrays] });
  }
  // `oid`, `tid` and `azp` in a placeholder: their values may equal a path literal too.
  const withLiterals = (values: string[], claim: string) =>
    placeholderClaims.includes(claim) ? [...new Set([...values, ...literals])] : values;
  const oidValues = withLiterals(oids, 'oid');
  const tidValues = withLiterals(tids, 'tid');
  const azpValues = withLiterals(azps, 'azp');

  const sizes = [
    2 ** roles.length,
    2 ** scopes.length,
    testsGroups ? 2 ** groups.length + 1 : 1,
    oidValues.length,
    tidValues.length,
    azpValues.length,
    idtyps.length,
    dpop.length,
    ...axes.map((a) => a.values.length),
  ];
  const principalKinds = product(sizes);
  if (principalKinds > bounds.classes)
    throw new AnalysisTooLargeError(
      `the number of caller kinds for ${scope.resource} ${scope.action}`,
      principalKinds,
      bounds.classes,
    );
  // Built only once the count is known to be within bounds.
  const roleSets = subsets(roles);
  const scopeSets = subsets(scopes);
  const groupSets: (string[] | 'overage')[] = testsGroups ? [...subsets(groups), 'overage'] : [[]];

  let visited = 0;
  const choice = new Array<number>(sizes.length).fill(0);
  const pathCache = new Map<string, string[][]>();
  for (;;) {
    const [r, s, g, o, t, a, i, d] = choice;
    const roleSet = roleSets[r!]!;
    const scopeSet = scopeSets[s!]!;
    // A token with neither roles nor scopes never reaches a policy (ERR_TOKEN_NO_SCOPE_OR_ROLE).
    if (roleSet.length > 0 || scopeSet.length > 0) {
      const groupSet = groupSets[g!]!;
      const claims: Record<string, unknown> = {
        oid: oidValues[o!],
        tid: tidValues[t!],
        azp: azpValues[a!],
        idtyp: idtyps[i!],
        ...(roleSet.length > 0 ? { roles: roleSet } : {}),
        ...(scopeSet.length > 0 ? { scp: scopeSet.join(' ') } : {}),
        ...(groupSet === 'overage'
          ? {
              _claim_names: { groups: 'src1' },
              _claim_sources: { src1: { endpoint: 'https://graph.microsoft.com' } },
            }
          : groupSet.length > 0
            ? { groups: groupSet }
            : {}),
      };
      axes.forEach((axis, k) => {
        const value = axis.values[choice[8 + k]!];
        if (value !== undefined) claims[axis.name] = value;
      });
      // Paths depend on the claims placeholders read: one walk per distinct valuation of them.
      const placeholderKey = JSON.stringify(placeholderClaims.map((c) => claims[c]));
      let paths = pathCache.get(placeholderKey);
      if (paths === undefined) {
        // Literals and claim values first, then their case variants, then a segment none names:
        // the walk keeps the first witness of each kind, so examples read as the policies do.
        const values = [...literals];
        for (const c of placeholderClaims) {
          const v = claimSegmentValue(claims, c);
          if (v !== undefined) values.push(v);
        }
        const variants = values.map(caseVariant).filter((v): v is string => v !== undefined);
        const letters = [...new Set([...values, ...variants, `${FRESH}-segment`])].filter(isValidSegment);
        paths = pathClasses(globs, letters, claims, bounds.pathStates);
        pathCache.set(placeholderKey, paths);
      }
      if (visited + paths.length > bounds.classes)
        throw new AnalysisTooLargeError(
          `the number of request kinds for ${scope.resource} ${scope.action}`,
          visited + paths.length,
          bounds.classes,
        );
      for (const path of paths) {
        visited++;
        if (
          visit({ resource: scope.resource, action: scope.action, path, claims, dpopBound: dpop[d!]! }) ===
          true
        )
          return visited;
      }
    }
    // Next combination (odometer).
    let k = 0;
    while (k < sizes.length && ++choice[k]! === sizes[k]) choice[k++] = 0;
    if (k === sizes.length) break;
  }
  return visited;
}
