/**
 * Entra token validation end to end: the real dev identity provider on an ephemeral loopback
 * port, real HTTP for metadata and JWKS, real RS256 signatures. Time is a ManualClock shared by
 * the IdP (iat/nbf/exp) and the validator, so nothing sleeps.
 */
import { createHash, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../../src/clock';
import { EntraTokenValidator } from '../../src/auth/entra/entra-token-validator';
import {
  DEV_API_CLIENT_ID,
  DEV_CLIENT_APP_ID,
  DEV_CLIENT_APP_ID_SP_OID,
  DEV_TENANT_ID,
  DEV_USER_OID,
  devV1IssuerBase,
  entraConfigFor,
  generateDevSigningKey,
  loadOrCreateDevSigningKey,
  mintDevToken,
  startDevIdentityProvider,
  type DevIdentityProvider,
  type MintTokenOptions,
  type DevSigningKey,
} from '../../src/host/local/dev-identity-provider';
import { parseTokenCliArgs } from '../../src/host/local/token-cli';
import { MemoryLogger } from '../../src/logger';
import type { Config } from '../../src/config/load-config';
import type { ErrorCode } from '../../src/errors';
import { encodeJwt, expectGatewayError, headerOf, payloadOf, signHs256 } from '../helpers/entra';

/** A health probe nudges the retry the cache policy allows; once it settled, health is ok. */
async function expectHealthyAgain(validator: EntraTokenValidator): Promise<void> {
  validator.health();
  await validator.whenIdle();
  expect(validator.health()).toEqual({ status: 'ok' });
}

const OTHER_TENANT = '11111111-2222-4333-8444-555555555555';
const THIRD_TENANT = '99999999-8888-4777-8666-555555555555';

interface Harness {
  readonly idp: DevIdentityProvider;
  readonly clock: ManualClock;
  /** A key the IdP does not publish. */
  readonly foreignKey: DevSigningKey;
  readonly now: number;
}

function startClock(): ManualClock {
  return new ManualClock(Date.UTC(2026, 0, 1, 12));
}

function newValidator(idp: DevIdentityProvider, clock: ManualClock, config: Partial<Config['entra']> = {}) {
  const logger = new MemoryLogger();
  const validator = new EntraTokenValidator({
    config: entraConfigFor(idp, config),
    clock,
    logger,
    fetch: idp.fetch,
  });
  return { validator, logger };
}

/** Re-signs a minted token's payload, with the header changed, using the IdP's current key. */
function resign(
  h: Harness,
  token: string,
  header: Record<string, unknown>,
  alg: 'RS256' | 'RS384' | 'PS256' = 'RS256',
) {
  return h.idp.signJwt({ ...headerOf(token), ...header }, payloadOf(token), alg);
}

/** Replaces one segment of a token, keeping the other two (tampering). */
function withSegment(token: string, index: 0 | 1, value: Record<string, unknown>): string {
  const parts = token.split('.');
  parts[index] = Buffer.from(JSON.stringify(value)).toString('base64url');
  return parts.join('.');
}

/**
 * The hostile-token table: every row must be refused with exactly this code (status 401).
 * The test names are the closing note's list.
 */
const HOSTILE: readonly [string, (h: Harness) => string, ErrorCode][] = [
  [
    'alg "none", no signature',
    (h) => encodeJwt({ alg: 'none', typ: 'JWT', kid: h.idp.currentKid }, payloadOf(h.idp.mintToken())),
    'ERR_TOKEN_ALGORITHM',
  ],
  [
    'alg "None" (case games)',
    (h) => encodeJwt({ alg: 'None', kid: h.idp.currentKid }, payloadOf(h.idp.mintToken()), 'AAAA'),
    'ERR_TOKEN_ALGORITHM',
  ],
  [
    'HS256 keyed with the RSA public key PEM (alg confusion)',
    (h) => signHs256({ kid: h.idp.currentKid, typ: 'JWT' }, payloadOf(h.idp.mintToken()), h.idp.publicKeyPem),
    'ERR_TOKEN_ALGORITHM',
  ],
  [
    'RS384 signed with the real key',
    (h) => resign(h, h.idp.mintToken(), { alg: 'RS384' }, 'RS384'),
    'ERR_TOKEN_ALGORITHM',
  ],
  [
    'PS256 signed with the real key',
    (h) => resign(h, h.idp.mintToken(), { alg: 'PS256' }, 'PS256'),
    'ERR_TOKEN_ALGORITHM',
  ],
  ['no alg in header', (h) => resign(h, h.idp.mintToken(), { alg: undefined }), 'ERR_TOKEN_ALGORITHM'],
  [
    'expired beyond the 60 s skew',
    (h) => h.idp.mintToken({ claims: { exp: h.now - 61, iat: h.now - 3700, nbf: h.now - 3700 } }),
    'ERR_TOKEN_EXPIRED',
  ],
  [
    'nbf in the future beyond skew',
    (h) => h.idp.mintToken({ claims: { nbf: h.now + 300 } }),
    'ERR_TOKEN_NOT_YET_VALID',
  ],
  ['no exp', (h) => h.idp.mintToken({ claims: { exp: undefined } }), 'ERR_TOKEN_NO_EXPIRY'],
  [
    'exp is a string',
    (h) =>
      h.idp.signJwt(
        { alg: 'RS256', kid: h.idp.currentKid },
        { ...payloadOf(h.idp.mintToken()), exp: String(h.now + 600) },
      ),
    'ERR_TOKEN_CLAIMS',
  ],
  [
    'wrong aud (another API)',
    (h) => h.idp.mintToken({ audience: 'api://someone-else' }),
    'ERR_TOKEN_AUDIENCE',
  ],
  [
    'aud array containing ours and a wrong value',
    (h) => h.idp.mintToken({ claims: { aud: [h.idp.clientId, 'api://evil'] } }),
    'ERR_TOKEN_AUDIENCE',
  ],
  ['no aud', (h) => h.idp.mintToken({ claims: { aud: undefined } }), 'ERR_TOKEN_AUDIENCE'],
  [
    'foreign issuer, right tenant',
    (h) => h.idp.mintToken({ claims: { iss: `https://evil.example/${h.idp.tenantId}/v2.0` } }),
    'ERR_TOKEN_ISSUER',
  ],
  [
    'tenant not allowed (with its own matching issuer)',
    (h) => h.idp.mintToken({ tid: OTHER_TENANT }),
    'ERR_TOKEN_TENANT',
  ],
  ['tid not a GUID', (h) => h.idp.mintToken({ tid: 'contoso.onmicrosoft.com' }), 'ERR_TOKEN_TENANT'],
  [
    'issuer of another tenant, tid ours (tid/issuer mismatch)',
    (h) => h.idp.mintToken({ claims: { iss: `${h.idp.authority}/${OTHER_TENANT}/v2.0` } }),
    'ERR_TOKEN_ISSUER',
  ],
  [
    'v2 issuer in a token claiming ver 1.0 (version confusion)',
    (h) => h.idp.mintToken({ claims: { ver: '1.0' } }),
    'ERR_TOKEN_ISSUER',
  ],
  [
    'v1 issuer in a token claiming ver 2.0 (version confusion, the other way)',
    (h) => h.idp.mintToken({ version: '1.0', claims: { ver: '2.0' } }),
    'ERR_TOKEN_ISSUER',
  ],
  [
    'unknown kid (key the IdP never published)',
    (h) => mintDevToken(h.foreignKey, { ...h.idp, clock: h.clock }),
    'ERR_TOKEN_UNKNOWN_KEY',
  ],
  [
    'unknown kid with a jku header pointing at the attacker',
    (h) => resign(h, h.idp.mintToken(), { kid: 'attacker-kid', jku: 'https://evil.example/keys' }),
    'ERR_TOKEN_UNKNOWN_KEY',
  ],
  [
    'known kid, signed with another key',
    (h) => mintDevToken({ ...h.foreignKey, kid: h.idp.currentKid }, { ...h.idp, clock: h.clock }),
    'ERR_TOKEN_SIGNATURE',
  ],
  [
    'tampered payload (role added)',
    (h) => {
      const token = h.idp.mintToken({ roles: ['Orders.Reader'] });
      return withSegment(token, 1, { ...payloadOf(token), roles: ['Orders.Reader', 'Gateway.Admin'] });
    },
    'ERR_TOKEN_SIGNATURE',
  ],
  [
    'tampered header (typ changed, same kid)',
    (h) => {
      const token = h.idp.mintToken();
      return withSegment(token, 0, { ...headerOf(token), typ: 'at+jwt' });
    },
    'ERR_TOKEN_SIGNATURE',
  ],
  [
    'signature stripped',
    (h) => h.idp.mintToken().split('.').slice(0, 2).join('.') + '.',
    'ERR_TOKEN_MALFORMED',
  ],
  [
    'oversized (> 16 KiB, padded claim)',
    (h) => h.idp.mintToken({ claims: { pad: 'x'.repeat(17 * 1024) } }),
    'ERR_TOKEN_TOO_LARGE',
  ],
  [
    'not a JWT: two segments',
    (h) => h.idp.mintToken().split('.').slice(0, 2).join('.'),
    'ERR_TOKEN_MALFORMED',
  ],
  ['not a JWT: garbage base64', () => '%%%.@@@.***', 'ERR_TOKEN_MALFORMED'],
  [
    'not a JWT: header is not JSON',
    () => `${Buffer.from('not json').toString('base64url')}.e30.AAAA`,
    'ERR_TOKEN_MALFORMED',
  ],
  [
    'not a JWT: payload JSON that is not an object',
    (h) => encodeJwt({ alg: 'RS256', kid: h.idp.currentKid }, [1, 2, 3], 'AAAA'),
    'ERR_TOKEN_MALFORMED',
  ],
  ['missing kid', (h) => resign(h, h.idp.mintToken(), { kid: undefined }), 'ERR_TOKEN_MALFORMED'],
  ['crit header', (h) => resign(h, h.idp.mintToken(), { crit: ['exp'] }), 'ERR_TOKEN_MALFORMED'],
  ['missing ver', (h) => h.idp.mintToken({ claims: { ver: undefined } }), 'ERR_TOKEN_VERSION'],
  ['unknown ver 3.0', (h) => h.idp.mintToken({ claims: { ver: '3.0' } }), 'ERR_TOKEN_VERSION'],
  ['missing tid', (h) => h.idp.mintToken({ claims: { tid: undefined } }), 'ERR_TOKEN_CLAIMS'],
  [
    'roles of wrong type (string)',
    (h) => h.idp.mintToken({ claims: { roles: 'Gateway.Admin' } }),
    'ERR_TOKEN_CLAIMS',
  ],
  [
    'roles array with a non-string',
    (h) => h.idp.mintToken({ claims: { roles: ['Orders.Reader', 42] } }),
    'ERR_TOKEN_CLAIMS',
  ],
  [
    'scp of wrong type (array)',
    (h) => h.idp.mintToken({ claims: { scp: ['access_as_user'] } }),
    'ERR_TOKEN_CLAIMS',
  ],
  [
    'groups of wrong type (object)',
    (h) => h.idp.mintToken({ claims: { groups: { admin: true } } }),
    'ERR_TOKEN_CLAIMS',
  ],
  [
    'v1 token with a v2-style issuer',
    (h) => h.idp.mintToken({ version: '1.0', claims: { iss: `${h.idp.authority}/${h.idp.tenantId}/v2.0` } }),
    'ERR_TOKEN_ISSUER',
  ],
];

/** A dev identity provider on a test clock and a validator that has loaded its metadata and keys. */
async function warmValidator(): Promise<{
  idp: DevIdentityProvider;
  clock: ManualClock;
  validator: EntraTokenValidator;
}> {
  const clock = startClock();
  const idp = await startDevIdentityProvider({ clock });
  const { validator } = newValidator(idp, clock);
  await validator.warmUp();
  return { idp, clock, validator };
}

describe('EntraTokenValidator against the dev identity provider', () => {
  let idp: DevIdentityProvider;
  let clock: ManualClock;
  let harness: Harness;
  let validator: EntraTokenValidator;

  beforeAll(async () => {
    ({ idp, clock, validator } = await warmValidator());
    harness = { idp, clock, foreignKey: generateDevSigningKey(), now: Math.floor(clock.now() / 1000) };
  });
  afterAll(() => idp.close());

  it('warms up: health ok after loading v1 and v2 metadata and keys', () => {
    expect(validator.health()).toEqual({ status: 'ok' });
  });

  it.each(HOSTILE)('refuses %s', async (_name, build, code) => {
    await expectGatewayError(validator.verify(build(harness)), code);
  });

  it('the hostile table has at least 22 rows', () => {
    expect(HOSTILE.length).toBeGreaterThanOrEqual(22);
  });

  it('accepts a v2 token: aud = client id, azp, scp split, roles, groups, oid, tid', async () => {
    const principal = await validator.verify(
      idp.mintToken({ roles: ['Orders.Reader'], scopes: ['orders.read', 'orders.write'], groups: ['g1'] }),
    );
    expect(principal).toMatchObject({
      kind: 'entra',
      oid: DEV_USER_OID,
      tid: DEV_TENANT_ID,
      azp: DEV_CLIENT_APP_ID,
      roles: ['Orders.Reader'],
      scopes: ['orders.read', 'orders.write'],
      groups: ['g1'],
      idtyp: 'user',
      expiresAt: harness.now + 3600,
    });
  });

  it('never exposes email, upn, preferred_username or unique_name as claims', async () => {
    const v2 = await validator.verify(idp.mintToken({ claims: { email: 'ceo@example.test' } }));
    const v1 = await validator.verify(idp.mintToken({ version: '1.0' }));
    for (const principal of [v2, v1]) {
      for (const claim of ['email', 'upn', 'preferred_username', 'unique_name'])
        expect(principal.claims).not.toHaveProperty(claim);
    }
  });

  it('accepts a v1 token with the App ID URI audience, azp from appid', async () => {
    const token = idp.mintToken({ version: '1.0', roles: ['Orders.Reader'] });
    expect(payloadOf(token)).toMatchObject({ aud: idp.audience, ver: '1.0', appid: DEV_CLIENT_APP_ID });
    const principal = await validator.verify(token);
    expect(principal).toMatchObject({ azp: DEV_CLIENT_APP_ID, roles: ['Orders.Reader'], idtyp: 'user' });
  });

  it.each([
    ['v2 with idtyp', {}],
    ['v2 without idtyp (sub === oid, no scp)', { claims: { idtyp: undefined } }],
    ['v1', { version: '1.0' as const }],
  ])('app-only token (%s) → idtyp app', async (_name, extra) => {
    const principal = await validator.verify(
      idp.mintToken({ app: true, roles: ['Gateway.Admin'], ...extra }),
    );
    expect(principal).toMatchObject({
      idtyp: 'app',
      oid: DEV_CLIENT_APP_ID_SP_OID,
      roles: ['Gateway.Admin'],
      scopes: [],
    });
  });

  it.each([
    ['expired 30 s ago (within the 60 s skew)', { exp: harness_now() - 30, nbf: harness_now() - 3630 }],
    ['nbf 30 s ahead (within the 60 s skew)', { nbf: harness_now() + 30 }],
  ])('accepts a token %s', async (_name, claims) => {
    await expect(validator.verify(idp.mintToken({ claims }))).resolves.toMatchObject({ kind: 'entra' });
  });
});

/** "Now" of every test clock, in seconds: tables are built before beforeAll runs. */
function harness_now(): number {
  return Math.floor(startClock().now() / 1000);
}

describe('multi-tenant mode (organizations + allowed tenants)', () => {
  let idp: DevIdentityProvider;
  let validator: EntraTokenValidator;
  beforeAll(async () => {
    const clock = startClock();
    idp = await startDevIdentityProvider({ clock });
    ({ validator } = newValidator(idp, clock, {
      tenantId: 'organizations',
      multiTenant: true,
      allowedTenants: [DEV_TENANT_ID, OTHER_TENANT],
    }));
    await validator.warmUp();
  });
  afterAll(() => idp.close());

  it.each([
    ['home tenant', DEV_TENANT_ID],
    ['another allowed tenant', OTHER_TENANT],
  ])('accepts a token of the %s (issuer from the {tenantid} template)', async (_name, tid) => {
    await expect(validator.verify(idp.mintToken({ tid }))).resolves.toMatchObject({ tid });
    await expect(validator.verify(idp.mintToken({ tid, version: '1.0' }))).resolves.toMatchObject({ tid });
  });

  it.each<[string, () => string, ErrorCode]>([
    ['a tenant that is not allowed', () => idp.mintToken({ tid: THIRD_TENANT }), 'ERR_TOKEN_TENANT'],
    [
      'an allowed tid with the issuer of another allowed tenant',
      () => idp.mintToken({ tid: DEV_TENANT_ID, claims: { iss: `${idp.authority}/${OTHER_TENANT}/v2.0` } }),
      'ERR_TOKEN_ISSUER',
    ],
    [
      'the literal {tenantid} issuer',
      () => idp.mintToken({ claims: { iss: `${idp.authority}/{tenantid}/v2.0` } }),
      'ERR_TOKEN_ISSUER',
    ],
  ])('refuses %s', async (_name, build, code) => {
    await expectGatewayError(validator.verify(build()), code);
  });
});

describe('signing key rotation', () => {
  it('keepOld: both keys verify; the new kid triggers one refetch; withdrawing a key revokes its tokens', async () => {
    const clock = startClock();
    const idp = await startDevIdentityProvider({ clock });
    try {
      const { validator } = newValidator(idp, clock);
      await validator.warmUp();
      const oldA = idp.mintToken({ oid: randomUUID() });
      const oldB = idp.mintToken({ oid: randomUUID() });
      await validator.verify(oldA);

      idp.rotateSigningKey({ keepOld: true });
      const fresh = idp.mintToken();
      clock.advance(61_000); // past the unknown-kid refetch interval since warm-up
      const before = idp.jwksRequests;
      await expect(validator.verify(fresh)).resolves.toMatchObject({ kind: 'entra' });
      expect(idp.jwksRequests - before).toBe(1);
      await expect(validator.verify(oldB)).resolves.toMatchObject({ kind: 'entra' });
      expect(idp.jwksRequests - before).toBe(1);

      // The old key is withdrawn: once the validator learns it (next refetch), tokens it signed
      // fail, including those already in the verified-token cache.
      idp.rotateSigningKey({ keepOld: false });
      clock.advance(61_000);
      await validator.verify(idp.mintToken()); // newest kid → refetch
      await expectGatewayError(validator.verify(oldA), 'ERR_TOKEN_UNKNOWN_KEY');
      await expectGatewayError(validator.verify(fresh), 'ERR_TOKEN_UNKNOWN_KEY');
    } finally {
      await idp.close();
    }
  });
});

describe('IdP outages', () => {
  it('JWKS and metadata down: cached keys keep verifying; health degraded after a failed refresh; recovers', async () => {
    const clock = startClock();
    const idp = await startDevIdentityProvider({ clock });
    try {
      const { validator, logger } = newValidator(idp, clock);
      await validator.warmUp();
      idp.setAvailable(false);

      // A day later the keys are stale: the next request triggers a background refresh, which fails.
      clock.advance(24 * 3600 * 1000 + 1000);
      await expect(validator.verify(idp.mintToken())).resolves.toMatchObject({ kind: 'entra' });
      await validator.whenIdle();
      expect(validator.health().status).toBe('degraded');
      expect(logger.events()).toContain('entra.refresh.failed');

      await expect(validator.verify(idp.mintToken({ roles: ['Orders.Reader'] }))).resolves.toMatchObject({
        roles: ['Orders.Reader'],
      });
      // An unknown kid while the IdP is down is the token's problem (401), not an outage (503).
      await expectGatewayError(
        validator.verify(mintDevToken(generateDevSigningKey(), { ...idp, clock })),
        'ERR_TOKEN_UNKNOWN_KEY',
      );

      idp.setAvailable(true);
      clock.advance(6_000);
      await expectHealthyAgain(validator);
    } finally {
      await idp.close();
    }
  });

  it('cold outage (nothing ever loaded): 503 ERR_IDP_UNAVAILABLE, health down, no retry storm, recovers', async () => {
    const clock = startClock();
    const idp = await startDevIdentityProvider({ clock });
    try {
      idp.setAvailable(false);
      const { validator } = newValidator(idp, clock);
      await expect(validator.warmUp()).resolves.toBeUndefined();
      expect(validator.health().status).toBe('down');

      const requests = idp.metadataRequests;
      for (let i = 0; i < 20; i += 1) {
        await expectGatewayError(validator.verify(idp.mintToken()), 'ERR_IDP_UNAVAILABLE');
      }
      expect(idp.metadataRequests).toBe(requests); // retries wait retryAfterFailureMs

      idp.setAvailable(true);
      clock.advance(5_000);
      await expect(validator.verify(idp.mintToken())).resolves.toMatchObject({ kind: 'entra' });
      await expectHealthyAgain(validator);
    } finally {
      await idp.close();
    }
  });

  it('unreachable authority (nothing listening): 503, never a 5xx other than ERR_IDP_UNAVAILABLE', async () => {
    const clock = startClock();
    const idp = await startDevIdentityProvider({ clock });
    const token = idp.mintToken();
    const config = entraConfigFor(idp);
    await idp.close();
    const validator = new EntraTokenValidator({ config, clock, logger: new MemoryLogger() });
    await validator.warmUp();
    await expectGatewayError(validator.verify(token), 'ERR_IDP_UNAVAILABLE');
  });
});

describe('unknown-kid flood', () => {
  let idp: DevIdentityProvider;
  let clock: ManualClock;
  let validator: EntraTokenValidator;
  beforeAll(async () => {
    ({ idp, clock, validator } = await warmValidator());
  });
  afterAll(() => idp.close());

  const flood = (count: number) =>
    Array.from({ length: count }, () =>
      idp.signJwt({ alg: 'RS256', typ: 'JWT', kid: randomUUID() }, payloadOf(idp.mintToken())),
    );

  it('200 concurrent tokens with random kids: all 401 ERR_TOKEN_UNKNOWN_KEY, at most one JWKS fetch', async () => {
    clock.advance(61_000);
    const before = idp.jwksRequests;
    const results = await Promise.allSettled(flood(200).map((t) => validator.verify(t)));
    expect(
      results.every(
        (r) => r.status === 'rejected' && (r.reason as { code?: string }).code === 'ERR_TOKEN_UNKNOWN_KEY',
      ),
    ).toBe(true);
    expect(idp.jwksRequests - before).toBeLessThanOrEqual(1);
  });

  it('200 sequential tokens with random kids within a minute: no JWKS fetch at all', async () => {
    const before = idp.jwksRequests;
    for (const token of flood(200)) {
      clock.advance(100); // 20 s in total, inside the 60 s refetch interval
      await expectGatewayError(validator.verify(token), 'ERR_TOKEN_UNKNOWN_KEY');
    }
    expect(idp.jwksRequests).toBe(before);
  });
});

describe('verified-token cache', () => {
  let idp: DevIdentityProvider;
  let clock: ManualClock;
  let validator: EntraTokenValidator;
  beforeAll(async () => {
    ({ idp, clock, validator } = await warmValidator());
  });
  afterAll(() => idp.close());

  it('a repeated token is served from the cache: one RS256 verify for 50 uses', async () => {
    const token = idp.mintToken({ roles: ['Orders.Reader'], lifetimeSeconds: 600 });
    const { signatureVerifications, cacheHits } = validator.stats;
    for (let i = 0; i < 50; i += 1)
      await expect(validator.verify(token)).resolves.toMatchObject({ roles: ['Orders.Reader'] });
    expect(validator.stats.signatureVerifications - signatureVerifications).toBe(1);
    expect(validator.stats.cacheHits - cacheHits).toBe(49);
  });

  it('an expired token is never served from the cache', async () => {
    const token = idp.mintToken({ lifetimeSeconds: 600 });
    await validator.verify(token);
    clock.advance(600_000 + 61_000); // past exp + skew
    await expectGatewayError(validator.verify(token), 'ERR_TOKEN_EXPIRED');
  });

  it('failures are never cached: a bad token is verified afresh each time', async () => {
    const token = idp.mintToken();
    const tampered = withSegment(token, 1, { ...payloadOf(token), roles: ['Gateway.Admin'] });
    const before = validator.stats.signatureVerifications;
    await expectGatewayError(validator.verify(tampered), 'ERR_TOKEN_SIGNATURE');
    await expectGatewayError(validator.verify(tampered), 'ERR_TOKEN_SIGNATURE');
    expect(validator.stats.signatureVerifications - before).toBe(2);
  });
});

describe('dev identity provider: Entra URL layout and token shape', () => {
  let idp: DevIdentityProvider;
  beforeAll(async () => {
    idp = await startDevIdentityProvider({ clock: startClock() });
  });
  afterAll(() => idp.close());

  const get = async (path: string) => {
    const response = await idp.fetch(`${idp.authority}${path}`);
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };

  // As Entra: v2 issuers on the authority's host, v1 issuers on a host of their own (the
  // sts.windows.net of the twin), tenant-specific v2 JWKS, common's for the multi-tenant segments.
  it.each([
    [
      `/${DEV_TENANT_ID}/v2.0/.well-known/openid-configuration`,
      `AUTH/${DEV_TENANT_ID}/v2.0`,
      `/${DEV_TENANT_ID}/discovery/v2.0/keys`,
    ],
    [`/${DEV_TENANT_ID}/.well-known/openid-configuration`, `V1/${DEV_TENANT_ID}/`, '/common/discovery/keys'],
    [
      '/organizations/v2.0/.well-known/openid-configuration',
      'AUTH/{tenantid}/v2.0',
      '/common/discovery/v2.0/keys',
    ],
    ['/common/v2.0/.well-known/openid-configuration', 'AUTH/{tenantid}/v2.0', '/common/discovery/v2.0/keys'],
    ['/common/.well-known/openid-configuration', 'V1/{tenantid}/', '/common/discovery/keys'],
  ])('GET %s → issuer %s, jwks_uri …%s', async (path, issuer, jwksPath) => {
    const { status, body } = await get(path);
    expect(status).toBe(200);
    expect(body).toMatchObject({
      issuer: issuer.replace('AUTH', idp.authority).replace('V1', devV1IssuerBase(idp.authority)),
      jwks_uri: `${idp.authority}${jwksPath}`,
    });
    expect(new URL(devV1IssuerBase(idp.authority)).host).not.toBe(new URL(idp.authority).host);
  });

  it.each([
    ['an unknown tenant', `/${OTHER_TENANT}/v2.0/.well-known/openid-configuration`, 400],
    [
      'v1 metadata of organizations (AADSTS90002, as Entra)',
      '/organizations/.well-known/openid-configuration',
      400,
    ],
    ['an unknown path', '/nope', 404],
  ])('answers %s with %s', async (_name, path, status) => {
    expect((await get(path)).status).toBe(status);
  });

  it.each([
    [`/${DEV_TENANT_ID}/discovery/v2.0/keys`, `AUTH/${DEV_TENANT_ID}/v2.0`],
    ['/common/discovery/v2.0/keys', 'AUTH/{tenantid}/v2.0'],
    ['/common/discovery/keys', undefined],
  ])('JWKS %s: keys name the issuer %s (v1 keys none)', async (path, issuer) => {
    const { body } = await get(path);
    const [jwk] = body.keys as Record<string, unknown>[];
    expect(jwk!.issuer).toBe(issuer?.replace('AUTH', idp.authority));
  });

  it('publishes RSA JWKs whose kid is the RFC 7638 thumbprint, and counts requests', async () => {
    const before = idp.jwksRequests;
    const { body } = await get('/common/discovery/v2.0/keys');
    const [jwk] = body.keys as Record<string, string>[];
    expect(jwk).toMatchObject({ kty: 'RSA', use: 'sig', kid: idp.currentKid });
    const thumbprint = createHash('sha256')
      .update(JSON.stringify({ e: jwk!.e, kty: 'RSA', n: jwk!.n }))
      .digest('base64url');
    expect(jwk!.kid).toBe(thumbprint);
    expect(idp.jwksRequests).toBe(before + 1);
  });

  it('answers 503 for metadata and JWKS while unavailable', async () => {
    idp.setAvailable(false);
    try {
      expect((await get('/common/discovery/keys')).status).toBe(503);
      expect((await get(`/${DEV_TENANT_ID}/v2.0/.well-known/openid-configuration`)).status).toBe(503);
    } finally {
      idp.setAvailable(true);
    }
  });

  it.each([
    [
      'v2 user',
      {},
      { ver: '2.0', aud: DEV_API_CLIENT_ID, azp: DEV_CLIENT_APP_ID, azpacr: '0', scp: 'access_as_user' },
    ],
    [
      'v1 user',
      { version: '1.0' as const },
      { ver: '1.0', aud: `api://${DEV_API_CLIENT_ID}`, appid: DEV_CLIENT_APP_ID, appidacr: '0' },
    ],
    [
      'v2 app-only',
      { app: true, roles: ['R'] },
      { ver: '2.0', idtyp: 'app', roles: ['R'], sub: DEV_CLIENT_APP_ID_SP_OID },
    ],
  ])('mints an Entra-shaped %s token', (_name, options: MintTokenOptions, expected) => {
    const token = idp.mintToken(options);
    expect(headerOf(token)).toMatchObject({ alg: 'RS256', typ: 'JWT', kid: idp.currentKid });
    const payload = payloadOf(token);
    expect(payload).toMatchObject({ tid: DEV_TENANT_ID, ...expected });
    for (const claim of ['iat', 'nbf', 'exp', 'uti', 'oid', 'sub', 'iss'])
      expect(payload).toHaveProperty(claim);
    if (options.app) expect(payload).not.toHaveProperty('scp');
    else expect(payload.sub).not.toBe(payload.oid);
  });
});

describe('dev signing key file and token-cli', () => {
  it('the IdP and token-cli share the persisted key: a CLI-minted token verifies', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dev-idp-'));
    try {
      const keyFile = join(dir, 'nested', 'signing-key.pem');
      const clock = startClock();
      const idp = await startDevIdentityProvider({ clock, keyFile });
      try {
        expect(statSync(keyFile).mode & 0o777).toBe(0o600);
        const again = loadOrCreateDevSigningKey(keyFile);
        expect(again.kid).toBe(idp.currentKid);
        const options = parseTokenCliArgs([
          '--role',
          'Orders.Reader',
          '--role',
          'Orders.Writer',
          '--scope',
          's1',
          '--group',
          'g1',
          '--lifetime',
          '600',
        ]);
        const token = mintDevToken(
          again,
          { authority: idp.authority, tenantId: idp.tenantId, clientId: idp.clientId, clock },
          options,
        );
        const { validator } = newValidator(idp, clock);
        await expect(validator.verify(token)).resolves.toMatchObject({
          roles: ['Orders.Reader', 'Orders.Writer'],
          scopes: ['s1'],
          groups: ['g1'],
          expiresAt: Math.floor(clock.now() / 1000) + 600,
        });
      } finally {
        await idp.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.each([
    [['--v1', '--app', '--role', 'A'], { version: '1.0', app: true, roles: ['A'] }],
    [['--oid', 'o1', '--tid', 't1'], { version: '2.0', oid: 'o1', tid: 't1' }],
    [['--help'], { help: true }],
    [['-h', '--role', 'A'], { help: true }],
  ])('parses %j', (args, expected) => {
    expect(parseTokenCliArgs(args)).toEqual(expected);
  });

  it.each([[['--lifetime', '-5']], [['--lifetime', 'soon']], [['--nope']]])('refuses %j', (args) => {
    expect(() => parseTokenCliArgs(args)).toThrow();
  });
});
