/**
 * The shared DPoP replay store: Cosmos DB's `dpop-proofs` container, over its REST API.
 */
import type { Clock } from '../clock';
import { CosmosDocuments, type CosmosAuth } from '../store/cosmos-documents';
import type { ReplayStore } from './replay-store';

export interface CosmosReplayStoreOptions {
  /** The account endpoint (`https://<account>.documents.azure.com:443/`). */
  readonly endpoint: string;
  readonly database: string;
  readonly container: string;
  readonly auth: CosmosAuth;
  readonly clock: Clock;
  /** A CA (PEM) the endpoint's certificate chains to: the local stack's; absent in Azure. */
  readonly ca?: string | undefined;
  /** Longest a write may take: past it the request fails closed (503). Default 5 s. */
  readonly timeoutMs?: number;
}

/**
 * The shared store: one document per proof in the Cosmos DB `dpop-proofs` container, created
 * with `id` = the proof's key, so a second use is a 409 conflict on every instance alike. Each
 * document carries a `ttl`: Cosmos DB deletes it once the proof is too old (infra/ sets the
 * container's default TTL so per-item TTLs apply).
 *
 * One point create per DPoP request, with {@link CosmosDocuments} (the REST API over undici, not
 * the SDK: a path every DPoP request takes). A create that fails or times out throws, and the
 * request fails closed.
 */
/**
 * The `ttl` (seconds) of a document written at `nowSeconds` that must outlive `expiresAt`:
 * `floor(now) + ttl >= expiresAt`, whatever fraction of a second the write came at.
 */
export function cosmosTtlFor(expiresAt: number, nowSeconds: number): number {
  return Math.max(1, Math.ceil(expiresAt - nowSeconds) + 1);
}

export class CosmosReplayStore implements ReplayStore {
  private readonly documents: CosmosDocuments;

  constructor(private readonly options: CosmosReplayStoreOptions) {
    this.documents = new CosmosDocuments(options);
  }

  firstUse(key: string, expiresAt: number): Promise<boolean> {
    // Cosmos DB counts a TTL from `_ts`, the write's whole second (up to 1 s before the write),
    // and expires whole seconds: one second more keeps the document past `expiresAt`.
    const ttl = cosmosTtlFor(expiresAt, this.options.clock.now() / 1000);
    return this.documents.create(this.options.container, key, JSON.stringify({ id: key, ttl, expiresAt }));
  }

  /** Stops the connection pool; idempotent (a gateway may be closed by its host and its test). */
  close(): Promise<void> {
    return this.documents.close();
  }
}
