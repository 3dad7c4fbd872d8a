/**
 * Entra ID access token validation: credential in, {@link Principal} out.
 *
 * The pipeline of one token, cheapest checks first:
 * 1. verified-token cache (SHA-256 of the token) — a repeated token stops here;
 * 2. shape: size cap, three base64url segments, header `alg` exactly RS256, `kid`, `ver`;
 * 3. OpenID metadata of the token's version (issuer, jwks_uri) and the key for `kid`;
 * 4. `jsonwebtoken.verify` with a KeyObject, RS256 only, `exp`/`nbf` with the configured skew,
 *    and `nbf` not after `exp`;
 * 5. claims: `exp` present, `aud` (one trailing `/` ignored), `tid` allowed, `iss` equal to the
 *    metadata issuer for `tid`, claim types, a scope or an app role (unless ACL authorization);
 * 6. the signing key's own `issuer`, when its JWK names one, fits the token's; then the Principal.
 *
 * docs/entra-validation.md lists the rules in order, each with its code.
 */
import type { KeyObject } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { nowSeconds, type Clock } from '../../clock';
import type { Config } from '../../config/load-config';
import { GatewayError, type ErrorCode } from '../../errors';
import type { Logger } from '../../logger';
import type { Principal } from '../principal';
import { checkSigningKeyIssuer, principalFromEntraClaims } from './claims';
import { ENTRA_DEFAULTS, type EntraCachePolicy } from './entra-defaults';
import { fetchOpenIdMetadata, type OpenIdMetadata } from './openid-metadata';
import { RefreshingValue } from './refreshing-value';
import { SigningKeySet } from './signing-keys';
import { parseTokenShape, type EntraTokenVersion } from './token-shape';
import { VerifiedTokenCache } from './verified-token-cache';

/** The state of an external dependency, as `/api/health` reports it. */
export interface DependencyHealth {
  readonly status: 'ok' | 'degraded' | 'down';
  readonly detail?: string;
}

/** Options of {@link EntraTokenValidator}. */
export interface EntraTokenValidatorOptions {
  readonly config: Config['entra'];
  readonly clock: Clock;
  readonly logger: Logger;
  /** Used for metadata and JWKS requests; defaults to the global fetch. */
  readonly fetch?: typeof fetch;
  /** Overrides of {@link ENTRA_DEFAULTS} (tests, benchmarks). */
  readonly policy?: Partial<EntraCachePolicy>;
  /** Called after every JWKS fetch (metrics). */
  readonly onJwksFetched?: (outcome: 'ok' | 'failed') => void;
}

/** Counters for tests and benchmarks: they prove which path a token took. */
export interface EntraValidationStats {
  /** Tokens that went through `jsonwebtoken.verify` (the RS256 path). */
  signatureVerifications: number;
  /** Tokens answered from the verified-token cache. */
  cacheHits: number;
}

const VERSIONS: readonly EntraTokenVersion[] = ['2.0', '1.0'];

/**
 * Validates Entra ID access tokens (v1 and v2) against the configured authority and tenant.
 *
 * @example
 * ```ts
 * const validator = new EntraTokenValidator({ config: config.entra, clock: systemClock, logger });
 * await validator.warmUp(); // never throws; health() tells whether it worked
 * const principal = await validator.verify(bearerToken); // throws GatewayError (401 / 503)
 * ```
 */
export class EntraTokenValidator {
  readonly stats: EntraValidationStats = { signatureVerifications: 0, cacheHits: 0 };
  private readonly policy: EntraCachePolicy;
  private readonly fetchImpl: typeof fetch;
  private readonly metadata: Record<EntraTokenVersion, RefreshingValue<OpenIdMetadata>>;
  /** By jwks_uri: v1 and v2 metadata may name different JWKS documents. */
  private readonly keySets = new Map<string, SigningKeySet>();
  private readonly verified: VerifiedTokenCache;

  constructor(readonly options: EntraTokenValidatorOptions) {
    this.policy = { ...ENTRA_DEFAULTS, ...options.policy };
    this.fetchImpl = options.fetch ?? globalThis.fetch;
    this.verified = new VerifiedTokenCache(this.policy.verifiedTokenCacheSize);
    const { authority, tenantId } = options.config;
    const metadataFor = (version: EntraTokenVersion) =>
      new RefreshingValue<OpenIdMetadata>(
        `openid-configuration v${version}`,
        () => fetchOpenIdMetadata(this.fetchImpl, authority, tenantId, version, this.policy.fetchTimeoutMs),
        options.clock,
        options.logger,
        // New metadata may name a JWKS we do not hold yet: start loading it now, not on the
        // first token that needs it.
        (metadata) => {
          const keys = this.keySetFor(metadata.jwksUri);
          if (!keys.loaded) keys.refreshInBackgroundIfDue();
        },
      );
    this.metadata = { '2.0': metadataFor('2.0'), '1.0': metadataFor('1.0') };
  }

  /**
   * Loads metadata and signing keys of both token versions so the first requests do not wait on
   * the IdP. Never throws: failures show in {@link health} and requests fail closed meanwhile.
   */
  async warmUp(): Promise<void> {
    await Promise.all(
      VERSIONS.map(async (version) => {
        const metadata = this.metadata[version];
        await metadata.refresh();
        if (metadata.value) await this.keySetFor(metadata.value.jwksUri).refresh();
      }),
    );
  }

  /**
   * Verifies an Entra access token and returns its principal.
   *
   * @throws {GatewayError} 401 codes for every bad token (`ERR_TOKEN_*`); 503
   *   `ERR_IDP_UNAVAILABLE` only when metadata or keys were never loaded and cannot be now.
   */
  async verify(token: string): Promise<Principal> {
    // Size before hashing: never hash (or parse) megabytes for a hostile client.
    if (token.length > this.policy.maxTokenBytes) throw new GatewayError('ERR_TOKEN_TOO_LARGE');
    const now = nowSeconds(this.options.clock);
    const cacheKey = VerifiedTokenCache.keyOf(token);
    const cached = this.verified.get(cacheKey, now);
    if (cached) {
      this.stats.cacheHits += 1;
      return cached;
    }

    const shape = parseTokenShape(token, this.policy.maxTokenBytes);
    // Fast path without awaits when metadata and key are held (the steady state); the async
    // path loads or refetches them under the cache policy.
    const metadata = this.heldMetadata(shape.version) ?? (await this.metadataFor(shape.version));
    const keySet = this.keySetFor(metadata.jwksUri);
    const key = keySet.peek(shape.kid) ?? (await keySet.get(shape.kid));
    const payload = this.verifySignature(token, key.key);
    const principal = principalFromEntraClaims(payload, {
      config: this.options.config,
      issuerTemplate: metadata.issuer,
    });
    checkSigningKeyIssuer(key.issuer, payload, this.metadata['2.0'].value?.issuer ?? metadata.issuer);
    this.verified.set(cacheKey, principal, nowSeconds(this.options.clock));
    return principal;
  }

  /**
   * `ok`: metadata and keys loaded and the last refresh worked. `degraded`: serving from cache
   * after a failed refresh (or one token version unavailable). `down`: nothing usable loaded.
   *
   * It also nudges a background retry of whatever is missing or failing (rate-limited by
   * `retryAfterFailureMs`): health probes poll regularly, so a gateway that started during an
   * IdP outage recovers without waiting for a token of each version to arrive.
   */
  health(): DependencyHealth {
    this.retryInBackground();
    const problems: string[] = [];
    let usable = 0;
    for (const version of VERSIONS) {
      const metadata = this.metadata[version];
      const keys = metadata.value ? this.keySets.get(metadata.value.jwksUri) : undefined;
      if (metadata.value && keys?.loaded) usable += 1;
      if (!metadata.value) problems.push(`v${version} metadata not loaded`);
      else if (metadata.failing) problems.push(`v${version} metadata refresh failing, serving cached`);
      if (metadata.value && !keys?.loaded) problems.push(`v${version} signing keys not loaded`);
      else if (keys?.failing) problems.push(`v${version} signing keys refresh failing, serving cached`);
    }
    if (usable === 0) return { status: 'down', detail: problems.join('; ') };
    if (problems.length > 0) return { status: 'degraded', detail: problems.join('; ') };
    return { status: 'ok' };
  }

  /** Resolves when no metadata or JWKS fetch is in flight (tests, shutdown). */
  async whenIdle(): Promise<void> {
    await Promise.all([
      ...VERSIONS.map((v) => this.metadata[v].settled()),
      ...[...this.keySets.values()].map((k) => k.settled()),
    ]);
    // A settled metadata load may have started a key load.
    await Promise.all([...this.keySets.values()].map((k) => k.settled()));
  }

  private retryInBackground(): void {
    for (const version of VERSIONS) {
      const metadata = this.metadata[version];
      if (!metadata.value || metadata.failing) {
        metadata.refreshInBackgroundIfOlderThan(this.policy.refreshAfterMs, this.policy.retryAfterFailureMs);
      }
      if (metadata.value) {
        const keys = this.keySetFor(metadata.value.jwksUri);
        if (!keys.loaded || keys.failing) keys.refreshInBackgroundIfDue();
      }
    }
  }

  private heldMetadata(version: EntraTokenVersion): OpenIdMetadata | undefined {
    const source = this.metadata[version];
    if (source.value)
      source.refreshInBackgroundIfOlderThan(this.policy.refreshAfterMs, this.policy.retryAfterFailureMs);
    return source.value;
  }

  private async metadataFor(version: EntraTokenVersion): Promise<OpenIdMetadata> {
    const source = this.metadata[version];
    const value = await source.get(this.policy.retryAfterFailureMs);
    if (!value) {
      throw new GatewayError('ERR_IDP_UNAVAILABLE', 'The OpenID metadata could not be loaded', {
        cause: source.error,
      });
    }
    source.refreshInBackgroundIfOlderThan(this.policy.refreshAfterMs, this.policy.retryAfterFailureMs);
    return value;
  }

  private keySetFor(jwksUri: string): SigningKeySet {
    let keySet = this.keySets.get(jwksUri);
    if (!keySet) {
      keySet = new SigningKeySet({
        jwksUri,
        fetch: this.fetchImpl,
        clock: this.options.clock,
        logger: this.options.logger,
        policy: this.policy,
        ...(this.options.onJwksFetched ? { onFetched: this.options.onJwksFetched } : {}),
        // A withdrawn key may be a compromised one: forget every principal verified so far
        // rather than keep serving tokens it signed until their exp.
        onKeysRemoved: (kids) => {
          this.options.logger.log('warn', 'entra.keys.withdrawn', { jwksUri, kids });
          this.verified.clear();
        },
      });
      this.keySets.set(jwksUri, keySet);
    }
    return keySet;
  }

  private verifySignature(token: string, key: KeyObject): Record<string, unknown> {
    this.stats.signatureVerifications += 1;
    try {
      const payload = jwt.verify(token, key, {
        algorithms: ['RS256'],
        clockTimestamp: nowSeconds(this.options.clock),
        clockTolerance: this.options.config.clockSkewSeconds,
      });
      if (typeof payload === 'string') throw new GatewayError('ERR_TOKEN_MALFORMED');
      if (startsAfterExpiry(payload)) throw new GatewayError('ERR_TOKEN_LIFETIME');
      return payload;
    } catch (err) {
      // Microsoft checks that `nbf` is not after `exp` before either time: such a token is
      // refused as malformed in time, not as "expired" or "not yet valid" (IDX10224).
      if (
        (err instanceof jwt.TokenExpiredError || err instanceof jwt.NotBeforeError) &&
        startsAfterExpiry(jwt.decode(token, { json: true }))
      ) {
        throw new GatewayError('ERR_TOKEN_LIFETIME', undefined, { cause: err });
      }
      throw mapJsonWebTokenError(err);
    }
  }
}

/** True for a payload whose numeric `nbf` is after its numeric `exp`: never valid at any time. */
function startsAfterExpiry(payload: Readonly<Record<string, unknown>> | null): boolean {
  return typeof payload?.nbf === 'number' && typeof payload.exp === 'number' && payload.nbf > payload.exp;
}

/** jsonwebtoken's errors, by class and message, to stable codes (the original kept as `cause`). */
export function mapJsonWebTokenError(err: unknown): GatewayError {
  if (err instanceof GatewayError) return err;
  let code: ErrorCode = 'ERR_TOKEN_MALFORMED';
  if (err instanceof jwt.TokenExpiredError) code = 'ERR_TOKEN_EXPIRED';
  else if (err instanceof jwt.NotBeforeError) code = 'ERR_TOKEN_NOT_YET_VALID';
  else if (err instanceof jwt.JsonWebTokenError) {
    if (err.message === 'invalid signature') code = 'ERR_TOKEN_SIGNATURE';
    else if (err.message === 'invalid algorithm') code = 'ERR_TOKEN_ALGORITHM';
    else if (/^invalid (exp|nbf|iat) value/.test(err.message)) code = 'ERR_TOKEN_CLAIMS';
  }
  return new GatewayError(code, undefined, { cause: err });
}
