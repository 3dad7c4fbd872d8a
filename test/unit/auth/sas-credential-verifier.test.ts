import { ManualClock } from '../../../src/clock';
import type { ErrorCode } from '../../../src/errors';
import { compilePolicies } from '../../../src/policy/policy-index';
import { parsePolicy } from '../../../src/policy/model';
import type { PolicySnapshot } from '../../../src/state/policy-state';
import { createSasToken } from '../../../src/sas/issue-sas-token';
import { SasCredentialVerifier, VERIFIED_CACHE_SIZE } from '../../../src/auth/sas-credential-verifier';
import { HmacKeyRing } from '../../../src/sas/hmac-key-ring';
import { codeOfCall } from '../../helpers/errors';

const keys = new HmacKeyRing([{ name: 'k1', secret: Buffer.alloc(32, 1) }]);
const NOW = 1_767_225_600;
const clock = new ManualClock(NOW * 1000);
const policy = (id: string, enabled = true) => {
  const parsed = parsePolicy({ id, effect: 'allow', resource: 'orders', actions: ['read'], enabled });
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.value;
};

/** The version tag the tokens below were issued under (`spv`). */
const V1 = 'v1v1v1v1v1v';

function state(
  options: {
    loaded?: boolean;
    revoked?: boolean;
    policies?: ReturnType<typeof policy>[];
    versions?: Record<string, string>;
  } = {},
) {
  const snapshot: PolicySnapshot = {
    index: compilePolicies(
      options.policies ?? [policy('p1')],
      new Map(Object.entries(options.versions ?? { p1: V1, p2: V1 })),
    ),
    resources: new Map(),
    version: 1,
  };
  return {
    snapshot: () => snapshot,
    revocations: {
      loaded: options.loaded ?? true,
      match: () => (options.revoked ? ({ by: 'sid' } as const) : undefined),
    },
  };
}

const { token } = createSasToken(
  {
    resource: 'orders',
    pathPrefix: ['customers', '42'],
    actions: ['read'],
    policies: ['p1'],
    policyVersions: [V1],
    tid: '9f1c2c3e-0d1a-4b7e-9c55-2f0c6d1e7a01',
    oid: 'user-1',
    azp: 'app-1',
    startsAt: NOW,
    lifetimeSeconds: 300,
  },
  keys,
);

describe('SasCredentialVerifier', () => {
  it.each<[string, ReturnType<typeof state>, ErrorCode | 'ok']>([
    ['valid', state(), 'ok'],
    ['revoked', state({ revoked: true }), 'ERR_SAS_REVOKED'],
    ['granting policy disabled', state({ policies: [policy('p1', false)] }), 'ERR_SAS_REVOKED'],
    ['granting policy deleted', state({ policies: [policy('p2')] }), 'ERR_SAS_REVOKED'],
    [
      'granting policy written since (another version)',
      state({ versions: { p1: 'v2v2v2v2v2v' } }),
      'ERR_SAS_REVOKED',
    ],
    ['granting policy compiled without a version', state({ versions: {} }), 'ERR_SAS_REVOKED'],
    ['revocations never loaded: fail closed', state({ loaded: false }), 'ERR_POLICY_STORE_UNAVAILABLE'],
  ])('%s', (_name, fake, code) => {
    const verifier = new SasCredentialVerifier({ keys, clock, skewSeconds: 60, state: fake });
    expect(codeOfCall(() => verifier.verifySync(token))).toBe(code);
  });

  it('gives a sas principal with its grant, and a 401 challenge of SharedAccessSignature', async () => {
    const verifier = new SasCredentialVerifier({ keys, clock, skewSeconds: 60, state: state() });
    const principal = await verifier.verify(token);
    expect(principal).toMatchObject({
      kind: 'sas',
      oid: 'user-1',
      roles: [],
      sas: { resource: 'orders', pathPrefix: ['customers', '42'], actions: ['read'], policies: ['p1'] },
    });
    await expect(verifier.verify(`${token}x`)).rejects.toMatchObject({
      code: 'ERR_SAS_INVALID',
      challenge: ['SharedAccessSignature'],
    });
  });

  describe('a token used again (its signature verified once)', () => {
    /** A fake state whose revocation and policies a test can change between calls. */
    function changingState() {
      const live = { revoked: false, policies: [policy('p1')] };
      return {
        live,
        state: {
          snapshot: (): PolicySnapshot => ({
            index: compilePolicies(live.policies, new Map([['p1', V1]])),
            resources: new Map(),
            version: 1,
          }),
          revocations: {
            loaded: true,
            match: () => (live.revoked ? ({ by: 'sid' } as const) : undefined),
          },
        },
      };
    }

    it('checks the signature on first use only, and answers the same principal', () => {
      const ring = new HmacKeyRing([{ name: 'k1', secret: Buffer.alloc(32, 1) }]);
      const lookups = jest.spyOn(ring, 'get');
      const verifier = new SasCredentialVerifier({ keys: ring, clock, skewSeconds: 60, state: state() });
      const first = verifier.verifySync(token);
      expect(verifier.verifySync(token)).toBe(first);
      expect(lookups).toHaveBeenCalledTimes(1);
      // Shared by every call with the token: nothing in it can be changed.
      for (const part of [
        first,
        first.claims,
        first.sas,
        first.sas?.policies,
        first.sas?.pathPrefix,
        first.roles,
      ])
        expect(Object.isFrozen(part)).toBe(true);
    });

    it('still expires it on time', () => {
      const later = new ManualClock(NOW * 1000);
      const verifier = new SasCredentialVerifier({ keys, clock: later, skewSeconds: 60, state: state() });
      expect(codeOfCall(() => verifier.verifySync(token))).toBe('ok');
      later.advance(299_000);
      expect(codeOfCall(() => verifier.verifySync(token))).toBe('ok');
      later.advance(1_000);
      expect(codeOfCall(() => verifier.verifySync(token))).toBe('ERR_SAS_EXPIRED');
    });

    it.each<[string, (live: ReturnType<typeof changingState>['live']) => void]>([
      ['revoked after first use', (live) => (live.revoked = true)],
      ['granting policy disabled after first use', (live) => (live.policies = [policy('p1', false)])],
      ['granting policy deleted after first use', (live) => (live.policies = [policy('p2')])],
    ])('%s: ERR_SAS_REVOKED', (_name, change) => {
      const { live, state: changing } = changingState();
      const verifier = new SasCredentialVerifier({ keys, clock, skewSeconds: 60, state: changing });
      expect(codeOfCall(() => verifier.verifySync(token))).toBe('ok');
      change(live);
      expect(codeOfCall(() => verifier.verifySync(token))).toBe('ERR_SAS_REVOKED');
    });

    it('never lets a tampered copy of a verified token through', () => {
      const verifier = new SasCredentialVerifier({ keys, clock, skewSeconds: 60, state: state() });
      verifier.verifySync(token);
      const tampered = [
        token.replace('oid=user-1', 'oid=user-2'),
        token.replace(/sig=(.)/, (_m, c: string) => `sig=${c === 'A' ? 'B' : 'A'}`),
        `${token}&sv=1`,
      ];
      for (const copy of tampered)
        expect(codeOfCall(() => verifier.verifySync(copy))).toBe('ERR_SAS_INVALID');
    });

    it('stays bounded under many distinct valid tokens', () => {
      const verifier = new SasCredentialVerifier({ keys, clock, skewSeconds: 60, state: state() });
      const cache = (verifier as unknown as { verified: Map<string, unknown> }).verified;
      for (let i = 0; i < VERIFIED_CACHE_SIZE + 50; i++) {
        const { token: distinct } = createSasToken(
          {
            resource: 'orders',
            pathPrefix: [],
            actions: ['read'],
            policies: ['p1'],
            policyVersions: [V1],
            tid: '9f1c2c3e-0d1a-4b7e-9c55-2f0c6d1e7a01',
            oid: `user-${i}`,
            azp: 'app-1',
            startsAt: NOW,
            lifetimeSeconds: 300,
          },
          keys,
        );
        verifier.verifySync(distinct);
      }
      expect(cache.size).toBeLessThanOrEqual(VERIFIED_CACHE_SIZE);
      expect(cache.size).toBeGreaterThan(0);
    });
  });
});
