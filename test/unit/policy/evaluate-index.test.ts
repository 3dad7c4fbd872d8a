/**
 * The indexed evaluator against a linear scan: on a seeded random policy set, every decision
 * (allowed, reason code, policy ids in order, lifetime cap) equals the one a plain scan of every
 * policy gives. This pins down what the index, the principal cache and the in-place path
 * matching must never change.
 */
import { ACTIONS, type Action } from '../../../src/policy/actions';
import { conditionsHold, evaluatePolicies, type Decision } from '../../../src/policy/evaluate';
import type { PolicySubject } from '../../../src/policy/subject';
import { parsePolicy, type Policy, type PolicyInput } from '../../../src/policy/model';
import { compilePathGlob, matchPath, splitPath } from '../../../src/policy/path-glob';
import { compilePolicies, compilePolicy, type PolicyIndex } from '../../../src/policy/policy-index';
import { prng } from '../../../loadtest/random';

const GUIDS = [
  'aaaaaaaa-0000-4000-8000-00000000000a',
  'bbbbbbbb-0000-4000-8000-00000000000b',
  'cccccccc-0000-4000-8000-00000000000c',
];
const ROLES = ['R.a', 'R.b', 'R.c', 'r.a'];
const SCOPES = ['S.read', 'S.write'];
const RESOURCES = ['orders', 'invoices', 'stock'];
const PATHS = [
  ['/**'],
  ['/customers/{claims.oid}/**'],
  ['/items/*'],
  ['/items/*/reviews/**'],
  ['/reports/daily', '/reports/weekly'],
  ['/**/secret'],
  ['/Admin/**'],
  ['/a/**/b'],
  ['/'],
];

function some<T>(rand: () => number, items: readonly T[], upper = false): T[] {
  const out = items.filter(() => rand() < 0.4);
  const list = out.length > 0 ? out : [items[Math.floor(rand() * items.length)]!];
  return upper ? list.map((v) => (typeof v === 'string' && rand() < 0.3 ? (v.toUpperCase() as T) : v)) : list;
}

function randomPolicies(rand: () => number, count: number): Policy[] {
  const docs: PolicyInput[] = [];
  for (let i = 0; i < count; i++) {
    const principals: NonNullable<PolicyInput['principals']> = {};
    if (rand() < 0.5) principals.roles = some(rand, ROLES);
    if (rand() < 0.2) principals.scopes = some(rand, SCOPES);
    if (rand() < 0.3) principals.groups = some(rand, GUIDS, true);
    if (rand() < 0.15) principals.users = some(rand, GUIDS, true);
    if (rand() < 0.15) principals.tenants = some(rand, GUIDS, true);
    if (rand() < 0.1) principals.clients = some(rand, GUIDS, true);
    docs.push({
      id: `p-${String(i).padStart(3, '0')}`,
      effect: rand() < 0.25 ? 'deny' : 'allow',
      resource: rand() < 0.1 ? '*' : RESOURCES[Math.floor(rand() * RESOURCES.length)]!,
      actions: rand() < 0.3 ? ['*'] : some(rand, ACTIONS),
      paths: PATHS[Math.floor(rand() * PATHS.length)]!,
      ...(Object.keys(principals).length > 0 ? { principals } : {}),
      ...(rand() < 0.3
        ? { conditions: [{ claim: 'ctry', operator: 'in' as const, values: ['NL', 'DE'] }] }
        : {}),
      ...(rand() < 0.3 ? { maxTokenLifetimeSeconds: 60 + Math.floor(rand() * 600) } : {}),
      ...(rand() < 0.1 ? { enabled: false } : {}),
    });
  }
  return docs.map((doc) => {
    const parsed = parsePolicy(doc);
    if (!parsed.ok) throw new Error(parsed.error);
    return parsed.value;
  });
}

function randomPrincipal(rand: () => number): PolicySubject {
  const oid = GUIDS[Math.floor(rand() * GUIDS.length)]!;
  const upper = (v: string): string => (rand() < 0.3 ? v.toUpperCase() : v);
  const roles = some(rand, ROLES);
  if (rand() < 0.2) roles.push(roles[0]!); // a role held twice
  return {
    oid: upper(oid),
    tid: upper(GUIDS[Math.floor(rand() * GUIDS.length)]!),
    azp: rand() < 0.2 ? undefined : upper(GUIDS[Math.floor(rand() * GUIDS.length)]!),
    roles,
    scopes: rand() < 0.5 ? some(rand, SCOPES) : [],
    groups: rand() < 0.2 ? [] : some(rand, GUIDS).map(upper),
    claims: { oid, ...(rand() < 0.7 ? { ctry: rand() < 0.5 ? 'NL' : 'US' } : {}) },
  };
}

/** The reference: every enabled policy checked in id order (exact resource first), no index. */
function linearScan(
  policies: readonly Policy[],
  request: { resource: string; action: Action; path: string | string[]; principal: PolicySubject },
): Pick<Decision, 'allowed' | 'reasonCode' | 'policies' | 'maxTokenLifetimeSeconds'> {
  const { principal } = request;
  const segments = typeof request.path === 'string' ? splitPath(request.path) : request.path;
  if (segments === undefined) {
    return { allowed: false, reasonCode: 'INVALID_PATH', policies: [], maxTokenLifetimeSeconds: undefined };
  }
  const guid = (values: readonly string[] | undefined, have: readonly (string | undefined)[]): boolean =>
    values === undefined ||
    have.some((h) => h !== undefined && values.some((v) => v.toLowerCase() === h.toLowerCase()));
  const exact = (values: readonly string[] | undefined, have: readonly string[]): boolean =>
    values === undefined || have.some((h) => values.includes(h));
  const sorted = [...policies].sort((a, b) => (a.id < b.id ? -1 : 1));
  const ordered = [
    ...sorted.filter((p) => p.resource === request.resource),
    ...sorted.filter((p) => p.resource === '*'),
  ];
  const matched = ordered.filter((p) => {
    if (!p.enabled) return false;
    if (!p.actions.includes('*') && !p.actions.includes(request.action)) return false;
    const who = p.principals ?? {};
    if (!exact(who.roles, principal.roles) || !exact(who.scopes, principal.scopes)) return false;
    if (!guid(who.groups, principal.groups) || !guid(who.users, [principal.oid])) return false;
    if (!guid(who.tenants, [principal.tid]) || !guid(who.clients, [principal.azp])) return false;
    if (!conditionsHold(compilePolicy(p), principal.claims)) return false;
    const caseInsensitive = p.effect === 'deny';
    return p.paths.some((g) =>
      matchPath(compilePathGlob(g, { caseInsensitive }), segments, principal.claims),
    );
  });
  const denies = matched.filter((p) => p.effect === 'deny');
  if (denies.length > 0) {
    return {
      allowed: false,
      reasonCode: 'EXPLICIT_DENY',
      policies: denies.map((p) => p.id),
      maxTokenLifetimeSeconds: undefined,
    };
  }
  if (matched.length === 0) {
    return {
      allowed: false,
      reasonCode: 'NO_MATCHING_POLICY',
      policies: [],
      maxTokenLifetimeSeconds: undefined,
    };
  }
  const caps = matched.flatMap((p) =>
    p.maxTokenLifetimeSeconds === undefined ? [] : [p.maxTokenLifetimeSeconds],
  );
  return {
    allowed: true,
    reasonCode: 'ALLOWED',
    policies: matched.map((p) => p.id),
    maxTokenLifetimeSeconds: caps.length > 0 ? Math.min(...caps) : undefined,
  };
}

const REQUEST_PATHS = (oid: string): Array<string | string[]> => [
  `/customers/${oid}/orders/1`,
  `/customers/${oid.toUpperCase()}`,
  '/customers/someone-else/x',
  '/items/7',
  '/items/7/reviews/3/',
  '/reports/daily',
  '/catalog/SECRET',
  '/admin/x',
  '/ADMIN',
  '/a/x/y/b',
  '/',
  '',
  '/a/../b',
  ['items', '9'],
  ['catalog', 'secret'],
];

function decide(index: PolicyIndex, request: Parameters<typeof linearScan>[1]) {
  const d = evaluatePolicies(index, request);
  return {
    allowed: d.allowed,
    reasonCode: d.reasonCode,
    policies: [...d.policies],
    maxTokenLifetimeSeconds: d.maxTokenLifetimeSeconds,
  };
}

describe('evaluatePolicies equals a linear scan', () => {
  it.each([1, 2, 3, 4, 5])('seed %i: 120 random policies, 1,500 requests', (seed) => {
    const rand = prng(seed);
    const policies = randomPolicies(rand, 120);
    const index = compilePolicies(policies);
    const principals = Array.from({ length: 12 }, () => randomPrincipal(rand));
    for (let i = 0; i < 1500; i++) {
      const principal = principals[Math.floor(rand() * principals.length)]!;
      const paths = REQUEST_PATHS(principal.claims.oid as string);
      const request = {
        resource: RESOURCES[Math.floor(rand() * RESOURCES.length)]!,
        action: ACTIONS[Math.floor(rand() * ACTIONS.length)]!,
        path: paths[Math.floor(rand() * paths.length)]!,
        principal,
      };
      expect({ i, ...decide(index, request) }).toEqual({ i, ...linearScan(policies, request) });
    }
  });

  it('one principal alternating between two indexes is numbered for each', () => {
    const rand = prng(42);
    const first = randomPolicies(rand, 80);
    const second = randomPolicies(rand, 80);
    const indexes: Array<[PolicyIndex, Policy[]]> = [
      [compilePolicies(first), first],
      [compilePolicies(second), second],
    ];
    const principal = randomPrincipal(rand);
    for (let i = 0; i < 400; i++) {
      const [index, policies] = indexes[i % 2]!;
      const request = {
        resource: RESOURCES[i % RESOURCES.length]!,
        action: ACTIONS[i % ACTIONS.length]!,
        path: REQUEST_PATHS(principal.claims.oid as string)[i % 15]!,
        principal,
      };
      expect(decide(index, request)).toEqual(linearScan(policies, request));
    }
  });

  it.each<[string, NonNullable<PolicyInput['principals']>]>([
    ['its only role twice', { roles: ['R'] }],
    ['two of its roles', { roles: ['R', 'S'], groups: [GUIDS[0]!] }],
    ['its group in two spellings', { groups: [GUIDS[0]!] }],
  ])('names a policy once when the caller holds %s', (_label, principals) => {
    const parsed = parsePolicy({
      id: 'a',
      effect: 'allow',
      resource: 'orders',
      actions: ['read'],
      principals,
    });
    if (!parsed.ok) throw new Error(parsed.error);
    const index = compilePolicies([parsed.value]);
    const decision = evaluatePolicies(index, {
      resource: 'orders',
      action: 'read',
      path: '/x',
      principal: {
        oid: undefined,
        tid: GUIDS[1]!,
        azp: undefined,
        roles: ['R', 'S', 'R'],
        scopes: [],
        groups: [GUIDS[0]!.toUpperCase(), GUIDS[0]!],
        claims: {},
      },
    });
    expect(decision.policies).toEqual(['a']);
  });
});
