/**
 * DPoP proofs (RFC 9449 section 4): the checks of section 4.3 that need no state, the key's RFC
 * 7638 thumbprint and the `ath` hash. Replay (`jti`) is the caller's, through a
 * {@link ReplayStore}; see src/dpop/dpop-verifier.ts.
 *
 * Written on node:crypto rather than a JOSE library: jose 6 is ESM-only (jest cannot load it
 * here), jsonwebtoken takes no key from the token's own header, and the checks are few and all
 * named by the RFC. The RFC's own examples are the unit tests' vectors.
 */
import { createHash, createPublicKey, verify, constants, type KeyObject } from 'node:crypto';
import { DPOP_ALGS } from '../errors';

/** The signature algorithms a proof may use: asymmetric ones only (section 4.2), `none` and MACs never. */
export const DPOP_ALGORITHMS = DPOP_ALGS;
export type DpopAlgorithm = (typeof DPOP_ALGORITHMS)[number];

/** Longest `DPoP` header accepted (an RSA-4096 key's proof is ~1.5 KB). */
export const MAX_PROOF_LENGTH = 8192;

/** Why a proof was refused: a stable reason, turned into `invalid_dpop_proof` by the caller. */
export class DpopProofError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DpopProofError';
  }
}

const refuse = (why: string): never => {
  throw new DpopProofError(why);
};

/** What the request says a proof must match. */
export interface ProofExpectation {
  /** The request's method, as sent (`GET`). */
  readonly method: string;
  /**
   * The request's URLs a proof's `htu` may name (normally one; two when the gateway also has a
   * public issuer URL in front of the one it was reached at). Query and fragment are ignored.
   */
  readonly urls: readonly string[];
  /** The access token the proof comes with (`Authorization: DPoP <token>`): `ath` must be its hash. */
  readonly accessToken?: string;
  /** Unix seconds now. */
  readonly now: number;
  /** How old a proof may be (`iat` in the past), in seconds. */
  readonly maxAgeSeconds: number;
  /** Clock tolerance, both ways. */
  readonly skewSeconds: number;
}

/** A proof that passed every stateless check. */
export interface VerifiedProof {
  /** RFC 7638 thumbprint (SHA-256, base64url) of the proof's key: what a token is bound to. */
  readonly jkt: string;
  readonly jti: string;
  readonly iat: number;
  readonly alg: DpopAlgorithm;
  /**
   * Unix seconds (exclusive) from which the proof is refused as too old: its `jti` must be
   * remembered until then ({@link proofAcceptedUntil}).
   */
  readonly expiresAt: number;
}

/**
 * The first instant (unix seconds) at which a proof issued at `iat` is refused as too old: the
 * one boundary that the stateless check and every replay store share. The check compares whole
 * seconds, `floor(now) - maxAge - skew <= iat`, so a proof passes for every `now` below
 * `floor(iat + maxAge + skew) + 1`; a store that forgot its `jti` earlier (at `ceil(iat + ...)`
 * against a fractional now) let it be replayed in the last second of its window.
 */
export function proofAcceptedUntil(iat: number, maxAgeSeconds: number, skewSeconds: number): number {
  return Math.floor(iat + maxAgeSeconds + skewSeconds) + 1;
}

interface Jwk {
  readonly kty?: unknown;
  readonly crv?: unknown;
  readonly x?: unknown;
  readonly y?: unknown;
  readonly n?: unknown;
  readonly e?: unknown;
  readonly [member: string]: unknown;
}

/** Members that only a private (or symmetric) key has: a proof's `jwk` must carry none. */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

const CURVE_OF: Partial<Record<DpopAlgorithm, string>> = {
  ES256: 'P-256',
  ES384: 'P-384',
  ES512: 'P-521',
  EdDSA: 'Ed25519',
};
const HASH_OF: Record<DpopAlgorithm, string | null> = {
  ES256: 'sha256',
  ES384: 'sha384',
  ES512: 'sha512',
  PS256: 'sha256',
  RS256: 'sha256',
  EdDSA: null,
};
const KTY_OF: Record<DpopAlgorithm, string> = {
  ES256: 'EC',
  ES384: 'EC',
  ES512: 'EC',
  PS256: 'RSA',
  RS256: 'RSA',
  EdDSA: 'OKP',
};
const B64URL = /^[A-Za-z0-9_-]+$/;
const JTI = /^[\x21-\x7e]{8,256}$/;
/**
 * The RSA keys a proof may carry: a public exponent of 65537 (`AQAB`) and a modulus of 2048 to
 * 4096 bits. Why: a key's cost is the attacker's choice. With `e = n - 2` and a 3072-bit modulus
 * one refused proof cost 6.6-6.8 ms of CPU, 10-20 times any other refusal and 5 times a
 * successful DPoP call, before any per-caller limit. Every RSA key a real client generates has
 * e = 65537 (WebCrypto, Android Keystore, iOS, OpenSSL defaults), and 4096 bits is NIST's
 * largest common size; both are checked on the JWK's text, before the key is imported.
 */
const RSA_EXPONENT = 'AQAB';
const MIN_RSA_BITS = 2048;
const MAX_RSA_BITS = 4096;

/** The bit length of a base64url big-endian unsigned integer with no leading zero octet, or 0. */
function modulusBits(n: string): number {
  if (!B64URL.test(n) || n.length > Math.ceil((MAX_RSA_BITS / 8) * (4 / 3)) + 4) return 0;
  const bytes = Buffer.from(n, 'base64url');
  if (bytes.length === 0 || bytes[0] === 0) return 0;
  return (bytes.length - 1) * 8 + (32 - Math.clz32(bytes[0]!));
}

/**
 * RFC 7515 section 4.1.9: a `typ` without a `/` means `application/` followed by it, and media
 * types compare without case, so `dpop+jwt` and `application/dpop+jwt` are one type.
 */
function isDpopType(typ: unknown): boolean {
  if (typeof typ !== 'string') return false;
  const type = typ.toLowerCase();
  return type === 'dpop+jwt' || type === 'application/dpop+jwt';
}

/**
 * RFC 7638 thumbprint of a public JWK: SHA-256 over its required members in lexicographic order,
 * no whitespace, base64url.
 *
 * @example
 * ```ts
 * jwkThumbprint({ kty: 'EC', crv: 'P-256', x: 'l8tF...', y: '9VE4...' }); // '0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I'
 * ```
 */
export function jwkThumbprint(jwk: Jwk): string {
  const members =
    jwk.kty === 'EC'
      ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y }
      : jwk.kty === 'RSA'
        ? { e: jwk.e, kty: jwk.kty, n: jwk.n }
        : jwk.kty === 'OKP'
          ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x }
          : refuse('the key type is not EC, RSA or OKP');
  for (const value of Object.values(members)) if (typeof value !== 'string') refuse('the key lacks a member');
  return createHash('sha256').update(JSON.stringify(members)).digest('base64url');
}

/** `ath`: base64url SHA-256 of the access token's ASCII text (section 4.2). */
export function accessTokenHash(accessToken: string): string {
  return createHash('sha256').update(accessToken, 'ascii').digest('base64url');
}

/**
 * A URL as `htu` compares (section 4.3 step 9): no query or fragment, after RFC 3986 syntax- and
 * scheme-based normalization (lower-case scheme and host, default port dropped, dot segments
 * removed by the WHATWG URL parser; escapes of unreserved characters decoded, other escapes in
 * upper case). Undefined when not an
 * absolute http(s) URL, or when it holds userinfo.
 */
export function normalizeHtu(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') return undefined;
  // A request's URL never holds userinfo (RFC 9110 section 4.2.4 forbids it in http(s) URIs), so
  // an htu with `user@` names no request this server received: refused, not compared without it.
  if (parsed.username !== '' || parsed.password !== '') return undefined;
  // RFC 3986 section 6.2.2.2: an escaped unreserved character is that character; any other
  // escape keeps its upper-case form.
  const path = parsed.pathname.replace(/%[0-9a-fA-F]{2}/g, (escape) => {
    const char = String.fromCharCode(parseInt(escape.slice(1), 16));
    return /[A-Za-z0-9._~-]/.test(char) ? char : escape.toUpperCase();
  });
  return `${parsed.protocol}//${parsed.host}${path}`;
}

/** A proof's key, parsed once per distinct proof header (clients reuse one key for many proofs). */
interface ProofKey {
  readonly alg: DpopAlgorithm;
  readonly key: KeyObject;
  readonly jkt: string;
}

/** Parsed headers by their base64url text: bounded, cleared when full. */
const keys = new Map<string, ProofKey>();
const KEY_CACHE_SIZE = 1000;

function decodeJson(segment: string, what: string): Record<string, unknown> {
  if (!B64URL.test(segment)) refuse(`the ${what} is not base64url`);
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
  } catch {
    refuse(`the ${what} is not JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    refuse(`the ${what} is not an object`);
  return value as Record<string, unknown>;
}

function proofKey(headerSegment: string): ProofKey {
  const cached = keys.get(headerSegment);
  if (cached !== undefined) return cached;
  const header = decodeJson(headerSegment, 'header');
  if (!isDpopType(header.typ)) refuse('"typ" is not dpop+jwt');
  const alg = header.alg as DpopAlgorithm;
  if (!(DPOP_ALGORITHMS as readonly unknown[]).includes(alg))
    refuse(`"alg" is not one of ${DPOP_ALGORITHMS.join(', ')}`);
  if (header.crit !== undefined) refuse('"crit" is not supported');
  const jwk = header.jwk as Jwk | undefined;
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) refuse('the header has no "jwk"');
  for (const member of PRIVATE_MEMBERS) if (member in jwk!) refuse('"jwk" holds a private key');
  if (jwk!.kty !== KTY_OF[alg]) refuse(`"jwk" is not a ${KTY_OF[alg]} key, as "alg" ${alg} needs`);
  const curve = CURVE_OF[alg];
  if (curve !== undefined && jwk!.crv !== curve) refuse(`"jwk" is not on ${curve}, as "alg" ${alg} needs`);
  if (KTY_OF[alg] === 'RSA') {
    // On the JWK's text, before any key import or signature work (see RSA_EXPONENT).
    if (jwk!.e !== RSA_EXPONENT) refuse('"jwk" is an RSA key whose exponent is not 65537');
    const bits = typeof jwk!.n === 'string' ? modulusBits(jwk!.n) : 0;
    if (bits < MIN_RSA_BITS || bits > MAX_RSA_BITS)
      refuse(`"jwk" is not an RSA key of ${MIN_RSA_BITS} to ${MAX_RSA_BITS} bits`);
  }
  const jkt = jwkThumbprint(jwk!);
  let key: KeyObject;
  try {
    key = createPublicKey({ key: { ...jwk! } as never, format: 'jwk' });
  } catch {
    return refuse('"jwk" is not a valid public key');
  }
  const parsed = { alg, key, jkt };
  if (keys.size >= KEY_CACHE_SIZE) keys.clear();
  keys.set(headerSegment, parsed);
  return parsed;
}

function signatureVerifies(proofKey: ProofKey, signingInput: string, signature: Buffer): boolean {
  const { alg, key } = proofKey;
  const data = Buffer.from(signingInput, 'ascii');
  if (alg === 'EdDSA') return verify(null, data, key, signature);
  if (alg.startsWith('ES')) return verify(HASH_OF[alg], data, { key, dsaEncoding: 'ieee-p1363' }, signature);
  if (alg === 'PS256') {
    return verify(
      'sha256',
      data,
      { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 },
      signature,
    );
  }
  return verify('sha256', data, key, signature);
}

/**
 * Checks one proof as RFC 9449 section 4.3 asks, but for `jti` replay and `nonce` (the gateway
 * sends no nonces): one JWS of `typ` `dpop+jwt`, an allowed asymmetric `alg`, a public `jwk` that
 * verifies the signature, `htm` and `htu` of this request, `iat` inside the window, and `ath`
 * of the access token when one comes with it.
 *
 * @throws {DpopProofError} naming the first check that failed.
 */
export function verifyDpopProof(proof: string, expected: ProofExpectation): VerifiedProof {
  if (proof.length > MAX_PROOF_LENGTH) refuse('the proof is too large');
  const parts = proof.split('.');
  if (parts.length !== 3) refuse('the proof is not one compact JWS');
  const [headerSegment, payloadSegment, signatureSegment] = parts as [string, string, string];
  const key = proofKey(headerSegment);
  if (!B64URL.test(signatureSegment)) refuse('the signature is not base64url');
  if (
    !signatureVerifies(key, `${headerSegment}.${payloadSegment}`, Buffer.from(signatureSegment, 'base64url'))
  )
    refuse('the signature does not verify with "jwk"');

  const claims = decodeJson(payloadSegment, 'payload');
  const { jti, htm, htu, iat, ath } = claims;
  if (typeof jti !== 'string' || !JTI.test(jti))
    refuse('"jti" is missing or not 8 to 256 visible characters');
  if (htm !== expected.method) refuse('"htm" is not the request method');
  const target = typeof htu === 'string' ? normalizeHtu(htu) : undefined;
  if (target === undefined || !expected.urls.some((url) => normalizeHtu(url) === target))
    refuse('"htu" is not the request URL');
  if (typeof iat !== 'number' || !Number.isFinite(iat)) refuse('"iat" is missing');
  const issuedAt = iat as number;
  if (issuedAt > expected.now + expected.skewSeconds) refuse('"iat" is in the future');
  if (issuedAt < expected.now - expected.maxAgeSeconds - expected.skewSeconds) refuse('the proof is too old');
  if (expected.accessToken !== undefined && ath !== accessTokenHash(expected.accessToken))
    refuse('"ath" is not the hash of the access token');
  return {
    jkt: key.jkt,
    jti: jti as string,
    iat: issuedAt,
    alg: key.alg,
    expiresAt: proofAcceptedUntil(issuedAt, expected.maxAgeSeconds, expected.skewSeconds),
  };
}
