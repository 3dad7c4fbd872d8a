import type { CosmosClient } from '@azure/cosmos';
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { z } from 'zod';
import { authenticate } from './auth/authenticate';
import { EntraTokenValidator } from './auth/entra/entra-token-validator';
import type { Principal } from './auth/principal';
import { systemClock, type Clock } from './clock';
import type { Config } from './config/load-config';
import { GatewayError, toGatewayError } from './errors';
import { correlationIdOf, readJsonBody } from './http/request-context';
import { jsonResponse, problemResponse } from './http/responses';
import { createJsonLogger, describeError, type Logger } from './logger';
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

const AuthorizeBody = z
  .object({
    resource: z.string().min(1).max(128),
    action: z.enum(['read', 'create', 'write', 'delete']),
    path: z.string().max(2048).default('/'),
    principal: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();

/**
 * The gateway: every route's behaviour, independent of the host that serves it. Build one with
 * {@link createGateway}; `functions/*.ts` and the local stack both call its operations.
 */
export class Gateway {
  readonly clock: Clock;
  readonly logger: Logger;
  readonly entra: EntraTokenValidator;
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
  }

  /**
   * Loads what the hot path needs (OpenID metadata, signing keys, the database). Never throws:
   * an unreachable dependency is reported by `/api/health`, and requests fail closed meanwhile.
   */
  async start(): Promise<void> {
    await Promise.all([this.entra.warmUp(), this.cosmosHealth.check()]);
  }

  /** Stops background work. */
  close(): Promise<void> {
    return Promise.resolve();
  }

  /**
   * Runs one operation with the gateway's request pipeline: correlation id in and out, every
   * failure turned into problem+json, and one log line per failed request.
   */
  async handle(operation: Operation, request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
    const correlationId = correlationIdOf(request);
    try {
      const response = await operation({ correlationId, request, context });
      return { ...response, headers: { ...(response.headers as object), 'x-correlation-id': correlationId } };
    } catch (err) {
      const error = toGatewayError(err);
      this.logger.log(error.status >= 500 ? 'error' : 'info', 'request.failed', {
        correlationId,
        method: request.method,
        route: context.functionName,
        status: error.status,
        code: error.code,
        error: describeError(error.cause ?? error),
      });
      return problemResponse(error, correlationId);
    }
  }

  /** Verifies the request's credential; throws 401 GatewayErrors. */
  authenticate(request: HttpRequest): Promise<Principal> {
    return authenticate(request.headers.get('authorization'), { entra: this.entra });
  }

  /** `GET /api/health`: 200 when config, Cosmos DB and the identity provider are reachable. */
  readonly health: Operation = async () => {
    const [cosmos, identityProvider] = [await this.cosmosHealth.check(), this.entra.health()];
    const checks = { config: { status: 'ok' as const }, cosmos, identityProvider };
    const failing = Object.entries(checks)
      .filter(([, c]) => c.status === 'down')
      .map(([name]) => name);
    const degraded = Object.values(checks).some((c) => c.status === 'degraded');
    const status = failing.length > 0 ? 'unhealthy' : degraded ? 'degraded' : 'healthy';
    return jsonResponse(failing.length > 0 ? 503 : 200, { status, failing, checks });
  };

  /** `POST /api/authorize`: the decision (and why) for the caller, or for an admin's what-if principal. */
  readonly authorize: Operation = async ({ request }) => {
    const principal = await this.authenticate(request);
    const parsed = AuthorizeBody.safeParse(await readJsonBody(request));
    if (!parsed.success) throw validationError(parsed.error);
    const query = parsed.data;
    if (query.principal !== undefined && !principal.roles.includes(this.config.adminRole)) {
      throw new GatewayError('ERR_ADMIN_ROLE_REQUIRED', 'Only an admin may ask what-if for another principal');
    }
    // No policy store yet: default deny, and say so.
    return jsonResponse(200, {
      allowed: false,
      decision: 'deny',
      reason: `No policy allows "${query.action}" on "${query.resource}"; the default is deny`,
      policies: [],
    });
  };
}

/** Turns a zod error into a 400 naming the field at fault (`paths[2]: ...`). */
export function validationError(error: z.ZodError): GatewayError {
  const issue = error.issues[0];
  const field = issue ? issue.path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i ? '.' : ''}${String(p)}`)).join('') : '';
  const message = issue ? `${field || '(body)'}: ${issue.message}` : 'The body failed validation';
  return new GatewayError('ERR_VALIDATION', message, { extensions: { field: field || null } });
}

/** The composition root: builds a gateway from validated config and its I/O dependencies. */
export function createGateway(config: Config, deps: GatewayDeps): Gateway {
  return new Gateway(config, deps);
}
