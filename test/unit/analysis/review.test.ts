/**
 * The review's suggestion, proven on its parts: a narrowed glob matches (or covers) every use it
 * was made from and nothing its original does not; and over random policy sets and recorded
 * traffic, the suggestion the review shows allows every request the current set allows and, by
 * check-access, nothing more.
 */
import fc from 'fast-check';
import { auditInputsOf, type AuditRecord } from '../../../src/audit/audit-record';
import { decisionSnapshot, Replayer } from '../../../src/analysis/replay';
import { narrowGlob, review } from '../../../src/analysis/review';
import { authorize } from '../../../src/decision/authorize';
import { ACTIONS, type Action } from '../../../src/policy/actions';
import { parsePolicy, type Policy } from '../../../src/policy/model';
import { compilePathGlob, coversSubtree, matchPath } from '../../../src/policy/path-glob';
import { subjectFromClaims } from '../../../src/policy/subject';

const VALUES = ['a', 'b', 'c'];
const OID = '0d5e1f3a-7b2c-4d8e-9f10-a1b2c3d4e5f6';
const CLAIMS = { oid: OID };

/** A glob of literals, `*`, `{claims.oid}` and at most a trailing `**`. */
const globArb = fc
  .tuple(
    fc.array(fc.oneof(fc.constantFrom(...VALUES), fc.constant('*'), fc.constant('{claims.oid}')), {
      maxLength: 3,
    }),
    fc.boolean(),
  )
  .map(([segments, star]) => `/${[...segments, ...(star ? ['**'] : [])].join('/')}`.replace(/^\/$/, '/'));

/** A path the glob matches: each wildcard filled from a small alphabet. */
function pathArb(source: string) {
  const tokens = source === '/' ? [] : source.slice(1).split('/');
  return fc
    .tuple(
      ...tokens.map((t) =>
        t === '*'
          ? fc.constantFrom(...VALUES).map((v) => [v])
          : t === '**'
            ? fc.array(fc.constantFrom(...VALUES), { maxLength: 2 })
            : t === '{claims.oid}'
              ? fc.constant([OID])
              : fc.constant([t]),
      ),
      fc.boolean(),
    )
    .map((parts) => ({
      segments: parts.slice(0, -1).flat() as string[],
      subtree: parts[parts.length - 1] === true,
    }));
}

const probeArb = fc.array(fc.constantFrom(...VALUES, OID, 'd'), { maxLength: 5 });

describe('narrowGlob', () => {
  it('matches every use it was made from, and nothing its original does not', () => {
    fc.assert(
      fc.property(
        globArb.chain((source) =>
          fc.tuple(
            fc.constant(source),
            fc.array(pathArb(source), { minLength: 1, maxLength: 4 }),
            fc.array(probeArb, { maxLength: 20 }),
          ),
        ),
        ([source, candidates, probes]) => {
          const glob = compilePathGlob(source);
          // A subtree use is one the glob covers (a token exchange); drop those it does not.
          const uses = candidates.filter((u) =>
            u.subtree ? coversSubtree(glob, u.segments, CLAIMS) : matchPath(glob, u.segments, CLAIMS),
          );
          fc.pre(uses.length > 0);
          const narrowed = compilePathGlob(narrowGlob(glob, uses));
          for (const use of uses) {
            const ok = use.subtree
              ? coversSubtree(narrowed, use.segments, CLAIMS)
              : matchPath(narrowed, use.segments, CLAIMS);
            expect([use, ok]).toEqual([use, true]);
          }
          for (const probe of probes) {
            if (matchPath(narrowed, probe, CLAIMS)) expect(matchPath(glob, probe, CLAIMS)).toBe(true);
          }
        },
      ),
      { numRuns: 3000 },
    );
  });

  it.each([
    [
      '/customers/**',
      [
        ['customers', '42', 'orders'],
        ['customers', '43', 'orders'],
      ],
      false,
      '/customers/*/orders',
    ],
    [
      '/customers/**',
      [
        ['customers', '42', 'orders'],
        ['customers', '42'],
      ],
      false,
      '/customers/42/**',
    ],
    ['/customers/**', [['customers', '42']], true, '/customers/42/**'],
    ['/customers/*/orders', [['customers', '42', 'orders']], false, '/customers/42/orders'],
    ['/customers/{claims.oid}/**', [['customers', OID, 'orders']], false, '/customers/{claims.oid}/orders'],
    ['/**/orders', [['customers', '42', 'orders']], false, '/**/orders'],
  ])('narrows %s used by %j (subtree %s) to %s', (source, paths, subtree, expected) => {
    const uses = paths.map((segments) => ({ segments, subtree }));
    expect(narrowGlob(compilePathGlob(source), uses)).toBe(expected);
  });
});

/** Policies of one resource from a small vocabulary, so that random sets overlap. */
const policyArb = fc.record({
  effect: fc.constantFrom('allow', 'allow', 'deny'),
  actions: fc.subarray([...ACTIONS, '*'], { minLength: 1 }),
  paths: fc.array(globArb, { minLength: 1, maxLength: 2 }),
  roles: fc.option(fc.subarray(['R1', 'R2'], { minLength: 1 }), { nil: undefined }),
});

interface Draft {
  readonly effect: string;
  readonly actions: readonly string[];
  readonly paths: readonly string[];
  readonly roles?: readonly string[] | undefined;
}

function policiesOf(drafts: readonly Draft[]): Policy[] {
  return drafts.map((d, i) => {
    const parsed = parsePolicy({
      id: `p${i}`,
      effect: d.effect,
      resource: 'orders',
      actions: d.actions,
      paths: d.paths,
      ...(d.roles ? { principals: { roles: d.roles } } : {}),
    });
    if (!parsed.ok) throw new Error(parsed.error);
    return parsed.value;
  });
}

/** A request as the gateway would have recorded it under `policies`. */
function recorded(
  policies: Policy[],
  request: { action: Action; path: string[]; roles: string[] },
  n: number,
): AuditRecord {
  const subject = subjectFromClaims({ oid: OID, tid: 't', roles: request.roles, scp: 'x' });
  const snapshot = decisionSnapshot(policies, [{ name: 'orders' }]);
  const decision = authorize(snapshot, subject, {
    resource: 'orders',
    action: request.action,
    path: request.path,
  });
  return {
    id: `r${n}`,
    pk: '',
    time: new Date(n * 1000).toISOString(),
    ts: n * 1000,
    correlationId: `c${n}`,
    operation: 'authorize',
    oid: OID,
    tid: 't',
    azp: 'app',
    credential: 'entra',
    resource: 'orders',
    action: request.action,
    path: `/${request.path.join('/')}`,
    decision: decision.decision,
    policies: decision.policies,
    reasonCode: decision.reasonCode,
    status: 200,
    latencyMs: 0,
    inputs: auditInputsOf(subject, snapshot.index.claimsRead, decision, false),
  };
}

describe('the review suggestion', () => {
  it('allows every request the current set allows, and (by check-access) nothing more', () => {
    const requestArb = fc.record({
      action: fc.constantFrom(...ACTIONS),
      path: fc.array(fc.constantFrom(...VALUES, OID), { maxLength: 3 }),
      roles: fc.subarray(['R1', 'R2']),
    });
    fc.assert(
      fc.property(
        fc.array(policyArb, { minLength: 1, maxLength: 4 }),
        fc.array(requestArb, { minLength: 1, maxLength: 25 }),
        (drafts, requests) => {
          const policies = policiesOf(drafts);
          const records = requests.map((r, i) => recorded(policies, r, i));
          const report = review({
            records,
            policies,
            resources: [{ name: 'orders' }],
            from: new Date(0).toISOString(),
            to: new Date(60_000).toISOString(),
          });
          expect(report.suggestion.withheld).toBeUndefined();
          const current = new Replayer(decisionSnapshot(policies, [{ name: 'orders' }]));
          const suggested = new Replayer(decisionSnapshot(report.suggestion.policies!, [{ name: 'orders' }]));
          for (const record of records) {
            const before = current.replay(record);
            const after = suggested.replay(record);
            if (before.kind === 'replayed' && before.now.allowed)
              expect([record.action, record.path, after.kind === 'replayed' && after.now.allowed]).toEqual([
                record.action,
                record.path,
                true,
              ]);
          }
          expect(report.suggestion.checks.newAccess).toBe(0);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('replay', () => {
  const policies = policiesOf([{ effect: 'allow', actions: ['read'], paths: ['/**'], roles: ['R1'] }]);
  const replayer = new Replayer(decisionSnapshot(policies, [{ name: 'orders' }]));
  const base = recorded(policies, { action: 'read', path: ['a'], roles: ['R1'] }, 1);

  it.each<[string, Partial<AuditRecord>, unknown]>([
    ['an admin write', { operation: 'admin', inputs: null }, { kind: 'skipped', reason: 'not-a-decision' }],
    ['a what-if', { reasonCode: 'WHAT_IF:ALLOWED', inputs: null }, { kind: 'skipped', reason: 'what-if' }],
    [
      'a refusal before deciding',
      { inputs: null, reasonCode: 'ERR_TOKEN_EXPIRED', status: 401 },
      { kind: 'skipped', reason: 'not-a-decision' },
    ],
    [
      'a record from before inputs were kept',
      { inputs: undefined },
      { kind: 'not-replayable', reason: 'no-inputs' },
    ],
    ['a SAS call', { inputs: null, credential: 'sas' }, { kind: 'not-replayable', reason: 'sas-grant' }],
    ['a record with a bad action', { action: 'fly' }, { kind: 'not-replayable', reason: 'malformed' }],
    ['a record without a path', { path: null }, { kind: 'not-replayable', reason: 'malformed' }],
  ])('classifies %s', (_case, change, expected) => {
    expect(replayer.replay({ ...base, ...change })).toEqual(expected);
  });

  it('says a record is not replayable when the candidate tests groups and the record capped them', () => {
    const groups = policiesOf([{ effect: 'allow', actions: ['read'], paths: ['/**'] }]).map((p) => ({
      ...p,
      principals: { groups: ['g'] },
    }));
    const capped = { ...base, inputs: { ...base.inputs!, groups: undefined, groupsCapped: true as const } };
    expect(new Replayer(decisionSnapshot(groups, [{ name: 'orders' }])).replay(capped)).toEqual({
      kind: 'not-replayable',
      reason: 'groups-capped',
    });
  });
});
