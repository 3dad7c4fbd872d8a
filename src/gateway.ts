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
import { CosmosHealthCheck } from './store/cosmos-health';

/** The I/O the gateway is built on: injected, so tests pass real embedded servers or small fakes. */
export interface GatewayDeps {
  readonly cosmos: CosmosClient;
  readonly clock?: Clock;
  readonly logger?: Logger;
  /** Used for OpenID metadata and JWKS; defaults to the global fetch. */
  readonly fetch?: typeof fetch;
}

/** What one request is about, for the operation that serves it. */
export interface RequestScope {
  readonly correlationId: string;
  readonly request: HttpRequest;
  readonly context: InvocationContext;
}

export type Operation = (scope: RequestScope) => Promise<HttpResponseInit>;

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
  private readonly cosmosHealth: CosmosHealthCheck;

  constructor(
    readonly config: Config,
    deps: GatewayDeps,
  ) {
    this.clock = deps.clock ?? systemClock;
    this.logger = deps.logger ?? createJsonLogger();
    this.entra = new EntraTokenValidator({
      config: config.entra,
      clock: this.clock,
      logger: this.logger,
      ...(deps.fetch ? { fetch: deps.fetch } : {}),
    });
    this.cosmosHealth = new CosmosHealthCheck(deps.cosmos, config.cosmos.database, this.clock, this.logger);
    this.state = new PolicyState({
      client: deps.cosmos,
      databaseId: config.cosmos.database,
      allowedHosts: config.downstreamAllowedHosts,
      refreshSeconds: config.policyRefreshSeconds,
      clock: this.clock,
      logger: this.logger,
    });
    this.sasKeys = new HmacKeyRing(config.sas.signingKeys);
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
        validate: (body) => parseResource(body, config.downstreamAllowedHosts),
        onLocalChange: rebuild,
      }),
    };
  }

  /**
   * Loads what the hot path needs (OpenID metadata, signing keys, policies). Never throws: an
   * unreachable dependency is reported by `/api/health`, and requests fail closed meanwhile.
   */
  async start(): Promise<void> {
    await Promise.all([this.entra.warmUp(), this.state.start()]);
  }

  /** Stops background work (the policy refresh timer). */
  close(): Promise<void> {
    this.state.stop();
    return Promise.resolve();
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
    try {
      const response = await operation({ correlationId, request, context });
      return {
        ...response,
        headers: { ...(response.headers as Record<string, string>), 'x-correlation-id': correlationId },
      };
    } catch (err) {
      const error = toGatewayError(err);
      this.logger.log(error.status >= 500 ? 'error' : 'info', 'request.failed', {
        correlationId,
        method: request.method,
        route: context.functionName,
        status: error.status,
        code: error.code,
        ...(error.cause === undefined ? {} : { cause: describeError(error.cause) }),
      });
      return render(error, correlationId);
    }
  }

  /** Verifies the request's credential (Entra; SAS too when asked); throws 401 GatewayErrors. */
  authenticate(request: HttpRequest, options: AuthenticateOptions = {}): Promise<Principal> {
    return authenticate(
      request.headers.get('authorization'),
      options.acceptSas ? { entra: this.entra, sas: this.sas } : { entra: this.entra },
    );
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
    };
    const failing = Object.entries(checks)
      .filter(([, c]) => c.status === 'down')
      .map(([name]) => name);
    const degraded = Object.values(checks).some((c) => c.status === 'degraded');
    const status = failing.length > 0 ? 'unhealthy' : degraded ? 'degraded' : 'healthy';
    return jsonResponse(failing.length > 0 ? 503 : 200, { status, failing, checks });
  };

  /** `POST /api/authorize`: the decision (and why). */
  readonly authorize: Operation = (scope) => authorizeRequest(this, scope);

  /** `POST /api/token`: RFC 8693 token exchange, Entra token in, SAS token out. */
  readonly token: Operation = (scope) => exchangeToken(this, scope);

  /** `POST /api/revocations`: revoke SAS tokens by `sid` or by `oid` + `before` (admin). */
  readonly revocations: Operation = (scope) => revokeRequest(this, scope);

  /** `GET|PUT|DELETE /api/policies/{id?}`. */
  readonly policies: Operation = (scope) => adminRequest(this, this.admin.policies, 'id', scope);

  /** `GET|PUT|DELETE /api/resources/{name?}`. */
  readonly resources: Operation = (scope) => adminRequest(this, this.admin.resources, 'name', scope);
}

/** The composition root: builds a gateway from validated config and its I/O dependencies. */
export function createGateway(config: Config, deps: GatewayDeps): Gateway {
  return new Gateway(config, deps);
}
