/**
 * The shared DPoP replay store: Cosmos DB's `dpop-proofs` container, over its REST API.
 */
import type { TokenCredential } from '@azure/core-auth';
import { createHmac } from 'node:crypto';
import { Pool } from 'undici';
import type { Clock } from '../clock';
import { AccessTokenCache } from '../proxy/credentials/access-token-cache';
import type { ReplayStore } from './replay-store';

/** How the shared store authenticates to Cosmos DB: the account key, or an Entra token credential. */
export type CosmosAuth = { readonly key: string } | { readonly credential: () => Promise<TokenCredential> };

export interface CosmosReplayStoreOptions {
  /** The account endpoint (`https://<account>.documents.azure.com:443/`). */
  readonly endpoint: string;
  readonly database: string;
  readonly container: string;
  readonly auth: CosmosAuth;
  readonly clock: Clock;
  /** A CA (PEM) the endpoint's certificate chains to: the local stack's; absent in Azure. */
  readonly ca?: string | undefined;
  /** Longest a write may take; default {@link WRITE_TIMEOUT_MS}. */
  readonly timeoutMs?: number;
}

/** The REST API version the requests speak (the one @azure/cosmos 4 sends). */
const COSMOS_API_VERSION = '2020-07-15';
/** Longest wait a 429 may ask for before the store gives up (and the request fails closed). */
const MAX_THROTTLE_WAIT_MS = 1000;
/**
 * Longest a write may take (connect, then the answer): past it the request fails closed (503)
 * instead of holding the caller for undici's default of five minutes.
 */
const WRITE_TIMEOUT_MS = 5000;

/**
 * The shared store: one document per proof in the Cosmos DB `dpop-proofs` container, created
 * with `id` = the proof's key, so a second use is a 409 conflict on every instance alike. Each
 * document carries a `ttl`: Cosmos DB deletes it once the proof is too old (infra/ sets the
 * container's default TTL so per-item TTLs apply).
 *
 * One point create per DPoP request, written against the REST API with undici rather than the
 * @azure/cosmos SDK: measured here, the SDK spends ~300-450 µs of CPU per create (its pipeline,
 * diagnostics and retries), the REST call ~110 µs, on a path every DPoP request takes
 * (docs/performance.md). The request is the SDK's own: the same headers, the key signature of
 * the REST API (`type=master`) or an Entra token for `<endpoint>/.default` (`type=aad`), as
 * test/integration/dpop-replay-store.test.ts checks against what the SDK sends.
 */
export class CosmosReplayStore implements ReplayStore {
  private readonly pool: Pool;
  private readonly link: string;
  private readonly scope: string;
  private readonly tokens: AccessTokenCache;
  private readonly key: Buffer | undefined;
  private closing: Promise<void> | undefined;

  constructor(private readonly options: CosmosReplayStoreOptions) {
    const url = new URL(options.endpoint);
    this.pool = new Pool(url.origin, {
      connections: 16,
      keepAliveTimeout: 30_000,
      connectTimeout: options.timeoutMs ?? WRITE_TIMEOUT_MS,
      headersTimeout: options.timeoutMs ?? WRITE_TIMEOUT_MS,
      bodyTimeout: options.timeoutMs ?? WRITE_TIMEOUT_MS,
      ...(options.ca === undefined ? {} : { connect: { ca: options.ca } }),
    });
    this.link = `dbs/${options.database}/colls/${options.container}`;
    this.scope = `${url.origin}/.default`;
    this.tokens = new AccessTokenCache(options.clock);
    this.key = 'key' in options.auth ? Buffer.from(options.auth.key, 'base64') : undefined;
  }

  async firstUse(key: string, expiresAt: number): Promise<boolean> {
    const ttl = Math.max(1, Math.ceil(expiresAt - this.options.clock.now() / 1000));
    const body = JSON.stringify({ id: key, ttl, expiresAt });
    for (let attempt = 0; ; attempt++) {
      const res = await this.pool.request({
        method: 'POST',
        path: `/${this.link}/docs`,
        headers: await this.headers(key),
        body,
      });
      await res.body.dump();
      if (res.statusCode === 201) return true;
      if (res.statusCode === 409) return false;
      const wait = Number(res.headers['x-ms-retry-after-ms'] ?? 100);
      if (res.statusCode === 429 && attempt === 0 && wait <= MAX_THROTTLE_WAIT_MS) {
        await new Promise((resolve) => setTimeout(resolve, wait));
        continue;
      }
      throw new Error(`Cosmos DB answered ${res.statusCode} to a DPoP proof write`);
    }
  }

  /** Stops the connection pool; idempotent (a gateway may be closed by its host and its test). */
  close(): Promise<void> {
    this.closing ??= this.pool.close().catch(() => this.pool.destroy());
    return this.closing;
  }

  private async headers(id: string): Promise<Record<string, string>> {
    const date = new Date(this.options.clock.now()).toUTCString();
    return {
      authorization: await this.authorization(date),
      'x-ms-date': date,
      'x-ms-version': COSMOS_API_VERSION,
      'x-ms-documentdb-partitionkey': JSON.stringify([id]),
      'content-type': 'application/json',
    };
  }

  /** The REST API's authorization header: a key signature, or an Entra token. */
  private async authorization(date: string): Promise<string> {
    if (this.key !== undefined) {
      const signed = `post\ndocs\n${this.link}\n${date.toLowerCase()}\n\n`;
      const sig = createHmac('sha256', this.key).update(signed).digest('base64');
      return encodeURIComponent(`type=master&ver=1.0&sig=${sig}`);
    }
    const auth = this.options.auth as { credential: () => Promise<TokenCredential> };
    const token = await this.tokens.get('cosmos', async () => {
      const result = await (await auth.credential()).getToken(this.scope);
      if (result === null) throw new Error(`no token for ${this.scope}`);
      return { token: result.token, expiresOnTimestamp: result.expiresOnTimestamp };
    });
    return `type=aad&ver=1.0&sig=${token}`;
  }
}
