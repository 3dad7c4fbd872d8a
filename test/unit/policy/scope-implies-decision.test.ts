/**
 * A SAS scope is a promise about requests: over random policy sets and subjects, a scope the
 * evaluator grants for a subtree means every request inside that subtree, for every granted
 * action, is allowed by the request decision at issuance time; so no scope is granted that a
 * deny reaches into (such a deny would refuse one of those requests). Paths inside the subtree
 * are drawn from the segments the policies name, claim values included, so the deny and allow
 * globs are reached.
 */
import fc from 'fast-check';
import { ACTIONS } from '../../../src/policy/actions';
import { evaluatePolicies, evaluateScope } from '../../../src/policy/evaluate';
import { parsePolicy, type Policy } from '../../../src/policy/model';
import { compilePolicies } from '../../../src/policy/policy-index';
import type { PolicySubject } from '../../../src/policy/subject';

const OIDS = ['0d5e1f3a-7b2c-4d8e-9f10-a1b2c3d4e5f6', '42'];
const GROUP = '11111111-1111-4111-8111-111111111111';
const SEGMENTS = ['customers', ...OIDS, 'archive', 'orders', 'x', 'Archive'];
const GLOBS = [
  '/**',
  '/customers/{claims.oid}/**',
  '/customers/*',
  '/customers/*/**',
  '/customers/42/**',
  '/customers/*/archive/**',
  '/**/archive',
  '/customers/{claims.oid}/orders',
  '/customers',
];

const policyDoc = fc.record({
  effect: fc.constantFrom('allow', 'allow', 'deny'),
  actions: fc.subarray([...ACTIONS, '*'], { minLength: 1 }),
  paths: fc.subarray(GLOBS, { minLength: 1, maxLength: 2 }),
  roles: fc.option(fc.subarray(['R', 'W'], { minLength: 1 }), { nil: undefined }),
  groups: fc.boolean(),
  ctry: fc.boolean(),
  requireDpop: fc.boolean(),
});

const policies = fc.array(policyDoc, { minLength: 1, maxLength: 6 }).map((docs) =>
  docs.map((d, i): Policy => {
    const parsed = parsePolicy({
      id: `p${i}`,
      effect: d.effect,
      resource: 'orders',
      actions: d.actions,
      paths: d.paths,
      ...(d.roles || d.groups
        ? { principals: { ...(d.roles ? { roles: d.roles } : {}), ...(d.groups ? { groups: [GROUP] } : {}) } }
        : {}),
      ...(d.ctry ? { conditions: [{ claim: 'ctry', operator: 'equals', value: 'NL' }] } : {}),
      ...(d.requireDpop && d.effect === 'allow' ? { requireDpop: true } : {}),
    });
    if (!parsed.ok) throw new Error(parsed.error);
    return parsed.value;
  }),
);

const subject = fc
  .record({
    oid: fc.constantFrom(...OIDS),
    roles: fc.subarray(['R', 'W']),
    inGroup: fc.boolean(),
    overage: fc.boolean(),
    ctry: fc.constantFrom(undefined, 'NL', 'DE'),
    dpopBound: fc.boolean(),
  })
  .map((s): PolicySubject => ({
    oid: s.oid,
    tid: 't',
    azp: undefined,
    roles: s.roles,
    scopes: [],
    groups: s.inGroup && !s.overage ? [GROUP] : [],
    groupsOverage: s.overage,
    dpopBound: s.dpopBound,
    claims: { oid: s.oid, ...(s.ctry === undefined ? {} : { ctry: s.ctry }) },
  }));

const segments = (max: number) => fc.array(fc.constantFrom(...SEGMENTS), { maxLength: max });

describe('property: a granted SAS scope implies the request decision on its whole subtree', () => {
  it('every request inside a granted subtree, for every granted action, is allowed', () => {
    let granted = 0;
    fc.assert(
      fc.property(
        policies,
        subject,
        segments(3),
        fc.subarray([...ACTIONS], { minLength: 1 }),
        fc.array(segments(3), { minLength: 1, maxLength: 8 }),
        (docs, who, prefix, actions, suffixes) => {
          const index = compilePolicies(docs);
          const scope = evaluateScope(index, {
            resource: 'orders',
            actions,
            pathPrefix: prefix,
            principal: who,
          });
          if (!scope.allowed) return;
          granted++;
          for (const suffix of suffixes) {
            for (const action of actions) {
              const path = [...prefix, ...suffix];
              const decision = evaluatePolicies(index, { resource: 'orders', action, path, principal: who });
              expect({ path, action, allowed: decision.allowed, by: decision.policies }).toEqual({
                path,
                action,
                allowed: true,
                by: expect.anything(),
              });
            }
          }
        },
      ),
      { numRuns: 5000 },
    );
    // The property is not vacuous: thousands of runs grant a scope.
    expect(granted).toBeGreaterThan(100);
  });
});
