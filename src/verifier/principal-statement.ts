/**
 * The `x-gateway-principal` statement: a short-lived, HMAC-SHA256-signed statement the gateway's
 * proxy adds to every forwarded call, saying who the caller is (`oid`, `tid`, `azp`, `roles`)
 * and for which resource (`aud`). Downstream functions verify it with
 * {@link verifyPrincipalStatement} instead of trusting any header a caller could send.
 *
 * Format (docs/sas-token.md, "x-gateway-principal"): `base64url(JSON payload) "." base64url(sig)`.
 * Payload members: `v` (1), `kid` (signing key name), `aud` (resource name), `oid`, `tid`,
 * `azp`, `roles`, `cid` (correlation id), `iat`, `exp` (= `iat` + ttl, at most 300 s).
 * `sig` = HMAC-SHA256 over the ASCII of the first part, keyed with the statement key of `kid`:
 * HMAC-SHA256(secret, "x-gateway-principal/v1"). Why a derived key: a statement signature can
 * never be a SAS signature (nor the reverse), even though both come from `SAS_SIGNING_KEYS`.
 */
import { createHmac, timingSafeEqual, type KeyObject, createSecretKey } from 'node:crypto';
import type { HmacKey, HmacKeyRing, SigningKeyInput } from './hmac-key-ring';
import { keyRingOf } from './verify-sas-token';
import { VerifierError } from './verifier-error';

/** What the gateway states about a caller. */
export interface PrincipalClaims {
  readonly oid: string | undefined;
  readonly tid: string;
  readonly azp: string | undefined;
  readonly roles: readonly string[];
  /** The resource the call is forwarded to: the statement's audience. */
  readonly resource: string;
  readonly correlationId: string;
}

/** A verified statement. */
export interface PrincipalStatement extends PrincipalClaims {
  readonly keyName: string;
  readonly issuedAt: number;
  readonly expiresAt: number;
}

/** Longest lifetime a statement may have (and the verifier accepts): they are per-call. */
export const MAX_STATEMENT_TTL_SECONDS = 300;
/** Longest statement header accepted, in characters. */
export const MAX_STATEMENT_LENGTH = 8192;

const DERIVATION_LABEL = 'x-gateway-principal/v1';
const B64URL = /^[A-Za-z0-9_-]+$/;

const statementKeys = new WeakMap<HmacKey, KeyObject>();

/** The statement key of a ring key (derived once, then cached). */
function statementKey(key: HmacKey): KeyObject {
  let derived = statementKeys.get(key);
  if (derived === undefined) {
    derived = createSecretKey(createHmac('sha256', key.key).update(DERIVATION_LABEL).digest());
    statementKeys.set(key, derived);
  }
  return derived;
}

function sign(input: string, key: HmacKey): string {
  return createHmac('sha256', statementKey(key)).update(input, 'latin1').digest('base64url');
}

/**
 * Creates the `x-gateway-principal` header value for one forwarded call, signed with the ring's
 * signing key.
 *
 * @param claims who is calling and which resource the call goes to
 * @param keyRing the gateway's SAS key ring (or its keys)
 * @param now unix seconds
 * @param ttl seconds the statement is valid; default 60, at most 300
 * @example
 * ```ts
 * const header = createPrincipalStatement(
 *   { oid: principal.oid, tid: principal.tid, azp: principal.azp, roles: principal.roles, resource: 'orders', correlationId },
 *   gateway.sasKeys, nowSeconds(gateway.clock));
 * ```
 * @throws {TypeError} a ttl outside 1..300 or a now that is not whole seconds.
 */
export function createPrincipalStatement(
  claims: PrincipalClaims,
  keyRing: HmacKeyRing | readonly SigningKeyInput[],
  now: number,
  ttl = 60,
): string {
  if (!Number.isInteger(ttl) || ttl < 1 || ttl > MAX_STATEMENT_TTL_SECONDS) {
    throw new TypeError(`ttl: expected a whole number of seconds from 1 to ${MAX_STATEMENT_TTL_SECONDS}`);
  }
  if (!Number.isInteger(now) || now < 0) throw new TypeError('now: expected unix seconds');
  const ring = keyRingOf(keyRing);
  const payload = {
    v: 1,
    kid: ring.signing.name,
    aud: claims.resource,
    ...(claims.oid === undefined ? {} : { oid: claims.oid }),
    tid: claims.tid,
    ...(claims.azp === undefined ? {} : { azp: claims.azp }),
    roles: [...claims.roles],
    cid: claims.correlationId,
    iat: now,
    exp: now + ttl,
  };
  const body = Buffer.from(JSON.stringify(payload), 'utf8').toString('base64url');
  return `${body}.${sign(body, ring.signing)}`;
}

/** Options of {@link verifyPrincipalStatement}. */
export interface VerifyPrincipalStatementOptions {
  readonly keys: HmacKeyRing | readonly SigningKeyInput[];
  readonly clock?: { now(): number };
  /**
   * The resource this function is (`aud` must equal it). Strongly recommended: without it, a
   * statement forwarded to another resource would be accepted here too.
   */
  readonly expectedResource?: string;
  /** Tolerance on `iat`; default 60. */
  readonly skewSeconds?: number;
}

const bad = (why: string) => new VerifierError('ERR_PRINCIPAL_STATEMENT_INVALID', why);

const isString = (v: unknown): v is string => typeof v === 'string';
const isOptionalString = (v: unknown): v is string | undefined => v === undefined || typeof v === 'string';
const isSeconds = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;

/**
 * Verifies an `x-gateway-principal` header: shape, known `kid`, signature (constant time),
 * `iat - skew <= now < exp`, a lifetime of at most 300 s, and `aud` = `expectedResource`.
 *
 * @example A downstream Azure Function behind the gateway's proxy:
 * ```ts
 * import { app } from '@azure/functions';
 * import { parseSigningKeys, verifyPrincipalStatement, VerifierError } from 'entra-functions-gateway/verifier';
 *
 * const keys = parseSigningKeys(process.env.SAS_SIGNING_KEYS!);
 * app.http('orders', { route: 'orders/{*path}', handler: async (request) => {
 *   try {
 *     const caller = verifyPrincipalStatement(request.headers.get('x-gateway-principal') ?? '', {
 *       keys, expectedResource: 'orders',
 *     });
 *     return { jsonBody: { oid: caller.oid, roles: caller.roles } };
 *   } catch (err) {
 *     if (err instanceof VerifierError) return { status: err.status, jsonBody: { code: err.code } };
 *     throw err;
 *   }
 * } });
 * ```
 * @throws {VerifierError} `ERR_PRINCIPAL_STATEMENT_INVALID` or `ERR_PRINCIPAL_STATEMENT_EXPIRED` (401).
 */
export function verifyPrincipalStatement(
  header: string,
  options: VerifyPrincipalStatementOptions,
): PrincipalStatement {
  const ring = keyRingOf(options.keys);
  const skew = options.skewSeconds ?? 60;
  if (!Number.isInteger(skew) || skew < 0 || skew > 600) {
    throw new TypeError('skewSeconds: expected a whole number from 0 to 600');
  }
  if (typeof header !== 'string' || header.length === 0) throw bad('no statement');
  if (header.length > MAX_STATEMENT_LENGTH) throw bad('the statement is too large');
  const dot = header.indexOf('.');
  if (dot <= 0 || dot !== header.lastIndexOf('.')) throw bad('the statement is not two parts');
  const body = header.slice(0, dot);
  const sig = header.slice(dot + 1);
  if (!B64URL.test(body) || sig.length !== 43 || !B64URL.test(sig))
    throw bad('the statement is not base64url');
  let payload: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      throw new Error('not an object');
    payload = parsed as Record<string, unknown>;
  } catch {
    throw bad('the statement payload is not a JSON object');
  }
  const key = isString(payload.kid) ? ring.get(payload.kid) : undefined;
  if (key === undefined) throw bad('the statement is signed with an unknown key');
  const expected = Buffer.from(sign(body, key), 'latin1');
  if (!timingSafeEqual(expected, Buffer.from(sig, 'latin1'))) throw bad('the signature does not verify');

  const { v, aud, oid, tid, azp, roles, cid, iat, exp } = payload;
  if (
    v !== 1 ||
    !isString(aud) ||
    !isOptionalString(oid) ||
    !isString(tid) ||
    !isOptionalString(azp) ||
    !Array.isArray(roles) ||
    !roles.every(isString) ||
    !isString(cid) ||
    !isSeconds(iat) ||
    !isSeconds(exp)
  ) {
    throw bad('the statement payload has a missing or mistyped member');
  }
  if (exp <= iat || exp - iat > MAX_STATEMENT_TTL_SECONDS)
    throw bad('the statement lifetime is out of range');
  const now = Math.floor((options.clock ?? Date).now() / 1000);
  if (now >= exp) throw new VerifierError('ERR_PRINCIPAL_STATEMENT_EXPIRED', 'The statement has expired');
  if (now < iat - skew) throw bad('the statement is not valid yet');
  if (options.expectedResource !== undefined && aud !== options.expectedResource) {
    throw bad('the statement is for another resource');
  }
  return {
    oid,
    tid,
    azp,
    roles,
    resource: aud,
    correlationId: cid,
    keyName: key.name,
    issuedAt: iat,
    expiresAt: exp,
  };
}
