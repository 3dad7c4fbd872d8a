import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { DEFAULTS, MULTI_TENANT_IDS, type SettingName } from './defaults';
import {
  generateStatementKey,
  parseSigningKeySetting,
  parseStatementKeySetting,
  type SigningKey,
  type StatementKey,
} from './signing-keys';
import { parseRedisUrl, parseTrustedUrl, type RedisEndpoint } from './url-rules';

/** A named HMAC key of the SAS key ring. */
export type SasSigningKey = SigningKey;

/** The gateway's validated, frozen configuration. Build it with {@link loadConfig}. */
export interface Config {
  readonly entra: {
    /** Authority host without a trailing slash, e.g. `https://login.microsoftonline.com`. */
    readonly authority: string;
    /** A tenant GUID, or `organizations` / `common`. */
    readonly tenantId: string;
    readonly multiTenant: boolean;
    /** Tenant GUIDs (lower case) whose tokens are accepted. */
    readonly allowedTenants: readonly string[];
    /** Client id GUIDs and/or App ID URIs that `aud` may equal. */
    readonly audiences: readonly string[];
    readonly clockSkewSeconds: number;
    /**
     * Admit tokens that carry neither `scp` nor `roles` (`ENTRA_ALLOW_ACL_AUTHORIZATION`), for APIs
     * that authorize apps by client id alone. Off: such tokens are refused, as
     * Microsoft.Identity.Web refuses them.
     */
    readonly allowAclAuthorization: boolean;
  };
  readonly adminRole: string;
  readonly cosmos: {
    readonly endpoint: string;
    /** Absent: authenticate with `DefaultAzureCredential` (managed identity). */
    readonly key: string | undefined;
    readonly database: string;
  };
  readonly sas: {
    /** The first key signs; every key verifies. */
    readonly signingKeys: readonly SasSigningKey[];
    /** True when the keys were generated for this run (local stack only). */
    readonly keysGenerated: boolean;
    readonly defaultTtlSeconds: number;
    readonly maxTtlSeconds: number;
  };
  /** The `x-gateway-principal` statement: who signs it and as which issuer. */
  readonly statement: {
    /** EC P-256 keys (`STATEMENT_SIGNING_KEYS`): the first signs, all are published. */
    readonly signingKeys: readonly StatementKey[];
    /** True when the key was generated for this run (local mode without the setting). */
    readonly keysGenerated: boolean;
    /**
     * `GATEWAY_ISSUER`: the `iss` of statements and of the metadata. Undefined: each request's own
     * base URL (`http(s)://host/api`).
     */
    readonly issuer: string | undefined;
  };
  readonly downstreamAllowedHosts: readonly string[];
  /**
   * The only app settings a `functionKey` resource may name (`DOWNSTREAM_KEY_SETTINGS`): an
   * allow list, because the value is sent to the upstream.
   */
  readonly downstreamKeySettings: readonly string[];
  readonly policyRefreshSeconds: number;
  /**
   * `POLICY_MAX_STALENESS_SECONDS`: the oldest state an instance decides on. Past it (Cosmos DB
   * unreachable or hanging that long), requests that need policies, resources or revocations
   * answer 503 `ERR_POLICY_STORE_UNAVAILABLE` instead of deciding on what may have been revoked.
   */
  readonly policyMaxStalenessSeconds: number;
  readonly proxyMaxBodyBytes: number;
  /** Requests per second per caller (oid, else client app) and per client IP, per instance; 0: off. */
  readonly rateLimits: { readonly principalPerSecond: number; readonly ipPerSecond: number };
  /**
   * `DPOP_REPLAY_STORE`: `shared`, each DPoP proof's `jti` written to Cosmos DB so that no
   * instance accepts it twice; `local`, remembered by the instance that saw it only (no write per
   * request; a proof replayed to another instance within its two-minute window passes).
   */
  readonly dpopReplayStore: 'shared' | 'local' | 'redis';
  /**
   * `REDIS_URL`: the Redis every instance shares for quotas (and, with `DPOP_REPLAY_STORE=redis`,
   * DPoP proofs). Undefined: quotas are counted per instance, in memory.
   */
  readonly redis: RedisEndpoint | undefined;
  /**
   * The gateway's own app registration, for on-behalf-of calls to downstreams (docs/proxy.md):
   * `GATEWAY_CLIENT_ID` and `GATEWAY_CLIENT_SECRET` or `GATEWAY_CLIENT_CERTIFICATE_PATH` (a PEM
   * file with the private key and the certificate; preferred in Azure). Undefined when
   * `GATEWAY_CLIENT_ID` is unset: every on-behalf-of call is then a 502 saying so.
   */
  readonly onBehalfOf: OnBehalfOfSettings | undefined;
  readonly audit: {
    /**
     * `AUDIT_RETENTION_DAYS`: how long the audit trail keeps a record (in Azure the `audit`
     * container's TTL, set from the same Bicep parameter). The audit API refuses a range that
     * starts before it: those records are gone, and an empty answer would say "no traffic".
     */
    readonly retentionDays: number;
    /**
     * `AUDIT_DECISION_INPUTS`: records keep what the policies read of the caller (roles, scopes,
     * groups, the claims policies name), so `gateway replay` and `gateway review` can decide
     * them again. `false` keeps only the identifiers (oid, tid, azp); replay then calls the
     * records not replayable.
     */
    readonly decisionInputs: boolean;
  };
  readonly port: number;
}

/** See {@link Config.onBehalfOf}. */
export interface OnBehalfOfSettings {
  readonly clientId: string;
  readonly clientSecret?: string;
  readonly certificatePath?: string;
}

/**
 * Where the gateway runs. `functions`: under the Azure Functions host, where the SAS keys and
 * downstream host list are required. `local`: the local stack, which generates SAS keys per run
 * (with a warning) and allows loopback downstreams when those settings are absent.
 */
export type RunMode = 'functions' | 'local';

/** A setting that is present but wrong, or required and absent. The message is one line and names it. */
export class ConfigError extends Error {
  constructor(
    readonly setting: SettingName,
    problem: string,
  ) {
    super(`${setting}: ${problem}`);
    this.name = 'ConfigError';
  }
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const HOST_PATTERN =
  /^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$|^\[[0-9a-f:.]+\]$/i;
const DATABASE_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,254}$/;

const commaList = (value: string): string[] =>
  value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item.length > 0);

const integer = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, `expected a whole number from ${min} to ${max}`)
    .transform(Number)
    .pipe(z.number().int().min(min, `expected at least ${min}`).max(max, `expected at most ${max}`));

const trustedUrl = z.string().transform((value, ctx) => {
  const parsed = parseTrustedUrl(value);
  if ('problem' in parsed) {
    ctx.addIssue({ code: 'custom', message: parsed.problem });
    return z.NEVER;
  }
  return parsed.url.href.replace(/\/+$/, '');
});

const tenantId = z
  .string()
  .refine(
    (v) => GUID.test(v) || (MULTI_TENANT_IDS as readonly string[]).includes(v),
    'expected a tenant GUID, "organizations" or "common"',
  );

const guidList = z
  .string()
  .transform(commaList)
  .pipe(
    z.array(z.string().regex(GUID, 'expected a comma list of tenant GUIDs')).min(1, 'expected at least one'),
  )
  .transform((ids) => ids.map((id) => id.toLowerCase()));

const audienceList = z
  .string()
  .transform(commaList)
  .pipe(
    z
      .array(
        z
          .string()
          .refine(
            (v) => GUID.test(v) || /^api:\/\/\S+$/.test(v) || /^https:\/\/\S+$/.test(v),
            'expected a comma list of client id GUIDs or App ID URIs (api://... or https://...)',
          ),
      )
      .min(1, 'expected at least one audience'),
  );

const hostList = z
  .string()
  .transform(commaList)
  .pipe(
    z
      .array(
        z
          .string()
          .regex(HOST_PATTERN, 'expected a comma list of host names, "*.example.net" patterns allowed'),
      )
      .min(1, 'expected at least one host'),
  )
  .transform((hosts) => hosts.map((h) => h.toLowerCase()));

/** Parses `name=base64secret,...` (one reading for config and verifier). Never echoes a secret. */
const sasKeys = z.string().transform((value, ctx): SasSigningKey[] => {
  try {
    return parseSigningKeySetting(value);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
    return z.NEVER;
  }
});

/** Parses `name=base64(PKCS#8 DER),...` EC P-256 keys. Never echoes a key. */
const statementKeys = z.string().transform((value, ctx): StatementKey[] => {
  try {
    return parseStatementKeySetting(value);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
    return z.NEVER;
  }
});

/**
 * The gateway's own secrets: never an app setting a resource may send upstream, even if listed.
 * (Every other name must be listed to be usable; this only catches a listing mistake.)
 */
const OWN_SECRETS = new Set(['SAS_SIGNING_KEYS', 'STATEMENT_SIGNING_KEYS', 'COSMOS_KEY']);

const keySettingList = z.string().transform((value, ctx) => {
  const names = value
    .split(',')
    .map((n) => n.trim())
    .filter((n) => n.length > 0);
  for (const name of names) {
    if (!/^[A-Za-z_][A-Za-z0-9_]{0,127}$/.test(name)) {
      ctx.addIssue({
        code: 'custom',
        message: `"${name}" is not an app setting name ([A-Za-z_][A-Za-z0-9_]*)`,
      });
      return z.NEVER;
    }
    if (OWN_SECRETS.has(name.toUpperCase())) {
      ctx.addIssue({
        code: 'custom',
        message: `"${name}" is the gateway's own secret and is never sent upstream`,
      });
      return z.NEVER;
    }
  }
  return names;
});

/** One schema per setting, so that every failure names exactly one setting. */
const SETTINGS = {
  ENTRA_AUTHORITY: trustedUrl,
  ENTRA_TENANT_ID: tenantId,
  ENTRA_ALLOWED_TENANTS: guidList,
  ENTRA_AUDIENCES: audienceList,
  ENTRA_CLOCK_SKEW_SECONDS: integer(0, 600),
  ENTRA_ALLOW_ACL_AUTHORIZATION: z
    .enum(['true', 'false'], { message: 'expected true or false' })
    .transform((value) => value === 'true'),
  DPOP_REPLAY_STORE: z.enum(['shared', 'local', 'redis'], { message: 'expected shared, local or redis' }),
  REDIS_URL: z.string().transform((value, ctx) => {
    const parsed = parseRedisUrl(value);
    if ('problem' in parsed) {
      ctx.addIssue({ code: 'custom', message: parsed.problem });
      return z.NEVER;
    }
    return parsed;
  }),
  GATEWAY_ADMIN_ROLE: z
    .string()
    .regex(/^[^\s,]{1,120}$/, 'expected an app role value without spaces or commas'),
  COSMOS_ENDPOINT: trustedUrl,
  COSMOS_KEY: z.string().min(1, 'must not be empty (unset it to use managed identity)'),
  COSMOS_DATABASE: z.string().regex(DATABASE_ID, 'expected a Cosmos DB database id ([A-Za-z0-9_-])'),
  SAS_SIGNING_KEYS: sasKeys,
  GATEWAY_ISSUER: trustedUrl,
  STATEMENT_SIGNING_KEYS: statementKeys,
  SAS_DEFAULT_TTL_SECONDS: integer(1, 86_400),
  SAS_MAX_TTL_SECONDS: integer(1, 86_400),
  DOWNSTREAM_ALLOWED_HOSTS: hostList,
  DOWNSTREAM_KEY_SETTINGS: keySettingList,
  POLICY_REFRESH_SECONDS: integer(1, 3600),
  POLICY_MAX_STALENESS_SECONDS: integer(1, 86_400),
  PROXY_MAX_BODY_BYTES: integer(0, 1_073_741_824),
  RATE_LIMIT_PRINCIPAL_PER_SECOND: integer(0, 1_000_000),
  RATE_LIMIT_IP_PER_SECOND: integer(0, 1_000_000),
  GATEWAY_CLIENT_ID: z.string().regex(/^\S{1,256}$/, 'expected a client id without spaces'),
  GATEWAY_CLIENT_SECRET: z.string().min(1),
  GATEWAY_CLIENT_CERTIFICATE_PATH: z.string().min(1).max(4096),
  AUDIT_RETENTION_DAYS: integer(1, 36_500),
  AUDIT_DECISION_INPUTS: z
    .enum(['true', 'false'], { message: 'expected true or false' })
    .transform((value) => value === 'true'),
  PORT: integer(0, 65_535),
} satisfies Record<SettingName, z.ZodType>;

type Parsed = { [K in SettingName]: z.output<(typeof SETTINGS)[K]> };

/** Environment-like input: absent and empty-string settings are treated alike (unset). */
export type Environment = Readonly<Record<string, string | undefined>>;

function read<K extends SettingName>(env: Environment, name: K): Parsed[K] | undefined {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return undefined;
  const result = SETTINGS[name].safeParse(raw.trim());
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new ConfigError(name, issue?.message ?? 'invalid value');
  }
  return result.data as Parsed[K];
}

function required<K extends SettingName>(env: Environment, name: K, why: string): Parsed[K] {
  const value = read(env, name);
  if (value === undefined) throw new ConfigError(name, `required ${why}`);
  return value;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Buffer.isBuffer(value) && !Object.isFrozen(value)) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

/** {@link Config.onBehalfOf}: a client id needs a secret or a certificate to be of any use. */
function onBehalfOfSettings(env: Environment): OnBehalfOfSettings | undefined {
  const clientId = read(env, 'GATEWAY_CLIENT_ID');
  const clientSecret = read(env, 'GATEWAY_CLIENT_SECRET');
  const certificatePath = read(env, 'GATEWAY_CLIENT_CERTIFICATE_PATH');
  if (clientId === undefined) {
    if (clientSecret !== undefined || certificatePath !== undefined)
      throw new ConfigError(
        'GATEWAY_CLIENT_ID',
        'required with GATEWAY_CLIENT_SECRET or GATEWAY_CLIENT_CERTIFICATE_PATH',
      );
    return undefined;
  }
  if (clientSecret === undefined && certificatePath === undefined)
    throw new ConfigError(
      'GATEWAY_CLIENT_SECRET',
      'required with GATEWAY_CLIENT_ID (or GATEWAY_CLIENT_CERTIFICATE_PATH)',
    );
  return {
    clientId,
    ...(clientSecret === undefined ? {} : { clientSecret }),
    ...(certificatePath === undefined ? {} : { certificatePath }),
  };
}

export interface LoadConfigOptions {
  mode: RunMode;
  /** Called once with a warning line (e.g. generated SAS keys). */
  warn?: (line: string) => void;
}

/**
 * Reads every setting of docs/reference.md §2 from `env`, validates it and returns a frozen
 * {@link Config}. Throws a {@link ConfigError} whose message is one line naming the setting.
 *
 * @example
 * const config = loadConfig(process.env, { mode: 'functions' });
 */
export function loadConfig(env: Environment, options: LoadConfigOptions): Config {
  const underHost = 'under the Functions host';
  const authority = required(env, 'ENTRA_AUTHORITY', '(the Entra authority host)');
  const tenant = required(env, 'ENTRA_TENANT_ID', '(a tenant GUID, "organizations" or "common")');
  const multiTenant = (MULTI_TENANT_IDS as readonly string[]).includes(tenant);
  const allowedTenants = read(env, 'ENTRA_ALLOWED_TENANTS');
  if (multiTenant && allowedTenants === undefined) {
    throw new ConfigError('ENTRA_ALLOWED_TENANTS', `required when ENTRA_TENANT_ID is "${tenant}"`);
  }
  if (!multiTenant && allowedTenants && !allowedTenants.includes(tenant.toLowerCase())) {
    throw new ConfigError(
      'ENTRA_ALLOWED_TENANTS',
      'must include ENTRA_TENANT_ID for a single-tenant gateway',
    );
  }
  const audiences = required(env, 'ENTRA_AUDIENCES', '(API client id and/or App ID URI)');

  const defaultTtl = read(env, 'SAS_DEFAULT_TTL_SECONDS') ?? DEFAULTS.sasDefaultTtlSeconds;
  const maxTtl = read(env, 'SAS_MAX_TTL_SECONDS') ?? DEFAULTS.sasMaxTtlSeconds;
  if (defaultTtl > maxTtl) {
    throw new ConfigError('SAS_DEFAULT_TTL_SECONDS', `must not exceed SAS_MAX_TTL_SECONDS (${maxTtl})`);
  }

  const givenKeys = read(env, 'SAS_SIGNING_KEYS');
  if (givenKeys === undefined && options.mode === 'functions') {
    throw new ConfigError('SAS_SIGNING_KEYS', `required ${underHost} (name=base64secret,...)`);
  }
  const givenStatementKeys = read(env, 'STATEMENT_SIGNING_KEYS');
  if (givenStatementKeys === undefined && options.mode === 'functions') {
    throw new ConfigError('STATEMENT_SIGNING_KEYS', `required ${underHost} (name=base64(PKCS#8 DER),...)`);
  }

  let allowedHosts = read(env, 'DOWNSTREAM_ALLOWED_HOSTS');
  if (allowedHosts === undefined) {
    if (options.mode === 'functions') {
      throw new ConfigError('DOWNSTREAM_ALLOWED_HOSTS', `required ${underHost}`);
    }
    allowedHosts = [...DEFAULTS.localDownstreamAllowedHosts];
  }

  const keySettings =
    read(env, 'DOWNSTREAM_KEY_SETTINGS') ??
    (options.mode === 'local' ? [...DEFAULTS.localDownstreamKeySettings] : []);

  const cosmosEndpoint = required(env, 'COSMOS_ENDPOINT', '(the Cosmos DB account endpoint)');
  const cosmosKey = read(env, 'COSMOS_KEY');
  const cosmosDatabase = read(env, 'COSMOS_DATABASE') ?? DEFAULTS.cosmosDatabase;
  const clockSkewSeconds = read(env, 'ENTRA_CLOCK_SKEW_SECONDS') ?? DEFAULTS.clockSkewSeconds;
  const allowAclAuthorization = read(env, 'ENTRA_ALLOW_ACL_AUTHORIZATION') ?? DEFAULTS.allowAclAuthorization;
  const adminRole = read(env, 'GATEWAY_ADMIN_ROLE') ?? DEFAULTS.adminRole;
  const policyRefreshSeconds = read(env, 'POLICY_REFRESH_SECONDS') ?? DEFAULTS.policyRefreshSeconds;
  const policyMaxStalenessSeconds =
    read(env, 'POLICY_MAX_STALENESS_SECONDS') ?? DEFAULTS.policyMaxStalenessRefreshes * policyRefreshSeconds;
  if (policyMaxStalenessSeconds < 2 * policyRefreshSeconds) {
    // One late refresh must not take an instance down: the bound holds at least two intervals.
    throw new ConfigError(
      'POLICY_MAX_STALENESS_SECONDS',
      `must be at least twice POLICY_REFRESH_SECONDS (${2 * policyRefreshSeconds})`,
    );
  }
  const proxyMaxBodyBytes = read(env, 'PROXY_MAX_BODY_BYTES') ?? DEFAULTS.proxyMaxBodyBytes;
  const redis = read(env, 'REDIS_URL');
  const dpopReplayStore = read(env, 'DPOP_REPLAY_STORE') ?? DEFAULTS.dpopReplayStore;
  if (dpopReplayStore === 'redis' && redis === undefined)
    throw new ConfigError('DPOP_REPLAY_STORE', 'redis needs REDIS_URL');
  const port = read(env, 'PORT') ?? DEFAULTS.port;
  // Off by default in the local stack, where load tests and benchmarks run from one caller and IP.
  const local = options.mode === 'local';
  const rateLimits = {
    principalPerSecond:
      read(env, 'RATE_LIMIT_PRINCIPAL_PER_SECOND') ?? (local ? 0 : DEFAULTS.rateLimitPrincipalPerSecond),
    ipPerSecond: read(env, 'RATE_LIMIT_IP_PER_SECOND') ?? (local ? 0 : DEFAULTS.rateLimitIpPerSecond),
  };

  // Generated last, so a wrong setting elsewhere is reported without a misleading warning first.
  const signingKeys = givenKeys ?? [
    { name: `local-${randomBytes(3).toString('hex')}`, secret: randomBytes(32) },
  ];
  if (givenKeys === undefined) {
    options.warn?.(
      'SAS_SIGNING_KEYS is not set: using a random key for this run; SAS tokens will not survive a restart',
    );
  }
  const statementSigningKeys = givenStatementKeys ?? [
    generateStatementKey(`local-${randomBytes(3).toString('hex')}`),
  ];
  if (givenStatementKeys === undefined) {
    options.warn?.('STATEMENT_SIGNING_KEYS is not set: using a random key for this run');
  }

  const config: Config = {
    entra: {
      authority,
      tenantId: multiTenant ? tenant : tenant.toLowerCase(),
      multiTenant,
      allowedTenants: allowedTenants ?? [tenant.toLowerCase()],
      audiences,
      clockSkewSeconds,
      allowAclAuthorization,
    },
    adminRole,
    cosmos: { endpoint: cosmosEndpoint, key: cosmosKey, database: cosmosDatabase },
    sas: {
      signingKeys,
      keysGenerated: givenKeys === undefined,
      defaultTtlSeconds: defaultTtl,
      maxTtlSeconds: maxTtl,
    },
    statement: {
      signingKeys: statementSigningKeys,
      keysGenerated: givenStatementKeys === undefined,
      issuer: read(env, 'GATEWAY_ISSUER'),
    },
    downstreamAllowedHosts: allowedHosts,
    downstreamKeySettings: keySettings,
    policyRefreshSeconds,
    policyMaxStalenessSeconds,
    proxyMaxBodyBytes,
    rateLimits,
    dpopReplayStore,
    redis,
    onBehalfOf: onBehalfOfSettings(env),
    audit: {
      retentionDays: read(env, 'AUDIT_RETENTION_DAYS') ?? DEFAULTS.auditRetentionDays,
      decisionInputs: read(env, 'AUDIT_DECISION_INPUTS') ?? DEFAULTS.auditDecisionInputs,
    },
    port,
  };
  return deepFreeze(config);
}
