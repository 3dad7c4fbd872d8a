import type { CosmosClient } from '@azure/cosmos';
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { adminRequest } from './admin/admin-api';
import { DocumentAdmin } from './admin/document-admin';
import { authenticate } from './auth/authenticate';
import { EntraTokenValidator } from './auth/entra/entra-token-validator';
import type { Principal } from './auth/principal';
import { systemClock, type Clock } from './clock';
import type { Config } from './config/load-config';
import { GatewayError, toGatewayError } from './errors';
import { revokeRequest } from './revocation/revocations-api';
import { SasCredentialVerifier } from './sas/sas-credential-verifier';
import { exchangeToken } from './sas/token-exchange';
import { HmacKeyRing } from './verifier/hmac-key-ring';
import { correlationIdOf } from './http/request-context';
import { jsonResponse, problemResponse } from './http/responses';
import { createJsonLogger, describeError, type Logger } from './logger';
import { authorizeRequest } from './policy/decision-api';
import {
  parsePolicy,
  parseResource,
  POLICY_ID_PATTERN,
  RESOURCE_NAME_PATTERN,
  type Policy,
  type Resource,
} from './policy/model';
import { PolicyState } from './policy/policy-state';
import { CosmosHealthCheck, type CheckResult } from './store/cosmos-health';
import { auditRequest } from './audit/audit-api';
import { AuditLog, type AuditSink } from './audit/audit-log';
import type { AuditOperation } from './audit/audit-record';
import { CosmosAuditStore } from './audit/cosmos-audit-store';
import { OpenTelemetryMetrics, type Metrics } from './observability/metrics';
import { CONTAINERS } from './store/cosmos';
import { clientIp } from './http/client-ip';
import { GatewayProxy, type GatewayProxyDeps } from './proxy/gateway-proxy';
import { proxyRequest } from './proxy/proxy-api';
import { RateLimiter, type RateDecision } from './ratelimit/rate-limiter';

/** The I/O the gateway is built on: injected, so tests pass real embedded servers or small fakes. */
export interface GatewayDeps {
  readonly cosmos: CosmosClient;
  readonly clock?: Clock;
  readonly logger?: Logger;
  /** Used for OpenID metadata and JWKS; defaults to the global fetch. */
  readonly fetch?: typeof fetch;
  /** Default: OpenTelemetry (a no-op until an exporter is registered). */
  readonly metrics?: Metrics;
  /** Default: the Cosmos DB `audit` container. */
  readonly auditSink?: AuditSink;
  /** Downstream I/O of the proxy (credentials, env, pools); defaults are the real ones. */
  readonly proxy?: Partial<GatewayProxyDeps>;
}

/**
 * What an operation tells the audit trail about its decision. `handle` completes it (principal,
 * status, latency, or the error's code) and writes one record per audited request.
 */
export interface AuditFacts {
  principal?: Pick<Principal, 'oid' | 'tid' | 'azp'> & { readonly kind?: Principal['kind'] };
  resource?: string;
  action?: string;
  path?: string;
  decision?: 'allow' | 'deny';
  policies?: readonly string[];
  reasonCode?: string;
  /** Set by an operation that decided this request is not worth a record (an admin read). */
  skip?: boolean;
}

/** What one request is about, for the operation that serves it. */
export interface RequestScope {
  readonly correlationId: string;
  readonly request: HttpRequest;
  readonly context: InvocationContext;
  /** Filled by the operation; written to the audit trail by `handle`. */
  readonly audit: AuditFacts;
}

/** One route's behaviour. `auditAs` names the decision kind it records (none: not audited). */
export type Operation = ((scope: RequestScope) => Promise<HttpResponseInit>) & {
  readonly auditAs?: AuditOperation;
};

/** Marks an operation as audited under `kind`. */
function audited(kind: AuditOperation, run: (scope: RequestScope) => Promise<HttpResponseInit>): Operation {
  return Object.assign(run, { auditAs: kind });
}

/** Turns a failure into a response: problem+json by default, the OAuth shape on `/api/token`. */
export type ErrorRenderer = (error: GatewayError, correlationId: string) => HttpResponseInit;

/** Options of {@link Gateway.authenticate}. */
export interface AuthenticateOptions {
  /**
   * Accept `SharedAccessSignature` credentials too (and name that scheme in the 401 challenge).
   * Only routes a SAS can be used on set it: `/api/authorize` and the proxy; never admin routes.
   */
  readonly acceptSas?: boolean;
}

/**
 * The gateway: every route's behaviour, independent of the host that serves it. Build one with
 * {@link createGateway}; `functions/*.ts` and the local stack both call its operations through
 * {@link Gateway.handle}.
 */
export class Gateway {
  readonly clock: Clock;
  readonly logger: Logger;
  readonly entra: EntraTokenValidator;
  readonly state: PolicyState;
  /** The SAS key ring (`SAS_SIGNING_KEYS`): the first key signs, all verify. */
  readonly sasKeys: HmacKeyRing;
  /** Verifies `SharedAccessSignature` credentials (the proxy calls `sas.verifyCredential`). */
  readonly sas: SasCredentialVerifier;
  readonly admin: { readonly policies: DocumentAdmin<Policy>; readonly resources: DocumentAdmin<Resource> };
  /** The decision log, written to Cosmos DB off the request path. */
  readonly auditLog: AuditLog;
  readonly auditStore: CosmosAuditStore;
  readonly metrics: Metrics;
  /** Upstream pools and downstream credentials of the proxy. */
  readonly proxyState: GatewayProxy;
  private readonly cosmosHealth: CosmosHealthCheck;
  /** Per-instance limits by caller and by client IP (absent when set to 0). */
  private readonly principalLimiter: RateLimiter | undefined;
  private readonly ipLimiter: RateLimiter | undefined;
  /** The audit facts of requests in flight, so `authenticate` can note who is calling. */
  private readonly facts = new WeakMap<HttpRequest, AuditFacts>();

  constructor(
    readonly config: Config,
    deps: GatewayDeps,
  ) {
    this.clock = deps.clock ?? systemClock;
    this.logger = deps.logger ?? createJsonLogger();
    this.metrics = deps.metrics ?? new OpenTelemetryMetrics();
    this.entra = new EntraTokenValidator({
      config: config.entra,
      clock: this.clock,
      logger: this.logger,
      onJwksFetched: (outcome) => this.metrics.jwksRefresh(outcome),
      ...(deps.fetch ? { fetch: deps.fetch } : {}),
    });
    this.cosmosHealth = new CosmosHealthCheck(deps.cosmos, config.cosmos.database, this.clock, this.logger);
    const limiter = (perSecond: number) =>
      perSecond > 0
        ? new RateLimiter({ ratePerSecond: perSecond, burst: 2 * perSecond }, this.clock)
        : undefined;
    this.principalLimiter = limiter(config.rateLimits.principalPerSecond);
    this.ipLimiter = limiter(config.rateLimits.ipPerSecond);
    this.auditStore = new CosmosAuditStore(
      deps.cosmos.database(config.cosmos.database).container(CONTAINERS.audit),
    );
    this.auditLog = new AuditLog({
      sink: deps.auditSink ?? this.auditStore,
      clock: this.clock,
      logger: this.logger,
    });
    this.state = new PolicyState({
      client: deps.cosmos,
      databaseId: config.cosmos.database,
      resourceRules: {
        allowedHosts: config.downstreamAllowedHosts,
        keySettings: config.downstreamKeySettings,
      },
      refreshSeconds: config.policyRefreshSeconds,
      clock: this.clock,
      logger: this.logger,
    });
    this.sasKeys = new HmacKeyRing(config.sas.signingKeys);
    this.proxyState = new GatewayProxy(config, {
      clock: this.clock,
      logger: this.logger,
      keyRing: this.sasKeys,
      metrics: this.metrics,
      ...deps.proxy,
    });
    this.sas = new SasCredentialVerifier({
      keys: this.sasKeys,
      clock: this.clock,
      skewSeconds: config.entra.clockSkewSeconds,
      state: this.state,
    });
    const rebuild = () => this.state.rebuild();
    this.admin = {
      policies: new DocumentAdmin<Policy>({
        noun: 'policy',
        idField: 'id',
        idPattern: POLICY_ID_PATTERN,
        store: this.state.policyStore,
        collection: this.state.policies,
        validate: parsePolicy,
        onLocalChange: rebuild,
      }),
      resources: new DocumentAdmin<Resource>({
        noun: 'resource',
        idField: 'name',
        idPattern: RESOURCE_NAME_PATTERN,
        store: this.state.resourceStore,
        collection: this.state.resources,
        validate: (body) =>
          parseResource(body, {
            allowedHosts: config.downstreamAllowedHosts,
            keySettings: config.downstreamKeySettings,
          }),
        onLocalChange: rebuild,
      }),
    };
  }

  /**
   * Loads what the hot path needs (OpenID metadata, signing keys, policies). Never throws: an
   * unreachable dependency is reported by `/api/health`, and requests fail closed meanwhile.
   */
  async start(): Promise<void> {
    this.auditLog.start();
    this.metrics.observe({
      policyIndexAgeSeconds: () => {
        const age = this.state.refresher.ageMs();
        return age === undefined ? undefined : age / 1000;
      },
      auditQueueDepth: () => this.auditLog.stats.queued,
      auditDropped: () => this.auditLog.stats.dropped,
    });
    await Promise.all([this.entra.warmUp(), this.state.start()]);
  }

  /** Stops background work and writes the audit records still queued (graceful shutdown). */
  async close(): Promise<void> {
    this.state.stop();
    await Promise.all([this.auditLog.close(), this.proxyState.close()]);
  }

  /**
   * Runs one operation with the gateway's request pipeline: correlation id in and out, every
   * failure turned into problem+json (or what `render` makes of it), and one log line per
   * failed request.
   */
  async handle(
    operation: Operation,
    request: HttpRequest,
    context: InvocationContext,
    render: ErrorRenderer = problemResponse,
  ): Promise<HttpResponseInit> {
    const correlationId = correlationIdOf(request);
    const started = this.clock.now();
    const audit: AuditFacts = {};
    this.facts.set(request, audit);
    let response: HttpResponseInit;
    let failure: GatewayError | undefined;
    try {
      // Health probes come from the platform and must never be throttled.
      if (this.ipLimiter && operation !== this.health)
        enforce(this.ipLimiter.take(clientIp(request)), 'this client IP');
      const answer = await operation({ correlationId, request, context, audit });
      response = {
        ...answer,
        headers: { ...(answer.headers as Record<string, string>), 'x-correlation-id': correlationId },
      };
    } catch (err) {
      failure = toGatewayError(err);
      const fields = {
        correlationId,
        method: request.method,
        route: context.functionName,
        status: failure.status,
        code: failure.code,
        ...(failure.cause === undefined ? {} : { cause: describeError(failure.cause) }),
      };
      // Through the invocation's logger: the Functions host ties the line to the invocation (and
      // Application Insights to the request); the local stack's adapter writes it as a JSON line.
      if (failure.status >= 500) context.error('request.failed', fields);
      else context.info('request.failed', fields);
      response = render(failure, correlationId);
    }
    if (operation.auditAs !== undefined && !audit.skip)
      this.recordDecision(operation.auditAs, audit, response, failure, correlationId, started);
    return response;
  }

  /** One audit record and one metric per audited request. Never throws, never waits. */
  private recordDecision(
    kind: AuditOperation,
    facts: AuditFacts,
    response: HttpResponseInit,
    failure: GatewayError | undefined,
    correlationId: string,
    started: number,
  ): void {
    const status = response.status ?? 200;
    const decision = failure
      ? failure.status >= 500
        ? 'error'
        : 'deny'
      : (facts.decision ?? (status < 400 ? 'allow' : 'deny'));
    this.metrics.decision(kind, decision, status);
    const principal = facts.principal;
    this.auditLog.record({
      correlationId,
      operation: kind,
      oid: principal?.oid ?? null,
      tid: principal?.tid ?? null,
      azp: principal?.azp ?? null,
      credential: principal?.kind ?? 'none',
      resource: facts.resource ?? null,
      action: facts.action ?? null,
      path: facts.path ?? null,
      decision,
      policies: facts.policies ?? [],
      reasonCode: failure?.code ?? facts.reasonCode ?? (decision === 'allow' ? 'ALLOWED' : 'DENIED'),
      status,
      latencyMs: this.clock.now() - started,
    });
  }

  /** Verifies the request's credential (Entra; SAS too when asked); throws 401 GatewayErrors. */
  async authenticate(request: HttpRequest, options: AuthenticateOptions = {}): Promise<Principal> {
    const principal = await authenticate(
      request.headers.get('authorization'),
      options.acceptSas ? { entra: this.entra, sas: this.sas } : { entra: this.entra },
    );
    const facts = this.facts.get(request);
    if (facts) facts.principal = principal;
    if (this.principalLimiter) {
      enforce(
        this.principalLimiter.take(`${principal.tid}/${principal.oid ?? principal.azp ?? 'anonymous'}`),
        'this caller',
      );
    }
    return principal;
  }

  /** Authenticates and requires the admin app role in an Entra token: 401, then 403. */
  async requireAdmin(request: HttpRequest): Promise<Principal> {
    const principal = await this.authenticate(request);
    if (principal.kind !== 'entra' || !principal.roles.includes(this.config.adminRole)) {
      throw new GatewayError(
        'ERR_ADMIN_ROLE_REQUIRED',
        `This route needs the "${this.config.adminRole}" app role`,
      );
    }
    return principal;
  }

  /** `GET /api/health`: 200 when config, Cosmos DB, policies and the identity provider are usable. */
  readonly health: Operation = async () => {
    const checks = {
      config: { status: 'ok' as const },
      cosmos: await this.cosmosHealth.check(),
      policies: this.state.refresher.health(),
      identityProvider: this.entra.health(),
      audit: this.auditHealth(),
    };
    const failing = Object.entries(checks)
      .filter(([, c]) => c.status === 'down')
      .map(([name]) => name);
    const degraded = Object.values(checks).some((c) => c.status === 'degraded');
    const status = failing.length > 0 ? 'unhealthy' : degraded ? 'degraded' : 'healthy';
    return jsonResponse(failing.length > 0 ? 503 : 200, { status, failing, checks });
  };

  /**
   * The audit trail's state: `degraded` while records wait on a failing store or some were
   * dropped (a gap in the trail); requests are never refused for it.
   */
  private auditHealth(): CheckResult & { queued: number; dropped: number } {
    const { queued, dropped, failedWrites } = this.auditLog.stats;
    const backlog = queued > 1000 || (failedWrites > 0 && queued > 0);
    if (dropped > 0 || backlog) {
      return {
        status: 'degraded',
        detail: dropped > 0 ? 'Audit records were dropped' : 'Audit writes are failing; records are buffered',
        queued,
        dropped,
      };
    }
    return { status: 'ok', queued, dropped };
  }

  /** `POST /api/authorize`: the decision (and why). */
  readonly authorize: Operation = audited('authorize', (scope) => authorizeRequest(this, scope));

  /** `POST /api/token`: RFC 8693 token exchange, Entra token in, SAS token out. */
  readonly token: Operation = audited('token', (scope) => exchangeToken(this, scope));

  /** `POST /api/revocations`: revoke SAS tokens by `sid` or by `oid` + `before` (admin). */
  readonly revocations: Operation = audited('revocation', (scope) => revokeRequest(this, scope));

  /** `GET|PUT|DELETE /api/policies/{id?}`: changes are audited, reads are not. */
  readonly policies: Operation = audited('admin', (scope) =>
    adminRequest(this, this.admin.policies, 'policies', 'id', scope),
  );

  /** `GET|PUT|DELETE /api/resources/{name?}`. */
  readonly resources: Operation = audited('admin', (scope) =>
    adminRequest(this, this.admin.resources, 'resources', 'name', scope),
  );

  /** `{any method} /api/proxy/{resource}/{*path}`: authorize, then forward with the downstream's credential. */
  readonly proxy: Operation = audited('proxy', (scope) => proxyRequest(this, scope));

  /** `GET /api/audit?oid=&from=&to=&limit=&cursor=` (admin): the audit trail, paged. */
  readonly auditQuery: Operation = (scope) => auditRequest(this, this.auditStore, scope);
}

/** Throws 429 `ERR_RATE_LIMITED` with `Retry-After` when a limiter refused. */
function enforce(decision: RateDecision, who: string): void {
  if (decision.allowed) return;
  throw new GatewayError(
    'ERR_RATE_LIMITED',
    `Too many requests from ${who}; retry after ${decision.retryAfterSeconds} s`,
    {
      headers: { 'retry-after': String(decision.retryAfterSeconds) },
    },
  );
}

/** The composition root: builds a gateway from validated config and its I/O dependencies. */
export function createGateway(config: Config, deps: GatewayDeps): Gateway {
  return new Gateway(config, deps);
}
