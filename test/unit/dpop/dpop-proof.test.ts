/**
 * DPoP proof checks (RFC 9449 section 4.3) with the RFC's own examples as vectors: figure 2 (a
 * token request proof), figure 13 (a resource request proof with `ath`), the thumbprint of
 * section 6.1 and RFC 7638 section 3.1's thumbprint. Then one refusal per check, each made by
 * signing a real proof with a generated key and changing one thing.
 */
import {
  accessTokenHash,
  DpopProofError,
  jwkThumbprint,
  normalizeHtu,
  verifyDpopProof,
  type ProofExpectation,
} from '../../../src/dpop/dpop-proof';
import { DpopKey, type ProofOptions, type TestDpopAlgorithm } from '../../helpers/dpop';

// RFC 9449 figure 2 and figure 13, line folding undone; section 6.1's thumbprint of their key.
const RFC_TOKEN_PROOF =
  'eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIjoiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwiaWF0IjoxNTYyMjYyNjE2fQ.2-GxA6T8lP4vfrg8v-FdWP0A0zdrj8igiMLvqRMUvwnQg4PtFLbdLXiOSsX0x7NVY-FNyJK70nfbV37xRZT3Lg';
const RFC_RESOURCE_PROOF =
  'eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiJlMWozVl9iS2ljOC1MQUVCIiwiaHRtIjoiR0VUIiwiaHR1IjoiaHR0cHM6Ly9yZXNvdXJjZS5leGFtcGxlLm9yZy9wcm90ZWN0ZWRyZXNvdXJjZSIsImlhdCI6MTU2MjI2MjYxOCwiYXRoIjoiZlVIeU8ycjJaM0RaNTNFc05yV0JiMHhXWG9hTnk1OUlpS0NBcWtzbVFFbyJ9.2oW9RP35yRqzhrtNP86L-Ey71EOptxRimPPToA1plemAgR6pxHF8y6-yqyVnmcw6Fy1dqd-jfxSYoMxhAJpLjA';
const RFC_ACCESS_TOKEN = 'Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU';
const RFC_JKT = '0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I';
// RFC 7638 section 3.1.
const RFC7638_JWK = {
  kty: 'RSA',
  n: '0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw',
  e: 'AQAB',
  alg: 'RS256',
  kid: '2011-04-29',
};

const tokenRequest = (now: number): ProofExpectation => ({
  method: 'POST',
  urls: ['https://server.example.com/token'],
  now,
  maxAgeSeconds: 60,
  skewSeconds: 60,
});

describe('RFC vectors', () => {
  it('verifies RFC 9449 figure 2, the token request proof, and gives section 6.1 thumbprint', () => {
    expect(verifyDpopProof(RFC_TOKEN_PROOF, tokenRequest(1562262616))).toEqual({
      jkt: RFC_JKT,
      jti: '-BwC3ESc6acc2lTc',
      iat: 1562262616,
      alg: 'ES256',
      expiresAt: 1562262616 + 121, // the first second it is refused as too old
    });
  });

  /** The request of figure 13. */
  const base: ProofExpectation = {
    method: 'GET',
    urls: ['https://resource.example.org/protectedresource'],
    accessToken: RFC_ACCESS_TOKEN,
    now: 1562262618,
    maxAgeSeconds: 60,
    skewSeconds: 60,
  };

  it('verifies RFC 9449 figure 13, the resource request proof, with its ath', () => {
    expect(accessTokenHash(RFC_ACCESS_TOKEN)).toBe('fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo');
    const proof = verifyDpopProof(RFC_RESOURCE_PROOF, base);
    expect(proof).toMatchObject({ jkt: RFC_JKT, jti: 'e1j3V_bKic8-LAEB' });
  });

  it('refuses figure 13 with another access token, method or URL', () => {
    expect(() =>
      verifyDpopProof(RFC_RESOURCE_PROOF, { ...base, accessToken: `${RFC_ACCESS_TOKEN}x` }),
    ).toThrow(/"ath"/);
    expect(() => verifyDpopProof(RFC_RESOURCE_PROOF, { ...base, method: 'POST' })).toThrow(/"htm"/);
    expect(() =>
      verifyDpopProof(RFC_RESOURCE_PROOF, { ...base, urls: ['https://resource.example.org/other'] }),
    ).toThrow(/"htu"/);
  });

  it('computes RFC 7638 section 3.1 thumbprint, ignoring members that are not required', () => {
    expect(jwkThumbprint(RFC7638_JWK)).toBe('NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs');
  });
});

describe('htu normalization (RFC 3986 syntax- and scheme-based)', () => {
  it.each([
    ['HTTPS://Server.Example.COM:443/token', 'https://server.example.com/token'],
    ['https://server.example.com/a/./b/../token?x=1#f', 'https://server.example.com/a/token'],
    ['http://server.example.com:80/%7euser', 'http://server.example.com/~user'],
    ['https://server.example.com/%2f', 'https://server.example.com/%2F'],
    ['https://server.example.com:8443/token', 'https://server.example.com:8443/token'],
  ])('%s is %s', (given, normalized) => {
    expect(normalizeHtu(given)).toBe(normalized);
  });

  it.each([
    'ftp://server.example.com/token',
    '/token',
    'not a url',
    'https://evil@server.example.com/token',
    'https://user:pass@server.example.com/token',
  ])('%s is no htu', (given) => {
    expect(normalizeHtu(given)).toBeUndefined();
  });
});

const NOW = 1_800_000_000;
const URL_ = 'https://gateway.example.net/api/proxy/orders/customers/42';

/** A test key whose proofs default to a GET of URL_ at NOW; a test may change any part. */
function client(alg: TestDpopAlgorithm = 'ES256', rsaBits = 2048) {
  const key = DpopKey.generate(alg, rsaBits);
  return {
    jwk: key.jwk,
    proof: (changes: Omit<ProofOptions, 'htm' | 'htu'> = {}) =>
      key.proof({ htm: 'GET', htu: URL_, iat: NOW, jti: 'jti-0123456789', ...changes }),
  };
}

const resourceRequest: ProofExpectation = {
  method: 'GET',
  urls: [URL_],
  now: NOW,
  maxAgeSeconds: 60,
  skewSeconds: 60,
};

describe('verifyDpopProof', () => {
  const es256 = client();

  it.each(['ES256', 'ES384', 'RS256', 'PS256', 'EdDSA'] as const)('accepts %s proofs', (alg) => {
    const c = client(alg);
    expect(verifyDpopProof(c.proof(), resourceRequest)).toMatchObject({ alg, jkt: jwkThumbprint(c.jwk) });
  });

  it('accepts a proof as old as the window and as far ahead as the skew', () => {
    expect(() => verifyDpopProof(es256.proof({ claims: { iat: NOW - 120 } }), resourceRequest)).not.toThrow();
    expect(() => verifyDpopProof(es256.proof({ claims: { iat: NOW + 60 } }), resourceRequest)).not.toThrow();
  });

  it('accepts the URL below a second base (the public issuer), with a query string', () => {
    const proof = es256.proof({ claims: { htu: 'https://api.contoso.com/gw/proxy/orders?x=1' } });
    expect(() =>
      verifyDpopProof(proof, { ...resourceRequest, urls: [URL_, 'https://api.contoso.com/gw/proxy/orders'] }),
    ).not.toThrow();
  });

  const other = client();
  it.each<[string, () => string, RegExp]>([
    ['a token that is no JWS', () => 'abc.def', /compact JWS/],
    ['an oversized proof', () => `${'a'.repeat(9000)}.b.c`, /too large/],
    ['a header that is not JSON', () => `bm90IGpzb24.${es256.proof().split('.')[1]}.sig`, /not JSON/],
    ['typ JWT', () => es256.proof({ header: { typ: 'JWT' } }), /"typ"/],
    ['alg none', () => es256.proof({ header: { alg: 'none' } }), /"alg"/],
    ['alg HS256', () => es256.proof({ header: { alg: 'HS256' } }), /"alg"/],
    ['a crit header', () => es256.proof({ header: { crit: ['exp'] } }), /"crit"/],
    ['no jwk', () => es256.proof({ header: { jwk: undefined } }), /"jwk"/],
    ['a private key in jwk', () => es256.proof({ header: { jwk: { ...es256.jwk, d: 'AAAA' } } }), /private/],
    ['a symmetric jwk', () => es256.proof({ header: { jwk: { kty: 'oct', k: 'AAAA' } } }), /private|EC key/],
    ['an EC key with RS256', () => es256.proof({ header: { alg: 'RS256' } }), /RSA key/],
    ['a P-384 key with ES256', () => es256.proof({ header: { jwk: client('ES384').jwk } }), /P-256/],
    [
      'a jwk that is no point on the curve',
      () => es256.proof({ header: { jwk: { ...es256.jwk, x: 'AAAA' } } }),
      /valid public key|signature/,
    ],
    ['another key than the signer', () => es256.proof({ header: { jwk: other.jwk } }), /signature/],
    [
      'a tampered signature',
      () => es256.proof({ signature: (s) => Buffer.concat([s.subarray(1), s.subarray(0, 1)]) }),
      /signature/,
    ],
    [
      'a DER signature (not JWS r||s)',
      () => es256.proof({ signature: () => Buffer.alloc(72, 1) }),
      /signature/,
    ],
    ['no jti', () => es256.proof({ claims: { jti: undefined } }), /"jti"/],
    ['a short jti', () => es256.proof({ claims: { jti: 'x' } }), /"jti"/],
    ['a jti with spaces', () => es256.proof({ claims: { jti: 'a b c d e f g h' } }), /"jti"/],
    ['another method', () => es256.proof({ claims: { htm: 'POST' } }), /"htm"/],
    ['a lower-case method', () => es256.proof({ claims: { htm: 'get' } }), /"htm"/],
    ['another path', () => es256.proof({ claims: { htu: `${URL_}/x` } }), /"htu"/],
    ['another host', () => es256.proof({ claims: { htu: URL_.replace('gateway', 'evil') } }), /"htu"/],
    [
      'userinfo in htu',
      () => es256.proof({ claims: { htu: URL_.replace('https://', 'https://evil@') } }),
      /"htu"/,
    ],
    ['http for https', () => es256.proof({ claims: { htu: URL_.replace('https', 'http') } }), /"htu"/],
    ['no htu', () => es256.proof({ claims: { htu: undefined } }), /"htu"/],
    ['no iat', () => es256.proof({ claims: { iat: undefined } }), /"iat"/],
    ['iat as a string', () => es256.proof({ claims: { iat: String(NOW) } }), /"iat"/],
    ['iat past the skew', () => es256.proof({ claims: { iat: NOW + 61 } }), /future/],
    ['a proof past the window', () => es256.proof({ claims: { iat: NOW - 121 } }), /too old/],
  ])('refuses %s', (_case, proof, reason) => {
    let caught: unknown;
    try {
      verifyDpopProof(proof(), resourceRequest);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(DpopProofError);
    expect((caught as Error).message).toMatch(reason);
  });

  it('refuses an RSA key under 2048 bits', () => {
    expect(() => verifyDpopProof(client('RS256', 1024).proof(), resourceRequest)).toThrow(/2048/);
  });

  it.each([2048, 3072, 4096])('accepts an RSA key of %i bits with e = 65537', (bits) => {
    expect(verifyDpopProof(client('RS256', bits).proof(), resourceRequest)).toMatchObject({ alg: 'RS256' });
  });

  /** An RSA JWK of `bytes` octets whose first is `top`, with exponent `e` (base64url). */
  const rsaJwk = (bytes: number, e = 'AQAB', top = 0xc1) => {
    const n = Buffer.alloc(bytes, 0xa5);
    n[0] = top;
    n[bytes - 1] = 0xa7; // odd
    return { kty: 'RSA', n: n.toString('base64url'), e };
  };
  const rsa = client('RS256');
  /** n - 2, the exponent that made one refused proof cost 6.6 ms: n's octets with the last one less 2. */
  const nMinus2 = (() => {
    const { n } = rsaJwk(384);
    const bytes = Buffer.from(n, 'base64url');
    bytes[bytes.length - 1]! -= 2;
    return bytes.toString('base64url');
  })();
  it.each<[string, Record<string, unknown>, RegExp]>([
    ['e = n - 2 (3072 bits)', { ...rsaJwk(384), e: nMinus2 }, /exponent/],
    ['e = 3', rsaJwk(256, 'Aw'), /exponent/],
    ['e = 65537 with a leading zero octet', rsaJwk(256, 'AAEAAQ'), /exponent/],
    ['no e', { kty: 'RSA', n: rsaJwk(256).n }, /exponent/],
    ['a 4097-bit modulus', rsaJwk(513, 'AQAB', 0x01), /2048 to 4096/],
    ['an 8192-bit modulus', rsaJwk(1024), /2048 to 4096/],
    ['a 2047-bit modulus', rsaJwk(256, 'AQAB', 0x7f), /2048 to 4096/],
    ['a modulus with a leading zero octet', rsaJwk(257, 'AQAB', 0x00), /2048 to 4096/],
    ['a modulus that is not base64url', { kty: 'RSA', n: 'a+b/', e: 'AQAB' }, /2048 to 4096/],
    ['no modulus', { kty: 'RSA', e: 'AQAB' }, /2048 to 4096/],
  ])('refuses an RSA jwk with %s before any key import or signature work', (_case, jwk, reason) => {
    expect(() => verifyDpopProof(rsa.proof({ header: { jwk } }), resourceRequest)).toThrow(reason);
  });

  it.each(['application/dpop+jwt', 'APPLICATION/DPOP+JWT', 'DPoP+JWT'])(
    'accepts typ %s, the same media type as dpop+jwt (RFC 7515 section 4.1.9)',
    (typ) => {
      expect(() => verifyDpopProof(es256.proof({ header: { typ } }), resourceRequest)).not.toThrow();
    },
  );

  it.each(['application/jwt', 'jwt', 'text/dpop+jwt', 'application/dpop+jwt; x=1', 'dpop+jwt '])(
    'refuses typ %s',
    (typ) => {
      expect(() => verifyDpopProof(es256.proof({ header: { typ } }), resourceRequest)).toThrow(/"typ"/);
    },
  );

  it('asks for ath only with an access token, and then requires it', () => {
    const token = 'sv=1&sr=orders&sig=x';
    expect(() => verifyDpopProof(es256.proof(), { ...resourceRequest, accessToken: token })).toThrow(/"ath"/);
    const bound = es256.proof({ claims: { ath: accessTokenHash(token) } });
    expect(() => verifyDpopProof(bound, { ...resourceRequest, accessToken: token })).not.toThrow();
  });
});
