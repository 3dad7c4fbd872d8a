/**
 * The default of every setting, in one visible place (docs/reference.md §2 documents them; a
 * change here is a change of the product's outside). Entra validation's caching and limit
 * defaults are in src/auth/entra/entra-defaults.ts; a module's own internal limits stay beside
 * the code they bound, each with its reason.
 */
export const DEFAULTS = {
  clockSkewSeconds: 60,
  /** Tokens with neither `scp` nor `roles` are refused unless the API opts into ACL-style authorization. */
  allowAclAuthorization: false,
  adminRole: 'Gateway.Admin',
  cosmosDatabase: 'gateway',
  sasDefaultTtlSeconds: 300,
  sasMaxTtlSeconds: 3600,
  /** Hosts the local stack lets resources point at when the setting is absent. */
  localDownstreamAllowedHosts: ['127.0.0.1', 'localhost'],
  /**
   * App settings `functionKey` resources may read when `DOWNSTREAM_KEY_SETTINGS` is absent: in
   * the local stack the sample's `ORDERS_KEY`; under the Functions host none (list them).
   */
  localDownstreamKeySettings: ['ORDERS_KEY'],
  policyRefreshSeconds: 10,
  /**
   * `POLICY_MAX_STALENESS_SECONDS` when unset: this many refresh intervals. Past it, an instance
   * that could not confirm its policies, resources and revocations current fails closed (503).
   */
  policyMaxStalenessRefreshes: 3,
  /** The Functions host's own request body limit. */
  proxyMaxBodyBytes: 104_857_600,
  /**
   * Per-instance rate limits (requests per second; the burst is twice that). Generous enough
   * for any real client, low enough that one caller cannot monopolise an instance. 0 disables.
   */
  rateLimitPrincipalPerSecond: 100,
  rateLimitIpPerSecond: 200,
  /**
   * Where the `jti` of each DPoP proof is remembered: `shared` (Cosmos DB, every instance; one
   * point write per proof), `redis` (`SET NX` in the Redis of `REDIS_URL`, every instance) or
   * `local` (this instance's memory only). docs/reference.md §3.
   */
  dpopReplayStore: 'shared',
  /** Days the audit trail keeps a record: the `audit` container's TTL in Azure (infra/). */
  auditRetentionDays: 90,
  /** Audit records keep what the policies read of the caller, for `gateway replay`. */
  auditDecisionInputs: true,
  port: 7071,
} as const;

/** Tenant ids that mean "any tenant" in Entra's multi-tenant endpoints. */
export const MULTI_TENANT_IDS = ['organizations', 'common'] as const;

/** Every setting name the gateway reads: docs/reference.md §2, in order, then the gateway's own additions. */
export const SETTING_NAMES = [
  'ENTRA_AUTHORITY',
  'ENTRA_TENANT_ID',
  'ENTRA_ALLOWED_TENANTS',
  'ENTRA_AUDIENCES',
  'ENTRA_CLOCK_SKEW_SECONDS',
  'ENTRA_ALLOW_ACL_AUTHORIZATION',
  'GATEWAY_ADMIN_ROLE',
  'COSMOS_ENDPOINT',
  'COSMOS_KEY',
  'COSMOS_DATABASE',
  'SAS_SIGNING_KEYS',
  'GATEWAY_ISSUER',
  'STATEMENT_SIGNING_KEYS',
  'SAS_DEFAULT_TTL_SECONDS',
  'SAS_MAX_TTL_SECONDS',
  'DOWNSTREAM_ALLOWED_HOSTS',
  'DOWNSTREAM_KEY_SETTINGS',
  'POLICY_REFRESH_SECONDS',
  'POLICY_MAX_STALENESS_SECONDS',
  'PROXY_MAX_BODY_BYTES',
  'RATE_LIMIT_PRINCIPAL_PER_SECOND',
  'RATE_LIMIT_IP_PER_SECOND',
  'DPOP_REPLAY_STORE',
  'REDIS_URL',
  'GATEWAY_CLIENT_ID',
  'GATEWAY_CLIENT_SECRET',
  'GATEWAY_CLIENT_CERTIFICATE_PATH',
  'AUDIT_RETENTION_DAYS',
  'AUDIT_DECISION_INPUTS',
  'PORT',
] as const;

export type SettingName = (typeof SETTING_NAMES)[number];
