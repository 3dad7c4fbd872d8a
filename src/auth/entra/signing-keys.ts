/**
 * The signing keys of one JWKS uri, by `kid`, as `KeyObject`s: parsed once when fetched, so a
 * verification never parses a JWK or a PEM (a KeyObject verify is several times cheaper).
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { JwksClient } from 'jwks-rsa';
import type { Clock } from '../../clock';
import { GatewayError } from '../../errors';
import type { Logger } from '../../logger';
import type { EntraCachePolicy } from './entra-defaults';
import { fetchJson, MetadataError } from './openid-metadata';
import { RefreshingValue } from './refreshing-value';

/** A verification key and the issuer its JWK names, if any (Entra's v2 keys carry one). */
export interface SigningKey {
  readonly key: KeyObject;
  /**
   * The JWK's `issuer` member: the issuer (template, with `{tenantid}` for multi-tenant JWKS) of
   * the tokens this key may sign. Undefined when the JWK names none (v1 keys).
   */
  readonly issuer: string | undefined;
}

/** Keys by `kid`. */
export type SigningKeyMap = ReadonlyMap<string, SigningKey>;

/** RSA keys below this size are ignored: Entra publishes 2048-bit keys. */
const MIN_RSA_MODULUS_BITS = 2048;

/**
 * Turns a JWKS document into RS256 verification keys. `jwks-rsa` does the JWK work (filtering to
 * signature keys, importing each, skipping any that fail or carry private members); this adds
 * what RS256-only validation needs: RSA keys with a `kid`, at least 2048 bits, held as
 * `KeyObject`s. A set with no usable key is an error, so a broken document never replaces a good
 * key set. The document is fetched by the caller (with its injected `fetch` and timeout), so
 * jwks-rsa makes no HTTP request of its own.
 */
export async function parseJwks(document: unknown): Promise<Map<string, SigningKey>> {
  const list = (document as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(list)) throw new MetadataError('JWKS has no "keys" array');
  // Of several JWKs with one `kid`, the first is the key, as Microsoft's validators take it
  // (the first match in the key set); later ones are ignored, whatever they hold.
  const firstByKid = new Map<string, Record<string, unknown>>();
  for (const jwk of list as unknown[]) {
    if (typeof jwk !== 'object' || jwk === null) continue;
    const kid = (jwk as Record<string, unknown>).kid;
    if (typeof kid === 'string' && !firstByKid.has(kid)) firstByKid.set(kid, jwk as Record<string, unknown>);
  }
  const rsa = [...firstByKid.values()].filter((jwk) => jwk.kty === 'RSA');
  const keys = new Map<string, SigningKey>();
  if (rsa.length > 0) {
    const client = new JwksClient({
      cache: false,
      rateLimit: false,
      fetcher: () => Promise.resolve({ keys: rsa }),
    });
    const found = await client.getSigningKeys().catch(() => []);
    for (const signingKey of found) {
      if (!signingKey.kid) continue;
      const key = createPublicKey(signingKey.getPublicKey());
      if ((key.asymmetricKeyDetails?.modulusLength ?? 0) < MIN_RSA_MODULUS_BITS) continue;
      const issuer = firstByKid.get(signingKey.kid)?.issuer;
      keys.set(signingKey.kid, { key, issuer: typeof issuer === 'string' ? issuer : undefined });
    }
  }
  if (keys.size === 0) throw new MetadataError('JWKS has no usable RSA signing key');
  return keys;
}

/** Options of {@link SigningKeySet}. */
export interface SigningKeySetOptions {
  readonly jwksUri: string;
  readonly fetch: typeof fetch;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly policy: Pick<
    EntraCachePolicy,
    'fetchTimeoutMs' | 'refreshAfterMs' | 'retryAfterFailureMs' | 'unknownKidRefetchIntervalMs'
  >;
  /** Called when a refresh drops kids we held (a key was withdrawn, perhaps compromised). */
  readonly onKeysRemoved?: (kids: readonly string[]) => void;
  /** Called after every JWKS fetch (metrics). */
  readonly onFetched?: (outcome: 'ok' | 'failed') => void;
}

/**
 * The key cache policy of one JWKS uri:
 * - a known `kid` is answered from memory; keys older than `refreshAfterMs` are refreshed in the
 *   background while the old ones keep serving;
 * - an unknown `kid` causes ONE refetch, single-flight and at most once per
 *   `unknownKidRefetchIntervalMs`, so a flood of random kids costs the IdP one request;
 * - when the JWKS is unreachable, the keys we hold keep verifying (an IdP outage must not
 *   become a gateway outage for tokens signed with keys we already trust).
 */
export class SigningKeySet {
  private readonly keys: RefreshingValue<SigningKeyMap>;

  constructor(private readonly options: SigningKeySetOptions) {
    this.keys = new RefreshingValue<SigningKeyMap>(
      `jwks ${options.jwksUri}`,
      async () => {
        try {
          const keys = await parseJwks(
            await fetchJson(options.fetch, options.jwksUri, options.policy.fetchTimeoutMs),
          );
          options.onFetched?.('ok');
          return keys;
        } catch (err) {
          options.onFetched?.('failed');
          throw err;
        }
      },
      options.clock,
      options.logger,
      (next, previous) => {
        const removed = previous ? [...previous.keys()].filter((kid) => !next.has(kid)) : [];
        if (removed.length > 0) options.onKeysRemoved?.(removed);
      },
    );
  }

  get jwksUri(): string {
    return this.options.jwksUri;
  }

  /** True once any JWKS was loaded. */
  get loaded(): boolean {
    return this.keys.value !== undefined;
  }

  /** True when the latest fetch failed. */
  get failing(): boolean {
    return this.keys.failing;
  }

  /** JWKS fetches started. */
  get fetches(): number {
    return this.keys.loads;
  }

  /** Starts a background refetch if the keys are stale, missing or failing (rate-limited). */
  refreshInBackgroundIfDue(): void {
    this.keys.refreshInBackgroundIfOlderThan(
      this.options.policy.refreshAfterMs,
      this.options.policy.retryAfterFailureMs,
    );
  }

  /** Resolves when no fetch is in flight. */
  settled(): Promise<void> {
    return this.keys.settled();
  }

  /** Fetches the JWKS now (single-flight); never rejects. */
  refresh(): Promise<void> {
    return this.keys.refresh();
  }

  /**
   * The key for `kid` if held, without I/O (a stale set starts a background refresh); `undefined`
   * means "ask {@link get}", which applies the unknown-kid policy.
   */
  peek(kid: string): SigningKey | undefined {
    const held = this.keys.value?.get(kid);
    if (held) this.refreshInBackgroundIfDue();
    return held;
  }

  /**
   * The key for `kid`.
   *
   * @throws {GatewayError} `ERR_TOKEN_UNKNOWN_KEY` (401) when the JWKS does not have it (or a
   *   refetch failed while we hold other keys); `ERR_IDP_UNAVAILABLE` (503) when no JWKS was ever
   *   loaded and it cannot be fetched now.
   */
  async get(kid: string): Promise<SigningKey> {
    const { policy } = this.options;
    const held = this.keys.value?.get(kid);
    if (held) {
      this.refreshInBackgroundIfDue();
      return held;
    }
    if (!this.loaded) {
      const loaded = await this.keys.get(policy.retryAfterFailureMs);
      if (!loaded) {
        throw new GatewayError('ERR_IDP_UNAVAILABLE', 'The signing keys could not be loaded', {
          cause: this.keys.error,
        });
      }
    } else {
      await this.keys.refreshAtMostEvery(policy.unknownKidRefetchIntervalMs);
    }
    const key = this.keys.value?.get(kid);
    if (key) return key;
    throw new GatewayError('ERR_TOKEN_UNKNOWN_KEY', undefined, { cause: this.keys.error });
  }
}
