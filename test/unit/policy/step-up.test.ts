/**
 * Step-up in the one decision (src/decision/authorize.ts): a request is `AUTH_CONTEXT_REQUIRED`
 * exactly when it is denied as it is and allowed with the named context added to the token's
 * `acrs`; and `authContext` means "acrs holds it" everywhere (the evaluator, check-access). The
 * property below checks the first over random policy sets against that definition, asked of the
 * evaluator directly.
 */
import fc from 'fast-check';
import { authContextClaims, answersClaimsChallenges } from '../../../src/auth/entra/claims-challenge';
import { checkAccess } from '../../../src/analysis/check-access';
import { decisionSnapshot } from '../../../src/analysis/replay';
import { authorize } from '../../../src/decision/authorize';
import { parsePolicy, type Policy } from '../../../src/policy/model';
import { subjectFromClaims } from '../../../src/policy/subject';
import { parseTokenCliArgs } from '../../../src/host/local/token-cli';

function policy(doc: Record<string, unknown>): Policy {
  const parsed = parsePolicy(doc);
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.value;
}

const subject = (claims: Record<string, unknown> = {}) =>
  subjectFromClaims({ oid: 'u', tid: 't', roles: ['R'], scp: 'x', ...claims });

describe('the step-up decision', () => {
  const policies = [
    policy({
      id: 'plain',
      effect: 'allow',
      resource: 'orders',
      actions: ['read'],
      paths: ['/open/**'],
      principals: { roles: ['R'] },
    }),
    policy({
      id: 'mfa',
      effect: 'allow',
      resource: 'orders',
      actions: ['read'],
      paths: ['/mfa/**'],
      principals: { roles: ['R'] },
      authContext: 'c2',
    }),
    policy({
      id: 'either',
      effect: 'allow',
      resource: 'orders',
      actions: ['read'],
      paths: ['/either/**'],
      authContext: 'c3',
    }),
    policy({
      id: 'either-too',
      effect: 'allow',
      resource: 'orders',
      actions: ['read'],
      paths: ['/either/**'],
      authContext: 'c4',
    }),
    policy({
      id: 'no-secret',
      effect: 'deny',
      resource: 'orders',
      actions: ['*'],
      paths: ['/mfa/secret/**'],
    }),
    policy({ id: 'vault', effect: 'allow', resource: 'vault', actions: ['read'], authContext: 'c5' }),
  ];
  const snapshot = decisionSnapshot(policies, [{ name: 'orders' }, { name: 'vault', authContext: 'c1' }]);
  const ask = (resource: string, path: string, claims: Record<string, unknown> = {}) =>
    authorize(snapshot, subject(claims), { resource, action: 'read', path });

  it.each<[string, string, Record<string, unknown>, string, string | undefined]>([
    ['orders', '/open/1', {}, 'ALLOWED', undefined],
    ['orders', '/mfa/1', {}, 'AUTH_CONTEXT_REQUIRED', 'c2'],
    ['orders', '/mfa/1', { acrs: ['c2'] }, 'ALLOWED', undefined],
    ['orders', '/mfa/1', { acrs: ['c1', 'c2'] }, 'ALLOWED', undefined],
    // A deny wins whatever the context: no prompt.
    ['orders', '/mfa/secret/1', {}, 'EXPLICIT_DENY', undefined],
    // No allow at all: no prompt.
    ['orders', '/other/1', {}, 'NO_MATCHING_POLICY', undefined],
    // Two allows with different contexts: the first in policy order is named.
    ['orders', '/either/1', {}, 'AUTH_CONTEXT_REQUIRED', 'c3'],
    ['orders', '/either/1', { acrs: ['c4'] }, 'ALLOWED', undefined],
    // The resource's context first, then the policy's.
    ['vault', '/x', {}, 'AUTH_CONTEXT_REQUIRED', 'c1'],
    ['vault', '/x', { acrs: ['c1'] }, 'AUTH_CONTEXT_REQUIRED', 'c5'],
    ['vault', '/x', { acrs: ['c1', 'c5'] }, 'ALLOWED', undefined],
    // A wrong-typed acrs is no context.
    ['orders', '/mfa/1', { acrs: 'c2' }, 'AUTH_CONTEXT_REQUIRED', 'c2'],
    ['orders', '/mfa/1', { acrs: [2] }, 'AUTH_CONTEXT_REQUIRED', 'c2'],
  ])('%s %s for %j: %s %s', (resource, path, claims, reasonCode, context) => {
    const decision = ask(resource, path, claims);
    expect([decision.reasonCode, decision.authContext]).toEqual([reasonCode, context]);
    expect(decision.allowed).toBe(reasonCode === 'ALLOWED');
  });

  it('names the policies that would allow it once the token lists the context', () => {
    expect(ask('orders', '/mfa/1').policies).toEqual(['mfa']);
    expect(ask('vault', '/x', { acrs: ['c1'] }).policies).toEqual(['vault']);
  });

  it('a SAS caller is held to its grant: no step-up on its calls', () => {
    const decision = authorize(
      snapshot,
      { ...subject(), sas: { sr: 'vault', sp: ['read'], path: [], policies: ['vault'] } as never },
      {
        resource: 'vault',
        action: 'read',
        path: '/x',
      },
    );
    expect(decision.reasonCode).not.toBe('AUTH_CONTEXT_REQUIRED');
  });

  it('is exactly "denied now, allowed with the named context" over random sets (2,000 runs)', () => {
    const contexts = ['c1', 'c2', 'c3'];
    const policyArb = fc.record({
      effect: fc.constantFrom('allow', 'allow', 'deny'),
      path: fc.constantFrom('/**', '/a/**', '/b/**'),
      role: fc.constantFrom('R', 'S'),
      context: fc.option(fc.constantFrom(...contexts), { nil: undefined }),
    });
    fc.assert(
      fc.property(
        fc.array(policyArb, { maxLength: 5 }),
        fc.option(fc.constantFrom(...contexts), { nil: undefined }),
        fc.subarray(contexts),
        fc.constantFrom('/a/1', '/b/1', '/c/1'),
        (drafts, resourceContext, acrs, path) => {
          const set = drafts.map((d, i) =>
            policy({
              id: `p${i}`,
              effect: d.effect,
              resource: 'r',
              actions: ['read'],
              paths: [d.path],
              principals: { roles: [d.role] },
              ...(d.effect === 'allow' && d.context ? { authContext: d.context } : {}),
            }),
          );
          const snap = decisionSnapshot(set, [
            { name: 'r', ...(resourceContext ? { authContext: resourceContext } : {}) },
          ]);
          const decision = authorize(snap, subject({ acrs }), { resource: 'r', action: 'read', path });
          if (decision.reasonCode !== 'AUTH_CONTEXT_REQUIRED') {
            // Not a step-up: no context added (with the resource's) turns a deny into an allow.
            if (!decision.allowed) {
              for (const extra of contexts) {
                const acrsThen = [...acrs, extra, ...(resourceContext ? [resourceContext] : [])];
                const again = authorize(snap, subject({ acrs: acrsThen }), {
                  resource: 'r',
                  action: 'read',
                  path,
                });
                expect([acrsThen, again.allowed]).toEqual([acrsThen, false]);
              }
            }
            return;
          }
          expect(acrs).not.toContain(decision.authContext);
          // Denied now; allowed once the token lists the named context (and the resource's).
          const needed = [decision.authContext!, ...(resourceContext ? [resourceContext] : [])];
          const full = [...acrs, ...needed, ...contexts];
          const allowed = authorize(snap, subject({ acrs: full }), { resource: 'r', action: 'read', path });
          expect(allowed.allowed).toBe(true);
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('authContext means "acrs holds it" to check-access too', () => {
  const base = {
    id: 'p',
    effect: 'allow',
    resource: 'orders',
    actions: ['read'],
    principals: { roles: ['R'] },
  };

  it('adding a context grants no new access; removing one does, with an example token without it', () => {
    const withContext = [policy({ ...base, authContext: 'c1' })];
    const without = [policy(base)];
    expect(checkAccess({ candidate: withContext, baseline: without }).newAccess).toEqual([]);
    const widened = checkAccess({ candidate: without, baseline: withContext }).newAccess;
    expect(widened).toHaveLength(1);
    const acrs = widened[0]!.principal.acrs;
    expect(Array.isArray(acrs) && acrs.includes('c1')).toBe(false);
  });
});

describe('the claims challenge', () => {
  it("is Microsoft's documented value for c1, and standard base64 (with padding) for longer ids", () => {
    expect(authContextClaims('c1')).toBe(
      'eyJhY2Nlc3NfdG9rZW4iOnsiYWNycyI6eyJlc3NlbnRpYWwiOnRydWUsInZhbHVlIjoiYzEifX19',
    );
    expect(Buffer.from(authContextClaims('c42'), 'base64').toString()).toBe(
      '{"access_token":{"acrs":{"essential":true,"value":"c42"}}}',
    );
    expect(authContextClaims('c42')).toMatch(/^[A-Za-z0-9+/]+=*$/);
  });

  it.each([
    [{ xms_cc: ['cp1'] }, true],
    [{ xms_cc: ['cp2', 'cp1'] }, true],
    [{ xms_cc: 'cp1' }, false],
    [{ xms_cc: ['CP1'] }, false],
    [{}, false],
  ])('a token with %j answers claims challenges: %s', (claims, expected) => {
    expect(answersClaimsChallenges(claims)).toBe(expected);
  });
});

describe('npm run token -- --acrs --cc', () => {
  it('puts the contexts in acrs and the capabilities in xms_cc', () => {
    expect(parseTokenCliArgs(['--acrs', 'c1', '--acrs', 'c2', '--cc', 'cp1'])).toMatchObject({
      claims: { acrs: ['c1', 'c2'], xms_cc: ['cp1'] },
    });
  });

  it('refuses a context that is not c1 to c99', () => {
    expect(() => parseTokenCliArgs(['--acrs', 'mfa'])).toThrow('--acrs: expected c1 to c99, not "mfa"');
  });
});
