/**
 * Document creates against Cosmos DB's REST API, with undici: the write path of the DPoP replay
 * store and of the audit writer thread.
 *
 * Why not the @azure/cosmos SDK here: both write on every request (a proof) or every second (an
 * audit page), and only need "created" or "already there". Measured here, the SDK spent
 * ~300-450 µs of CPU per small create and ~12 µs per audit record in 200-record pages (its
 * pipeline, diagnostics, retries, and the parse of the document the service echoes back); this
 * sends the same request, asks for no document back (`Prefer: return=minimal`, what the .NET and
 * Go SDKs send when a write's content response is off) and reads only the status: ~110 µs per
 * proof and ~4 µs per audit record (docs/performance.md). Reads and queries stay on the SDK.
 *
 * The request is the SDK's own: the same path, headers and API version, and the REST API's key
 * signature (`type=master`) or an Entra token for `<endpoint>/.default` (`type=aad`), as
 * test/integration/dpop-replay-store.test.ts checks against what the SDK sends.
 */
import type { TokenCredential } from '@azure/core-auth';
import { createHmac } from 'node:crypto';
import { Pool, type Dispatcher } from 'undici';
import type { Clock } from '../clock';
import { AccessTokenCache } from '../http/access-token-cache';

/** How the writer authenticates to Cosmos DB: the account key, or an Entra token credential. */
export type CosmosAuth = { readonly key: string } | { readonly credential: () => Promise<TokenCredential> };

export interface CosmosDocumentsOptions {
  /** The account endpoint (`https://<account>.documents.azure.com:443/`). */
  readonly endpoint: string;
  readonly database: string;
  readonly auth: CosmosAuth;
  readonly clock: Clock;
  /** A CA (PEM) the endpoint's certificate chains to: the local stack's; absent in Azure. */
  readonly ca?: string | undefined;
  /** Longest a create may take; default {@link WRITE_TIMEOUT_MS}. */
  readonly timeoutMs?: number;
}

/** The REST API version the requests speak (the one @azure/cosmos 4 sends). */
const COSMOS_API_VERSION = '2020-07-15';
/** Longest wait a 429 may ask for before the create gives up (the caller decides what then). */
const MAX_THROTTLE_WAIT_MS = 1000;
/**
 * Longest a create may take (connect, then the answer): past it the create fails instead of
 * holding its caller for undici's default of five minutes.
 */
const WRITE_TIMEOUT_MS = 5000;

/** A status Cosmos DB answered a create with, other than created (201) or conflict (409). */
export class CosmosWriteError extends Error {
  constructor(
    readonly code: number,
    container: string,
  ) {
    super(`Cosmos DB answered ${code} to a create in "${container}"`);
    this.name = 'CosmosWriteError';
  }
}

/** Errors of a request written on a connection the other side had closed. */
const CLOSED_CONNECTION_CODES = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE']);

function isClosedConnection(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && CLOSED_CONNECTION_CODES.has(code);
}

/** Creates documents in the containers of one database. */
export class CosmosDocuments {
  private readonly pool: Pool;
  private readonly scope: string;
  private readonly tokens: AccessTokenCache;
  private readonly key: Buffer | undefined;
  private closing: Promise<void> | undefined;

  constructor(private readonly options: CosmosDocumentsOptions) {
    const url = new URL(options.endpoint);
    const timeout = options.timeoutMs ?? WRITE_TIMEOUT_MS;
    this.pool = new Pool(url.origin, {
      connections: 16,
      keepAliveTimeout: 30_000,
      connectTimeout: timeout,
      headersTimeout: timeout,
      bodyTimeout: timeout,
      ...(options.ca === undefined ? {} : { connect: { ca: options.ca } }),
    });
    this.scope = `${url.origin}/.default`;
    this.tokens = new AccessTokenCache(options.clock);
    this.key = 'key' in options.auth ? Buffer.from(options.auth.key, 'base64') : undefined;
  }

  /**
   * Creates `document` (JSON text whose `id` is its own) in `container`, under `partitionKey`.
   * True when it was created, false when a document with its id already was there (409). One
   * short 429 is waited out and retried, and a request on a connection the server had closed is
   * sent again on a fresh one; anything else throws a {@link CosmosWriteError}.
   */
  async create(container: string, partitionKey: string, document: string): Promise<boolean> {
    const link = `dbs/${this.options.database}/colls/${container}`;
    let resent = false;
    let throttled = false;
    for (;;) {
      let res: Dispatcher.ResponseData;
      try {
        res = await this.pool.request({
          method: 'POST',
          path: `/${link}/docs`,
          headers: await this.headers(link, partitionKey),
          body: document,
        });
      } catch (err) {
        // A kept-alive connection the server closed while it was idle (Cosmos DB and Node's own
        // server both close idle connections) fails the request written on it: sent once more,
        // at once, on a fresh connection. A create is safe to resend, since its id names it: if
        // the first one was stored after all, the second answers 409 (an audit page: stored; a
        // DPoP proof: taken for a replay and refused, the safe side, and the client's next
        // proof passes).
        if (!resent && isClosedConnection(err)) {
          resent = true;
          continue;
        }
        throw err;
      }
      await res.body.dump();
      if (res.statusCode === 201) return true;
      if (res.statusCode === 409) return false;
      const wait = Number(res.headers['x-ms-retry-after-ms'] ?? 100);
      if (res.statusCode === 429 && !throttled && wait <= MAX_THROTTLE_WAIT_MS) {
        throttled = true;
        await new Promise((resolve) => setTimeout(resolve, wait));
        continue;
      }
      throw new CosmosWriteError(res.statusCode, container);
    }
  }

  /** Stops the connection pool; idempotent (a gateway may be closed by its host and its test). */
  close(): Promise<void> {
    this.closing ??= this.pool.close().catch(() => this.pool.destroy());
    return this.closing;
  }

  private async headers(link: string, partitionKey: string): Promise<Record<string, string>> {
    const date = new Date(this.options.clock.now()).toUTCString();
    return {
      authorization: await this.authorization(link, date),
      'x-ms-date': date,
      'x-ms-version': COSMOS_API_VERSION,
      'x-ms-documentdb-partitionkey': JSON.stringify([partitionKey]),
      'content-type': 'application/json',
      prefer: 'return=minimal',
    };
  }

  /** The REST API's authorization header: a key signature, or an Entra token. */
  private async authorization(link: string, date: string): Promise<string> {
    if (this.key !== undefined) {
      const signed = `post\ndocs\n${link}\n${date.toLowerCase()}\n\n`;
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
