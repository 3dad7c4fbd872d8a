/**
 * Every caching and limit default of Entra token validation, in one visible place. Each one is
 * a trade between availability, IdP load and how fast a change at the IdP reaches the gateway.
 */
export const ENTRA_DEFAULTS = {
  /**
   * Entra access tokens are a few KiB even with many groups (Entra switches to an overage claim
   * beyond 200 groups). Anything larger is not an Entra token, and refusing it before base64 and
   * JSON work keeps a hostile client from making us parse megabytes.
   */
  maxTokenBytes: 16 * 1024,
  /**
   * Keys and metadata older than this are refreshed in the background on the next request.
   * Entra rolls keys with weeks of overlap, so once a day is ample; an unknown `kid` triggers
   * an earlier refetch anyway.
   */
  refreshAfterMs: 24 * 60 * 60 * 1000,
  /**
   * At most one JWKS refetch per JWKS uri in this window on an unknown `kid`. Anyone can mint a
   * token with a random `kid`; without this limit every such request would become a request to
   * the IdP (a cheap amplification attack, and a way to get us throttled by Entra).
   */
  unknownKidRefetchIntervalMs: 60 * 1000,
  /**
   * After a failed load or refresh, wait this long before trying again, so an IdP outage is not
   * met with a request to the IdP per incoming request.
   */
  retryAfterFailureMs: 5 * 1000,
  /** Metadata and JWKS requests give up after this long. */
  fetchTimeoutMs: 5 * 1000,
  /**
   * Verified tokens remembered (by SHA-256 of the token) until their `exp`. A mobile app sends
   * the same token for up to an hour; this turns an RS256 verify into a hash and a map lookup.
   */
  verifiedTokenCacheSize: 10_000,
} as const;

/** The tunable subset of {@link ENTRA_DEFAULTS}. */
export type EntraCachePolicy = { readonly [K in keyof typeof ENTRA_DEFAULTS]: number };
