/**
 * The `x-gateway-principal` statement: who the caller is, as the gateway vouches for it to a
 * downstream. A standard JWT signed with ES256 by the gateway's statement key, published in its
 * JWKS (`/api/.well-known/jwks.json`), so a downstream in any language verifies it with its usual
 * JWT library and holds no secret (docs/downstream-trust.md).
 *
 * Why ES256: every JOSE library supports it (it is what Google Cloud IAP and AWS ALB sign with),
 * its signatures and keys are small, and signing is cheaper than RS256. Why signed by hand here:
 * the header is fixed per key and the claims are few, so a signature over
 * `base64url(header).base64url(claims)` with node:crypto is the whole job; jsonwebtoken's option
 * handling would cost more than the signature. Two independent libraries verify what this
 * produces in the tests (jsonwebtoken with jwks-rsa, and jose).
 */
import { createPrivateKey, createPublicKey, sign, type KeyObject } from 'node:crypto';
import type { Principal } from '../auth/principal';
import { nowSeconds, type Clock } from '../clock';
import type { StatementKey } from '../config/signing-keys';
import { randomText } from '../random';

/** A statement's lifetime: one call, with room for a slow upstream and clock skew. */
export const STATEMENT_TTL_SECONDS = 60;
/**
 * How long a signed statement is reused for the same caller and downstream: half its lifetime,
 * so every statement sent has at least 30 s left. Why reuse: an ES256 signature costs tens of
 * microseconds; a caller's repeated calls need the same statement, as IAP reuses its assertion.
 */
export const STATEMENT_REUSE_SECONDS = STATEMENT_TTL_SECONDS / 2;

/** A public key as the JWKS publishes it. */
export interface StatementJwk {
  readonly kty: 'EC';
  readonly crv: 'P-256';
  readonly x: string;
  readonly y: string;
  readonly kid: string;
  readonly use: 'sig';
  readonly alg: 'ES256';
}

/** The request a bound statement is tied to. */
export interface BoundRequest {
  /** `GET`, `POST`, ... */
  readonly method: string;
  /** The upstream URL the call goes to, without query or fragment (RFC 9449 `htu`). */
  readonly url: string;
}

interface Signed {
  readonly token: string;
  readonly reuseUntil: number;
}

const b64url = (value: string | Buffer): string => Buffer.from(value).toString('base64url');

/**
 * Signs statements with the first key of the ring and publishes every key's public half.
 *
 * @example
 * ```ts
 * const signer = new StatementSigner(config.statement.signingKeys, clock);
 * headers['x-gateway-principal'] = signer.statementFor(principal, 'orders', 'https://gw.example/api');
 * ```
 */
export class StatementSigner {
  /** The JWKS document: every configured key, signing key first. */
  readonly jwks: { readonly keys: readonly StatementJwk[] };
  private readonly key: KeyObject;
  /** `base64url({"alg":"ES256","typ":"JWT","kid":...})` of the signing key, followed by `.`. */
  private readonly headerPart: string;
  /** Signed statements by principal (the verified-credential caches keep one object per token). */
  private readonly reused = new WeakMap<Principal, Map<string, Signed>>();

  constructor(
    keys: readonly StatementKey[],
    private readonly clock: Clock,
  ) {
    if (keys.length === 0) throw new TypeError('statement keys: expected at least one');
    const objects = keys.map((k) => ({
      name: k.name,
      key: createPrivateKey({ key: k.der, format: 'der', type: 'pkcs8' }),
    }));
    this.key = objects[0]!.key;
    this.headerPart = `${b64url(JSON.stringify({ alg: 'ES256', typ: 'JWT', kid: objects[0]!.name }))}.`;
    this.jwks = Object.freeze({
      keys: Object.freeze(
        objects.map(({ name, key }) => {
          const { x, y } = createPublicKey(key).export({ format: 'jwk' });
          return Object.freeze({
            kty: 'EC',
            crv: 'P-256',
            x: x!,
            y: y!,
            kid: name,
            use: 'sig',
            alg: 'ES256',
          } as const);
        }),
      ),
    });
  }

  /** The statement for a caller and downstream, reused for {@link STATEMENT_REUSE_SECONDS}. */
  statementFor(principal: Principal, audience: string, issuer: string): string {
    const now = nowSeconds(this.clock);
    let byTarget = this.reused.get(principal);
    const key = `${issuer}\n${audience}`;
    const held = byTarget?.get(key);
    if (held !== undefined && now < held.reuseUntil) return held.token;
    const token = this.sign(claimsOf(principal, audience, issuer, now));
    if (byTarget === undefined) {
      byTarget = new Map();
      this.reused.set(principal, byTarget);
    }
    byTarget.set(key, { token, reuseUntil: now + STATEMENT_REUSE_SECONDS });
    return token;
  }

  /** A statement bound to one request (`htm`, `htu`, `jti`): signed for this call only. */
  boundStatementFor(principal: Principal, audience: string, issuer: string, request: BoundRequest): string {
    return this.sign({
      ...claimsOf(principal, audience, issuer, nowSeconds(this.clock)),
      htm: request.method,
      htu: request.url,
      jti: randomText(16, 'base64url'),
    });
  }

  private sign(claims: Record<string, unknown>): string {
    const input = this.headerPart + b64url(JSON.stringify(claims));
    const signature = sign('sha256', Buffer.from(input), { key: this.key, dsaEncoding: 'ieee-p1363' });
    return `${input}.${signature.toString('base64url')}`;
  }
}

/** The claims of a statement: the caller as verified, for one downstream. */
function claimsOf(
  principal: Principal,
  audience: string,
  issuer: string,
  now: number,
): Record<string, unknown> {
  return {
    iss: issuer,
    aud: audience,
    // The caller's object id; an app-only caller without one is named by its client id.
    sub: principal.oid ?? principal.azp ?? principal.tid,
    ...(principal.oid === undefined ? {} : { oid: principal.oid }),
    tid: principal.tid,
    ...(principal.azp === undefined ? {} : { azp: principal.azp }),
    roles: principal.roles,
    ...(principal.scopes.length === 0 ? {} : { scp: principal.scopes.join(' ') }),
    idtyp: principal.idtyp,
    // The credential the caller presented: an Entra token or a SAS token of this gateway.
    cred: principal.kind,
    iat: now,
    exp: now + STATEMENT_TTL_SECONDS,
  };
}
