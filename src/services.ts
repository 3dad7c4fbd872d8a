/**
 * The composition root: {@link buildServices} builds every real object the gateway runs on, once,
 * from validated config and its I/O, and {@link Services} is the one registry of them. Routes
 * receive it as their `deps`, each declaring the few members it reads (a `Pick<Services, ...>`),
 * so a route's reach is visible in its type. Nothing here knows a route.
 */
import type { TokenCredential } from '@azure/core-auth';
import type { CosmosClient } from '@azure/cosmos';
import { DocumentAdmin } from './admin/document-admin';
import { AuditLog, type AuditSink } from './audit/audit-log';
import { AuditWorkerSink } from './audit/audit-worker-sink';
import { CosmosAuditStore } from './audit/cosmos-audit-store';
import { EntraTokenValidator } from './auth/entra/entra-token-validator';
import { systemClock, type Clock } from './clock';
import type { Config } from './config/load-config';
import { DpopVerifier } from './dpop/dpop-verifier';
import { CosmosReplayStore } from './dpop/cosmos-replay-store';
import { LayeredReplayStore, MemoryReplayStore } from './dpop/replay-store';
import { RedisReplayStore } from './dpop/redis-replay-store';
import { MemoryQuotaStore } from './quota/quota';
import { QuotaGate } from './quota/quota-gate';
import { RedisQuotaStore } from './quota/redis-quota-store';
import {
  connectRedis,
  type RedisClientModule,
  type RedisCommands,
  type RedisConnection,
} from './store/redis-connection';
import { createJsonLogger, describeError, type Logger } from './logger';
import { OpenTelemetryMetrics, type Metrics } from './observability/metrics';
import {
  parsePolicy,
  parseResource,
  POLICY_ID_PATTERN,
  RESOURCE_NAME_PATTERN,
  type Policy,
  type Resource,
} from './policy/model';
import { GatewayProxy, type GatewayProxyDeps } from './proxy/gateway-proxy';
import { StatementSigner } from './proxy/principal-statement';
import { RateLimiter } from './ratelimit/rate-limiter';
import { SasCredentialVerifier } from './auth/sas-credential-verifier';
import { CONTAINERS } from './store/cosmos';
import { CosmosHealthCheck } from './store/cosmos-health';
import { PolicyState } from './state/policy-state';
import { HmacKeyRing } from './sas/hmac-key-ring';

/** The I/O the gateway is built on: injected, so tests pass real embedded servers or small fakes. */
export interface ServicesIO {
  readonly cosmos: CosmosClient;
  readonly clock?: Clock;
  readonly logger?: Logger;
  /** Used for OpenID metadata and JWKS; defaults to the global fetch. */
  readonly fetch?: typeof fetch;
  /** Default: OpenTelemetry (a no-op until an exporter is registered). */
  readonly metrics?: Metrics;
  /** Default: the Cosmos DB `audit` container, written from a worker thread. */
  readonly auditSink?: AuditSink;
  /** A CA (PEM) the Cosmos DB endpoint's certificate chains to (the local stack's), for the audit writer's own client. */
  readonly cosmosCa?: string;
  /** Loads `@redis/client` for `REDIS_URL` (default: `import()`; jest hands in the module it loaded). */
  readonly loadRedis?: () => Promise<RedisClientModule>;
  /** Downstream I/O of the proxy (credentials, env, pools, its deadline clock); defaults are the real ones. */
  readonly proxy?: Partial<GatewayProxyDeps>;
}

/** Every service of one gateway instance. */
export interface Services {
  readonly config: Config;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** Verifies Entra ID access tokens (metadata, keys, claims). */
  readonly entra: EntraTokenValidator;
  /** Policies, resources and revocations from Cosmos DB, compiled and kept current. */
  readonly state: PolicyState;
  /** The SAS key ring (`SAS_SIGNING_KEYS`): the first key signs, all verify. The gateway's alone. */
  readonly sasKeys: HmacKeyRing;
  /** Signs `x-gateway-principal` (`STATEMENT_SIGNING_KEYS`) and publishes the public keys. */
  readonly statements: StatementSigner;
  /** Verifies `SharedAccessSignature` credentials. */
  readonly sas: SasCredentialVerifier;
  /** Verifies DPoP proofs (RFC 9449), each `jti` once across every instance. */
  readonly dpop: DpopVerifier;
  /** The admin API's two document kinds. */
  readonly admin: { readonly policies: DocumentAdmin<Policy>; readonly resources: DocumentAdmin<Resource> };
  /** The decision log, written to Cosmos DB off the request path. */
  readonly auditLog: AuditLog;
  readonly auditStore: CosmosAuditStore;
  /** Upstream pools, deadlines and downstream credentials of the proxy. */
  readonly proxy: GatewayProxy;
  readonly cosmosHealth: CosmosHealthCheck;
  /** Quotas per resource, counted in Redis across instances (`REDIS_URL`) or in this instance's memory. */
  readonly quotas: QuotaGate;
  /** Per-instance limits by caller and by client IP (absent when set to 0). */
  readonly limits: { readonly principal: RateLimiter | undefined; readonly ip: RateLimiter | undefined };
  /**
   * Loads what the hot path needs (OpenID metadata, signing keys, policies). Never throws: an
   * unreachable dependency is reported by `/api/health`, and requests fail closed meanwhile.
   */
  start(): Promise<void>;
  /** Stops background work and writes the audit records still queued (graceful shutdown). */
  close(): Promise<void>;
}

/** The managed identity, for Cosmos DB without a key: `@azure/identity` is loaded on first use. */
let azureCredential: Promise<TokenCredential> | undefined;
function loadAzureCredential(): Promise<TokenCredential> {
  azureCredential ??= import('@azure/identity').then(
    ({ DefaultAzureCredential }) => new DefaultAzureCredential(),
    (err: unknown) => {
      azureCredential = undefined;
      throw err;
    },
  );
  return azureCredential;
}

/**
 * Builds the services of one gateway instance from validated config and its I/O.
 *
 * @example
 * ```ts
 * const services = buildServices(loadConfig(process.env, { mode: 'functions' }), { cosmos });
 * await services.start();
 * ```
 */
export function buildServices(config: Config, io: ServicesIO): Services {
  const clock = io.clock ?? systemClock;
  const logger = io.logger ?? createJsonLogger();
  const metrics = io.metrics ?? new OpenTelemetryMetrics();
  const entra = new EntraTokenValidator({
    config: config.entra,
    clock,
    logger,
    onJwksFetched: (outcome) => metrics.jwksRefresh(outcome),
    ...(io.fetch ? { fetch: io.fetch } : {}),
  });
  const limiter = (perSecond: number) =>
    perSecond > 0 ? new RateLimiter({ ratePerSecond: perSecond, burst: 2 * perSecond }, clock) : undefined;
  const auditStore = new CosmosAuditStore(
    io.cosmos.database(config.cosmos.database).container(CONTAINERS.audit),
  );
  const auditSink =
    io.auditSink ??
    new AuditWorkerSink({ cosmos: config.cosmos, container: CONTAINERS.audit, ca: io.cosmosCa });
  const auditLog = new AuditLog({ sink: auditSink, clock, logger });
  const resourceRules = {
    allowedHosts: config.downstreamAllowedHosts,
    keySettings: config.downstreamKeySettings,
  };
  const state = new PolicyState({
    client: io.cosmos,
    databaseId: config.cosmos.database,
    resourceRules,
    refreshSeconds: config.policyRefreshSeconds,
    maxStalenessSeconds: config.policyMaxStalenessSeconds,
    clock,
    logger,
  });
  const sasKeys = new HmacKeyRing(config.sas.signingKeys);
  const statements = new StatementSigner(config.statement.signingKeys, clock);
  const proxy = new GatewayProxy(config, { clock, logger, statements, metrics, ...io.proxy });
  const sas = new SasCredentialVerifier({
    keys: sasKeys,
    clock,
    skewSeconds: config.entra.clockSkewSeconds,
    state,
  });
  // REDIS_URL: one connection for quotas and (DPOP_REPLAY_STORE=redis) DPoP proofs, opened in the
  // background; commands sent before it is ready are refused (and decided without it).
  let connection: RedisConnection | undefined;
  const connecting =
    config.redis === undefined
      ? undefined
      : connectRedis(config.redis, {
          logger,
          credential: loadAzureCredential,
          ...(io.loadRedis ? { loadClient: io.loadRedis } : {}),
        }).then((c) => (connection = c));
  connecting?.catch((err: unknown) =>
    logger.log('error', 'redis.client_failed', { error: describeError(err) }),
  );
  const redis: RedisCommands = {
    sendCommand: async <T>(args: readonly string[]) => (await connecting!).sendCommand<T>(args),
  };
  const quotas = new QuotaGate(
    config.redis === undefined ? new MemoryQuotaStore(() => clock.now()) : new RedisQuotaStore(redis),
    {
      clock,
      logger,
      metrics,
      ...(config.redis === undefined ? {} : { connection: () => connection?.health() ?? { ready: false } }),
    },
  );
  const sharedProofs =
    config.dpopReplayStore === 'shared'
      ? new CosmosReplayStore({
          endpoint: config.cosmos.endpoint,
          database: config.cosmos.database,
          container: CONTAINERS.dpopProofs,
          auth:
            config.cosmos.key !== undefined
              ? { key: config.cosmos.key }
              : { credential: loadAzureCredential },
          clock,
          ca: io.cosmosCa,
        })
      : undefined;
  const dpop = new DpopVerifier({
    clock,
    logger,
    skewSeconds: config.entra.clockSkewSeconds,
    // DPOP_REPLAY_STORE: every instance's proofs in Cosmos DB (the default) or Redis, or this one's alone.
    replay:
      config.dpopReplayStore === 'redis'
        ? new LayeredReplayStore(new MemoryReplayStore(clock), new RedisReplayStore(redis))
        : sharedProofs === undefined
          ? new MemoryReplayStore(clock)
          : new LayeredReplayStore(new MemoryReplayStore(clock), sharedProofs),
  });
  const rebuild = () => state.rebuild();
  const admin = {
    policies: new DocumentAdmin<Policy>({
      noun: 'policy',
      idField: 'id',
      idPattern: POLICY_ID_PATTERN,
      store: state.policyStore,
      collection: state.policies,
      validate: parsePolicy,
      onLocalChange: rebuild,
    }),
    resources: new DocumentAdmin<Resource>({
      noun: 'resource',
      idField: 'name',
      idPattern: RESOURCE_NAME_PATTERN,
      store: state.resourceStore,
      collection: state.resources,
      validate: (body) => parseResource(body, resourceRules),
      onLocalChange: rebuild,
    }),
  };
  return {
    config,
    clock,
    logger,
    metrics,
    entra,
    state,
    sasKeys,
    statements,
    sas,
    dpop,
    admin,
    auditLog,
    auditStore,
    proxy,
    cosmosHealth: new CosmosHealthCheck(io.cosmos, config.cosmos.database, clock, logger),
    quotas,
    limits: {
      principal: limiter(config.rateLimits.principalPerSecond),
      ip: limiter(config.rateLimits.ipPerSecond),
    },
    async start() {
      auditLog.start();
      metrics.observe({
        policyIndexAgeSeconds: () => {
          const age = state.refresher.ageMs();
          return age === undefined ? undefined : age / 1000;
        },
        auditQueueDepth: () => auditLog.stats.queued,
        auditDropped: () => auditLog.stats.dropped,
      });
      await Promise.all([entra.warmUp(), state.start()]);
    },
    async close() {
      state.stop();
      await Promise.all([
        auditLog.close(),
        proxy.close(),
        sharedProofs?.close(),
        quotas.close(),
        connecting?.then((c) => c.close()).catch(() => undefined),
      ]);
    },
  };
}
