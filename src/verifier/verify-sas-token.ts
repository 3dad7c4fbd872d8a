/**
 * `verifySasToken`: what a downstream function can check of a SAS token on its own, with the
 * gateway's signing keys and nothing else: format, signature, time and scope.
 */
import { parseSigningKeySetting } from '../config/signing-keys';
import { HmacKeyRing, type SigningKeyInput } from './hmac-key-ring';
import { assertSasScope, type SasScopeRequest } from './sas-scope';
import { checkSasTime, parseSasToken, verifySasSignature, type SasAction } from './sas-token';

/** What a verified SAS grants, and to whom. */
export interface SasGrant {
  /** `orders/customers/42`, as signed. */
  readonly scope: string;
  readonly resource: string;
  /** Path scope segments (`['customers', '42']`; `[]` for the whole resource). */
  readonly pathPrefix: readonly string[];
  readonly actions: readonly SasAction[];
  /** `sp` letters. */
  readonly permissions: string;
  /** Token id (`sid`). */
  readonly sid: string;
  /** Ids of the allow policies that granted it (`spi`). */
  readonly policies: readonly string[];
  /** Their version tags when it was issued (`spv`), in the same order. */
  readonly policyVersions: readonly string[];
  readonly tid: string;
  readonly oid: string;
  readonly azp: string;
  /** `st` and `se`, unix seconds. */
  readonly issuedAt: number;
  readonly expiresAt: number;
  /** `skn`. */
  readonly keyName: string;
  /**
   * `jkt`: the RFC 7638 thumbprint of the DPoP key the token is bound to (RFC 9449). A bound
   * token is good only with a proof of that key (`Authorization: DPoP`); absent when unbound.
   */
  readonly jkt?: string;
}

/** Options of {@link verifySasToken}. */
export interface VerifySasTokenOptions extends SasScopeRequest {
  /** The gateway's signing keys (`SAS_SIGNING_KEYS`), or a ring built from them once. */
  readonly keys: HmacKeyRing | readonly SigningKeyInput[];
  /** Default: the system clock. */
  readonly clock?: { now(): number };
  /** Tolerance on `st` only (never on `se`); default 60, as `ENTRA_CLOCK_SKEW_SECONDS`. */
  readonly skewSeconds?: number;
}

/** Rings built from plain key arrays, so a caller passing the same array does not re-import keys. */
const rings = new WeakMap<readonly SigningKeyInput[], HmacKeyRing>();

/** The ring of an option value (cached per array). */
export function keyRingOf(keys: HmacKeyRing | readonly SigningKeyInput[]): HmacKeyRing {
  if (keys instanceof HmacKeyRing) return keys;
  let ring = rings.get(keys);
  if (ring === undefined) {
    ring = new HmacKeyRing(keys);
    rings.set(keys, ring);
  }
  return ring;
}

function checkSkew(skew: number | undefined): number {
  if (skew === undefined) return 60;
  if (!Number.isInteger(skew) || skew < 0 || skew > 600) {
    throw new TypeError('skewSeconds: expected a whole number from 0 to 600');
  }
  return skew;
}

/**
 * Verifies a SAS token the gateway issued: strict format, known key, signature (constant time),
 * `st - skew <= now < se`, and, for each of `resource`, `action` and `path` given, that the
 * request falls inside `sr` / `sp`.
 *
 * What it cannot check: **revocation** and whether the **granting policies (`spi`) still exist
 * and are enabled**. Only the gateway knows those; a downstream that needs them should accept
 * calls through the gateway's proxy only (and verify `x-gateway-principal`), or keep tokens short.
 *
 * @example A downstream Azure Function (`SAS_SIGNING_KEYS` copied from the gateway's Key Vault):
 * ```ts
 * import { app } from '@azure/functions';
 * import { parseSigningKeys, verifySasToken, VerifierError } from '../verifier';
 *
 * const keys = parseSigningKeys(process.env.SAS_SIGNING_KEYS!);
 * app.http('orders', { route: 'orders/{*path}', handler: async (request) => {
 *   const auth = request.headers.get('authorization') ?? '';
 *   try {
 *     const grant = verifySasToken(auth.replace(/^SharedAccessSignature /, ''), {
 *       keys, resource: 'orders', action: 'read', path: `/${request.params.path ?? ''}`,
 *     });
 *     return { jsonBody: { for: grant.oid } };
 *   } catch (err) {
 *     if (err instanceof VerifierError) return { status: err.status, jsonBody: { code: err.code } };
 *     throw err;
 *   }
 * } });
 * ```
 * @throws {VerifierError} `ERR_SAS_INVALID`, `ERR_SAS_EXPIRED`, `ERR_SAS_NOT_YET_VALID` (401);
 *   `ERR_SAS_SCOPE` (403).
 * @throws {TypeError} bad options (checked before the token is looked at).
 */
export function verifySasToken(token: string, options: VerifySasTokenOptions): SasGrant {
  const keys = keyRingOf(options.keys);
  const skew = checkSkew(options.skewSeconds);
  const now = Math.floor((options.clock ?? Date).now() / 1000);
  const parsed = parseSasToken(token);
  verifySasSignature(parsed, keys);
  checkSasTime(parsed, now, skew);
  const grant = grantOf(parsed);
  if (options.resource !== undefined || options.action !== undefined || options.path !== undefined) {
    assertSasScope(grant, options);
  }
  return grant;
}

/** The grant of a parsed (and verified) token. */
export function grantOf(parsed: ReturnType<typeof parseSasToken>): SasGrant {
  return {
    scope: parsed.sr,
    resource: parsed.resource,
    pathPrefix: parsed.pathPrefix,
    actions: parsed.actions,
    permissions: parsed.sp,
    sid: parsed.sid,
    policies: parsed.spi,
    policyVersions: parsed.spv,
    tid: parsed.tid,
    oid: parsed.oid,
    azp: parsed.azp,
    issuedAt: parsed.st,
    expiresAt: parsed.se,
    keyName: parsed.skn,
    ...(parsed.jkt === undefined ? {} : { jkt: parsed.jkt }),
  };
}

/**
 * Parses `SAS_SIGNING_KEYS` (`name=base64secret,...`) into keys for the options above.
 *
 * @throws {TypeError} naming the pair at fault: no name, not base64, too short, a repeated name
 *   (the secret is never echoed).
 */
export function parseSigningKeys(setting: string): SigningKeyInput[] {
  return parseSigningKeySetting(setting);
}
