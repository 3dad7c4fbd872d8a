import { generateKeyPairSync } from 'node:crypto';
import { ManualClock } from '../../../../src/clock';
import { ENTRA_DEFAULTS } from '../../../../src/auth/entra/entra-defaults';
import { parseJwks, SigningKeySet } from '../../../../src/auth/entra/signing-keys';
import { MemoryLogger } from '../../../../src/logger';
import { FakeFetch } from '../../../helpers/fake-fetch';
import { expectGatewayError } from '../../../helpers/entra';

const JWKS_URI = 'https://login.example.test/common/discovery/v2.0/keys';

function rsaJwk(kid: string, modulusLength = 2048): Record<string, unknown> {
  const { publicKey } = generateKeyPairSync('rsa', { modulusLength });
  return { ...publicKey.export({ format: 'jwk' }), kid, use: 'sig', alg: 'RS256' };
}

// Key generation is the slow part: make the few keys once.
const K1 = rsaJwk('k1');
const K2 = rsaJwk('k2');

function setup(keys: unknown[] = [K1]) {
  const clock = new ManualClock();
  const fake = new FakeFetch().answer(JWKS_URI, { status: 200, body: { keys } });
  const removed: string[][] = [];
  const set = new SigningKeySet({
    jwksUri: JWKS_URI,
    fetch: fake.fetch,
    clock,
    logger: new MemoryLogger(),
    policy: ENTRA_DEFAULTS,
    onKeysRemoved: (kids) => removed.push([...kids]),
  });
  return { clock, fake, set, removed };
}

describe('parseJwks', () => {
  it.each<[string, unknown, string[]]>([
    ['two RSA signing keys', { keys: [K1, K2] }, ['k1', 'k2']],
    ['use absent is a signing key', { keys: [{ ...K1, use: undefined }] }, ['k1']],
    ['skips encryption keys', { keys: [{ ...K2, use: 'enc' }, K1] }, ['k1']],
    ['skips keys without kid', { keys: [{ ...K2, kid: undefined }, K1] }, ['k1']],
    ['skips EC keys', { keys: [{ kty: 'EC', crv: 'P-256', kid: 'ec', x: 'a', y: 'b' }, K1] }, ['k1']],
    ['skips RSA keys under 2048 bits', { keys: [rsaJwk('small', 1024), K1] }, ['k1']],
    [
      'skips keys that fail to import',
      { keys: [{ kty: 'RSA', kid: 'bad', n: '!!', e: 'AQAB' }, K1] },
      ['k1'],
    ],
  ])('%s', async (_name, document, kids) => {
    expect([...(await parseJwks(document)).keys()]).toEqual(kids);
  });

  it.each<[string, unknown]>([
    ['no keys member', {}],
    ['keys not an array', { keys: 'k1' }],
    ['no usable key', { keys: [{ ...K1, use: 'enc' }] }],
    ['null', null],
  ])('refuses a JWKS with %s', async (_name, document) => {
    await expect(parseJwks(document)).rejects.toThrow(/JWKS/);
  });

  it('of two JWKs with one kid the first is the key (as Microsoft takes the first match)', async () => {
    const first = await parseJwks({
      keys: [
        { ...K1, issuer: 'first' },
        { ...K2, kid: 'k1', issuer: 'second' },
      ],
    });
    expect(first.get('k1')!.issuer).toBe('first');
    expect(first.get('k1')!.key.export({ format: 'jwk' }).n).toBe(K1.n);
    // The first is unusable (an EC key): the kid is unusable, a later RSA key with it is ignored.
    const keys = await parseJwks({ keys: [{ kty: 'EC', crv: 'P-256', kid: 'k1', x: 'a', y: 'b' }, K1, K2] });
    expect([...keys.keys()]).toEqual(['k2']);
  });

  it('keeps the issuer a JWK names (string only)', async () => {
    const keys = await parseJwks({
      keys: [
        { ...K1, issuer: 'https://idp/{tenantid}/v2.0' },
        { ...K2, issuer: 42 },
      ],
    });
    expect(keys.get('k1')!.issuer).toBe('https://idp/{tenantid}/v2.0');
    expect(keys.get('k2')!.issuer).toBeUndefined();
  });

  it('imports public keys as KeyObjects', async () => {
    const { key } = (await parseJwks({ keys: [K1] })).get('k1')!;
    expect(key.type).toBe('public');
    expect(key.asymmetricKeyType).toBe('rsa');
  });
});

describe('SigningKeySet cache policy', () => {
  it('loads once, then answers known kids from memory', async () => {
    const { fake, set } = setup();
    for (let i = 0; i < 10; i += 1) await set.get('k1');
    expect(fake.count(JWKS_URI)).toBe(1);
  });

  it('an unknown kid refetches at most once per 60 s', async () => {
    const { fake, set, clock } = setup();
    await set.refresh();
    await expectGatewayError(set.get('nope'), 'ERR_TOKEN_UNKNOWN_KEY'); // just loaded: no refetch
    expect(fake.count(JWKS_URI)).toBe(1);
    clock.advance(60_000);
    await expectGatewayError(set.get('nope'), 'ERR_TOKEN_UNKNOWN_KEY');
    await expectGatewayError(set.get('other'), 'ERR_TOKEN_UNKNOWN_KEY');
    expect(fake.count(JWKS_URI)).toBe(2);
    clock.advance(59_999);
    await expectGatewayError(set.get('third'), 'ERR_TOKEN_UNKNOWN_KEY');
    expect(fake.count(JWKS_URI)).toBe(2);
  });

  it('a newly published kid is found by the refetch', async () => {
    const { fake, set, clock } = setup();
    await set.refresh();
    fake.answer(JWKS_URI, { status: 200, body: { keys: [K1, K2] } });
    clock.advance(60_000);
    await expect(set.get('k2')).resolves.toBeDefined();
    expect(fake.count(JWKS_URI)).toBe(2);
  });

  it('concurrent unknown kids share one in-flight fetch (single-flight)', async () => {
    const { fake, set, clock } = setup();
    await set.refresh();
    clock.advance(60_000);
    fake.hold();
    const pending = Array.from({ length: 50 }, (_, i) => set.get(`random-${i}`).catch((e: unknown) => e));
    fake.release();
    const results = await Promise.all(pending);
    expect(results.every((e) => (e as { code?: string }).code === 'ERR_TOKEN_UNKNOWN_KEY')).toBe(true);
    expect(fake.count(JWKS_URI)).toBe(2);
  });

  it('JWKS outage: cached keys keep verifying; the set reports failing', async () => {
    const { fake, set, clock } = setup();
    await set.refresh();
    fake.answer(JWKS_URI, { status: 503, body: {} });
    clock.advance(ENTRA_DEFAULTS.refreshAfterMs); // stale: background refresh
    await expect(set.get('k1')).resolves.toBeDefined();
    await set.settled();
    expect(set.failing).toBe(true);
    await expect(set.get('k1')).resolves.toBeDefined();
    await expectGatewayError(set.get('unknown'), 'ERR_TOKEN_UNKNOWN_KEY'); // 401, not 503: we hold keys
  });

  it.each([
    ['HTTP 503', { status: 503, body: {} }],
    ['network error', 'network-error' as const],
    ['a document without keys', { status: 200, body: { keys: [] } }],
  ])('cold: %s → 503 ERR_IDP_UNAVAILABLE, retried at most every 5 s', async (_name, answer) => {
    const { fake, set, clock } = setup();
    fake.answer(JWKS_URI, answer);
    await expectGatewayError(set.get('k1'), 'ERR_IDP_UNAVAILABLE');
    await expectGatewayError(set.get('k1'), 'ERR_IDP_UNAVAILABLE');
    expect(fake.count(JWKS_URI)).toBe(1);
    fake.answer(JWKS_URI, { status: 200, body: { keys: [K1] } });
    clock.advance(ENTRA_DEFAULTS.retryAfterFailureMs);
    await expect(set.get('k1')).resolves.toBeDefined();
    expect(fake.count(JWKS_URI)).toBe(2);
  });

  it('refreshes in the background after 24 h, serving the old keys meanwhile', async () => {
    const { fake, set, clock } = setup();
    await set.refresh();
    clock.advance(ENTRA_DEFAULTS.refreshAfterMs - 1);
    await set.get('k1');
    expect(fake.count(JWKS_URI)).toBe(1);
    clock.advance(1);
    fake.hold();
    await expect(set.get('k1')).resolves.toBeDefined(); // not blocked by the held refresh
    fake.release();
    await set.settled();
    expect(fake.count(JWKS_URI)).toBe(2);
  });

  it('reports withdrawn kids', async () => {
    const { fake, set, clock, removed } = setup([K1, K2]);
    await set.refresh();
    fake.answer(JWKS_URI, { status: 200, body: { keys: [K2] } });
    clock.advance(60_000);
    await expectGatewayError(set.get('k3'), 'ERR_TOKEN_UNKNOWN_KEY');
    expect(removed).toEqual([['k1']]);
  });
});
