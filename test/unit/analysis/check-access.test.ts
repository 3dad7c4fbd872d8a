/**
 * The policy analyzer against the gateway's own decision, over thousands of random small policy
 * sets: every example it reports decides as it claims (allowed under the candidate by the policies
 * it names, refused under the baseline); and an independent random search over requests built from
 * the sets' literals, fresh values and case variants finds no request of a kind it did not report
 * (new access, a refuted assertion, a "dead" or "redundant" policy that does something alone).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { parseDesiredState } from '../../../src/admin/desired-state';
import { parseAssertions } from '../../../src/analysis/assertions';
import { checkAccess, type AccessAssertion, type AccessExample } from '../../../src/analysis/check-access';
import {
  AnalysisTooLargeError,
  forEachRequestClass,
  NotAnalyzableError,
  pathClasses,
} from '../../../src/analysis/request-classes';
import { ACTIONS, type Action } from '../../../src/policy/actions';
import { evaluatePolicies } from '../../../src/policy/evaluate';
import { parsePolicy, type Policy } from '../../../src/policy/model';
import { compilePathGlob, matchPath } from '../../../src/policy/path-glob';
import { compilePolicies, type PolicyIndex } from '../../../src/policy/policy-index';
import { subjectFromClaims } from '../../../src/policy/subject';

const ROLES = ['R1', 'R2'];
const GROUPS = ['aaaaaaaa-0000-4000-8000-000000000001'];
const USERS = ['bbbbbbbb-0000-4000-8000-000000000001'];
const RESOURCES = ['orders', 'stock'];
const GLOBS = ['/**', '/a/**', '/a/*', '/{claims.oid}/**', '/**/b', '/A/b'];
const SEGMENTS = ['a', 'A', 'b', 'B', 'c', USERS[0]!, USERS[0]!.toUpperCase(), 'x'];

const policyDoc = fc.record({
  effect: fc.constantFrom('allow', 'allow', 'deny'),
  resource: fc.constantFrom(...RESOURCES, '*'),
  actions: fc.subarray([...ACTIONS, '*'], { minLength: 1, maxLength: 2 }),
  paths: fc.subarray(GLOBS, { minLength: 1, maxLength: 2 }),
  roles: fc.option(fc.subarray(ROLES, { minLength: 1, maxLength: 2 }), { nil: undefined }),
  groups: fc.option(fc.subarray(GROUPS, { minLength: 1 }), { nil: undefined }),
  users: fc.option(fc.subarray(USERS, { minLength: 1 }), { nil: undefined }),
  condition: fc.option(
    fc.constantFrom(
      { claim: 'ctry', operator: 'equals', value: 'NL' },
      { claim: 'ctry', operator: 'notIn', values: ['NL'] },
      { claim: 'ctry', operator: 'exists' },
      { claim: 'idtyp', operator: 'equals', value: 'app' },
      { claim: 'roles', operator: 'in', values: ['R2'] },
    ),
    { nil: undefined },
  ),
  requireDpop: fc.boolean(),
  enabled: fc.constantFrom(true, true, true, true, false),
});

const policySet = (prefix: string) =>
  fc.array(policyDoc, { minLength: 0, maxLength: 3 }).map((docs) =>
    docs.map((d, i): Policy => {
      const principals = {
        ...(d.roles ? { roles: d.roles } : {}),
        ...(d.groups ? { groups: d.groups } : {}),
        ...(d.users ? { users: d.users } : {}),
      };
      const parsed = parsePolicy({
        id: `${prefix}${i}`,
        effect: d.effect,
        resource: d.resource,
        actions: d.actions,
        paths: d.paths,
        ...(Object.keys(principals).length > 0 ? { principals } : {}),
        ...(d.condition ? { conditions: [d.condition] } : {}),
        ...(d.requireDpop && d.effect === 'allow' ? { requireDpop: true } : {}),
        enabled: d.enabled,
      });
      if (!parsed.ok) throw new Error(parsed.error);
      return parsed.value;
    }),
  );

const ALLOW_ONLY: AccessAssertion['allowOnly'][] = [
  { roles: ['R1'] },
  { roles: ['R1', 'R2'] },
  { groups: [GROUPS[0]!] },
  { users: [USERS[0]!] },
];

const assertion = fc.record({
  resource: fc.constantFrom(...RESOURCES),
  actions: fc.subarray([...ACTIONS, '*'] as const, { minLength: 1, maxLength: 2 }),
  paths: fc.subarray(GLOBS, { minLength: 1, maxLength: 2 }),
  allowOnly: fc.constantFrom(...ALLOW_ONLY),
});

/** A random request, built independently of the analyzer: literals, other values, case variants. */
const randomRequest = fc.record({
  resource: fc.constantFrom(...RESOURCES, 'elsewhere'),
  action: fc.constantFrom(...ACTIONS),
  path: fc.array(fc.constantFrom(...SEGMENTS), { maxLength: 4 }),
  roles: fc.subarray([...ROLES, 'other-role']),
  scp: fc.constantFrom(undefined, 'access_as_user'),
  groups: fc.oneof(
    fc.subarray([...GROUPS, 'cccccccc-0000-4000-8000-000000000009']),
    fc.constant('overage' as const),
  ),
  oid: fc.constantFrom(...USERS, USERS[0]!.toUpperCase(), 'a', 'A', 'b', 'someone'),
  idtyp: fc.constantFrom('app', 'user'),
  ctry: fc.constantFrom(undefined, 'NL', 'DE', 'FR', ['NL', 'DE'], ['FR']),
  dpopBound: fc.boolean(),
});
type RandomRequest = typeof randomRequest extends fc.Arbitrary<infer T> ? T : never;

function claimsOf(r: RandomRequest): Record<string, unknown> {
  return {
    oid: r.oid,
    tid: 't',
    azp: 'app',
    idtyp: r.idtyp,
    ...(r.roles.length > 0 ? { roles: r.roles } : {}),
    ...(r.scp ? { scp: r.scp } : {}),
    ...(r.groups === 'overage' ? { hasgroups: true } : r.groups.length > 0 ? { groups: r.groups } : {}),
    ...(r.ctry === undefined ? {} : { ctry: r.ctry }),
  };
}

function decide(
  index: PolicyIndex,
  request: { resource: string; action: Action; path: readonly string[] },
  claims: Record<string, unknown>,
  dpopBound: boolean,
) {
  const subject = subjectFromClaims(claims);
  return evaluatePolicies(index, {
    resource: request.resource,
    action: request.action,
    path: request.path,
    principal: dpopBound ? { ...subject, dpopBound: true } : subject,
  });
}

/** An example replays through the real decision as reported. */
function replay(example: AccessExample, index: PolicyIndex) {
  const path = example.path === '/' ? [] : example.path.slice(1).split('/');
  return decide(index, { ...example, path }, { ...example.principal }, example.dpop === true);
}

/** Who an assertion lets in, as an allow policy: the gateway's own principal test decides. */
function insideOf(a: AccessAssertion): PolicyIndex {
  return compilePolicies([
    {
      id: 'in',
      effect: 'allow',
      resource: '*',
      actions: ['*'],
      paths: ['/**'],
      principals: a.allowOnly,
      enabled: true,
    },
  ]);
}

const kindOf = (resource: string, action: string, policies: readonly string[]) =>
  `${resource} ${action} ${policies.join(',')}`;

describe('gateway check-access: the analyzer against the real decision (differential)', () => {
  it('examples replay as claimed, and random search finds no unreported kind of new access, assertion breach, or living dead policy', () => {
    let findings = 0;
    let proven = 0;
    fc.assert(
      fc.property(
        policySet('c'),
        policySet('b'),
        fc.array(assertion, { maxLength: 2 }),
        fc.array(randomRequest, { minLength: 200, maxLength: 200 }),
        (candidate, baseline, rawAssertions, requests) => {
          const assertions: AccessAssertion[] = rawAssertions.map((a, i) => ({ id: `a${i}`, ...a }));
          const report = checkAccess({ candidate, baseline, assertions });
          const c = compilePolicies(candidate);
          const b = compilePolicies(baseline);
          for (const e of report.newAccess) {
            const now = replay(e, c);
            expect({ example: e, allowed: now.allowed, by: now.policies }).toEqual({
              example: e,
              allowed: true,
              by: e.allowedBy,
            });
            expect({ example: e, baseline: replay(e, b).allowed }).toEqual({ example: e, baseline: false });
          }
          findings += report.newAccess.length;
          const reported = new Set(report.newAccess.map((e) => kindOf(e.resource, e.action, e.allowedBy)));
          const refuted = new Map(report.assertions.filter((a) => !a.proven).map((a) => [a.id, a.example!]));
          proven += report.assertions.filter((a) => a.proven).length;
          for (const [id, e] of refuted) {
            const a = assertions.find((x) => x.id === id)!;
            expect(replay(e, c).allowed).toBe(true);
            const inside = insideOf(a);
            expect(replay(e, inside).allowed).toBe(false);
          }
          const dead = new Map(report.deadPolicies.map((d) => [d.id, d]));
          const named = new Set(
            [...candidate, ...baseline].map((p) => p.resource).concat(assertions.map((a) => a.resource)),
          );
          const redundant = new Set(report.redundantPolicies.map((r) => r.id));
          for (const r of requests) {
            const claims = claimsOf(r);
            if (r.roles.length === 0 && !r.scp) continue; // never reaches a policy
            const now = decide(c, r, claims, r.dpopBound);
            // A resource no policy names is one kind: the analyzer's `unnamed-resource`.
            const resource = named.has(r.resource) ? r.resource : 'unnamed-resource';
            const kind = kindOf(resource, r.action, now.policies);
            if (now.allowed && !decide(b, r, claims, r.dpopBound).allowed)
              expect({ request: r, kind, reported: reported.has(kind) }).toEqual({
                request: r,
                kind,
                reported: true,
              });
            if (now.allowed) {
              for (const id of now.policies) {
                expect({ id, dead: dead.has(id) }).toEqual({ id, dead: false });
                if (now.policies.length === 1)
                  expect({ id, redundant: redundant.has(id) }).toEqual({ id, redundant: false });
              }
              for (const a of assertions) {
                if (
                  refuted.has(a.id) ||
                  a.resource !== r.resource ||
                  !(a.actions.includes('*') || a.actions.includes(r.action))
                )
                  continue;
                if (!a.paths.some((g) => matchPath(compilePathGlob(g), r.path, claims))) continue;
                const inside = insideOf(a);
                expect({
                  assertion: a,
                  request: r,
                  inside: decide(inside, r, claims, false).allowed,
                }).toEqual({ assertion: a, request: r, inside: true });
              }
            } else if (now.reasonCode === 'EXPLICIT_DENY') {
              for (const id of now.policies)
                expect({ id, dead: dead.get(id)?.reason }).toEqual({ id, dead: undefined });
            }
          }
        },
      ),
      { numRuns: 1000 },
    );
    // Not vacuous: the sets give findings and proofs alike.
    expect(findings).toBeGreaterThan(300);
    expect(proven).toBeGreaterThan(100);
  }, 120_000);

  it('the path automaton agrees with the gateway matcher on every path up to length 4', () => {
    const alphabet = ['a', 'A', 'b', 'x', 'u1', 'U1'];
    fc.assert(
      fc.property(
        fc.subarray(
          GLOBS.map((g) => g.replace('{claims.oid}', '{claims.oid}')),
          { minLength: 1, maxLength: 3 },
        ),
        fc.boolean(),
        (sources, insensitive) => {
          const globs = sources.map((g) => compilePathGlob(g, { caseInsensitive: insensitive }));
          const claims = { oid: 'u1' };
          const witnesses = pathClasses(globs, alphabet, claims, 10_000);
          const vector = (path: readonly string[]) => globs.map((g) => matchPath(g, path, claims)).join();
          const found = new Set(witnesses.map(vector));
          // Every vector some path shows, the walk found a witness of.
          const all = (n: number): string[][] =>
            n === 0 ? [[]] : [[], ...all(n - 1).flatMap((p) => alphabet.map((s) => [...p, s]))];
          for (const path of all(4))
            expect({ path, found: found.has(vector(path)) }).toEqual({ path, found: true });
        },
      ),
      { numRuns: 40 },
    );
  });

  it('refuses past its bound, saying how large, and never answers "proven" instead', () => {
    const many = Array.from({ length: 24 }, (_, i) => {
      const parsed = parsePolicy({
        id: `p${i}`,
        effect: 'allow',
        resource: 'orders',
        actions: ['read'],
        principals: { roles: [`Role${i}`] },
      });
      if (!parsed.ok) throw new Error(parsed.error);
      return parsed.value;
    });
    expect(() => checkAccess({ candidate: many, baseline: [] })).toThrow(AnalysisTooLargeError);
    expect(() => checkAccess({ candidate: many, baseline: [] })).toThrow(
      /too large to analyze exactly: the number of caller kinds for orders read is [\d,]+ \(the bound is 2,000,000\)/,
    );
  });

  it('refuses a condition it does not model, naming the policy', () => {
    const parsed = parsePolicy({
      id: 'odd',
      effect: 'deny',
      resource: 'orders',
      actions: ['read'],
      conditions: [{ claim: 'hasgroups', operator: 'exists' }],
    });
    if (!parsed.ok) throw new Error(parsed.error);
    expect(() => checkAccess({ candidate: [parsed.value] })).toThrow(NotAnalyzableError);
    expect(() =>
      forEachRequestClass([parsed.value], { resource: 'orders', action: 'read' }, () => undefined),
    ).toThrow(/policy odd: a condition on "hasgroups" is not analyzed/);
  });
});

describe('the demo policies and their assertions (samples/)', () => {
  it('keep every assertion, grant nothing new against themselves, and have no dead or redundant policy', () => {
    const root = join(__dirname, '../../..');
    const demo = parseDesiredState(readFileSync(join(root, 'samples/demo-policies.yaml'), 'utf8'), 'demo');
    const policies = demo.policies.map((doc) => {
      const parsed = parsePolicy(doc);
      if (!parsed.ok) throw new Error(parsed.error);
      return parsed.value;
    });
    const assertions = parseAssertions(
      readFileSync(join(root, 'samples/demo-assertions.yaml'), 'utf8'),
      'assertions',
    );
    if (typeof assertions === 'string') throw new Error(assertions);
    const report = checkAccess({ candidate: policies, baseline: policies, assertions });
    expect(report.newAccess).toEqual([]);
    expect(report.assertions.every((a) => a.proven)).toBe(true);
    expect(report.assertions).toHaveLength(4);
    expect([...report.deadPolicies, ...report.redundantPolicies]).toEqual([]);
  });
});
