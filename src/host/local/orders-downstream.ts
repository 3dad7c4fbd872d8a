/**
 * The sample downstream `orders`: what the gateway's proxy forwards to in the local stack, and
 * what samples/orders deploys as a Functions app of its own. It is written as any downstream
 * should be, with standard libraries only (jsonwebtoken and jwks-rsa, through the exported
 * verifier's thin helper) and no secret of the gateway's:
 *
 * 1. the channel: the call carries the gateway's downstream credential, a function key
 *    (`x-functions-key`) or an Entra token for this API (managed identity, on-behalf-of); never
 *    anonymous;
 * 2. the caller: `x-gateway-principal` is a JWT from the gateway's issuer, verified through the
 *    gateway's published JWKS (ES256), whose audience is one of this app's resource names.
 */
import { timingSafeEqual } from 'node:crypto';
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import type jwt from 'jsonwebtoken';
import { ACTION_METHODS } from '../../policy/actions';
import {
  createJwksVerifier,
  type JwksVerifier,
  type VerifiedStatement,
} from '../../../packages/verifier/src/index';
import type { LocalRoute } from './http/server';

/**
 * The resource names the gateway forwards to this sample under (the statement's audience): the
 * demo's `orders`, and `orders-as-user`, the same downstream reached with an on-behalf-of token.
 */
export const ORDERS_RESOURCES: readonly [string, ...string[]] = ['orders', 'orders-as-user'];

/** An Entra-style token issuer this downstream accepts bearer tokens from (the channel). */
export interface TrustedTokenIssuer {
  readonly issuer: string;
  readonly jwksUri: string;
  /** The `aud` such tokens must carry: this API. */
  readonly audience: string;
  readonly algorithms: readonly jwt.Algorithm[];
  /** `fetch` for the JWKS (the local stack's trusts its certificate authority). */
  readonly fetch?: typeof fetch;
}

/** How the sample trusts its callers. */
export interface OrdersSettings {
  /** The gateway's issuer URL (`GATEWAY_ISSUER`): statements carry it; its JWKS lives below it. */
  readonly gatewayIssuer: string | undefined;
  /**
   * The function key the gateway must send. Under the Functions host the host checks it
   * (`authLevel: 'function'`) and this is undefined; the local stack has no host, so it is here.
   */
  readonly functionKey: string | undefined;
  /** Entra bearer tokens for this API are a channel credential too (managed identity, OBO). */
  readonly entra?: TrustedTokenIssuer;
  /** `fetch` for the gateway's JWKS. */
  readonly fetch?: typeof fetch;
}

/**
 * Settings from app settings, as under the Functions host: `GATEWAY_ISSUER` (required: without
 * it every call is refused). The function key is the host's to check.
 */
export function ordersSettingsFromEnv(env: Readonly<Record<string, string | undefined>>): OrdersSettings {
  return { gatewayIssuer: env.GATEWAY_ISSUER?.trim() || undefined, functionKey: undefined };
}

/**
 * The sample downstream's route: every path below `/api/orders`. `settings` is read per call (the
 * local stack knows the gateway's address only once the gateway listens).
 */
export function ordersRoute(settings: () => OrdersSettings | undefined): LocalRoute {
  const verifiers = new VerifierCache();
  return {
    name: 'orders',
    template: 'orders/{*path}',
    methods: ACTION_METHODS,
    handle: (request, context) => answerOrders(settings(), request, context, verifiers),
  };
}

/** One verifier per trusted issuer, built on first use and kept (jwks-rsa caches the keys). */
class VerifierCache {
  private readonly byKey = new Map<string, JwksVerifier>();

  get(key: string, build: () => JwksVerifier): JwksVerifier {
    let verifier = this.byKey.get(key);
    if (verifier === undefined) {
      verifier = build();
      this.byKey.set(key, verifier);
    }
    return verifier;
  }
}

function equalSecrets(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

/** The channel check: a function key, or an Entra token for this API. */
async function channelAllowed(
  settings: OrdersSettings,
  request: HttpRequest,
  verifiers: VerifierCache,
): Promise<boolean> {
  const key = request.headers.get('x-functions-key');
  if (settings.functionKey !== undefined && key !== null && equalSecrets(key, settings.functionKey))
    return true;
  const bearer = /^Bearer (.+)$/i.exec(request.headers.get('authorization') ?? '')?.[1];
  const entra = settings.entra;
  if (bearer !== undefined && entra !== undefined) {
    const verify = verifiers.get(`entra ${entra.jwksUri}`, () => createJwksVerifier(entra));
    return verify(bearer).then(
      () => true,
      () => false,
    );
  }
  // Under the Functions host the host checked the key before this code ran.
  return settings.functionKey === undefined && settings.entra === undefined;
}

function refused(status: 401, code: string, title: string, challenge: string): HttpResponseInit {
  return {
    status,
    headers: { 'content-type': 'application/problem+json', 'www-authenticate': challenge },
    body: JSON.stringify({ status, code, title }),
  };
}

/**
 * Answers one call: 401 without the channel credential or a valid statement, else JSON that
 * echoes what arrived (method, path, query, which gateway headers came) and who the verified
 * statement says is calling, plus a customer's orders on `GET /api/orders/customers/{id}/orders`.
 */
async function answerOrders(
  settings: OrdersSettings | undefined,
  request: HttpRequest,
  context: InvocationContext,
  verifiers: VerifierCache,
): Promise<HttpResponseInit> {
  if (settings === undefined || !(await channelAllowed(settings, request, verifiers))) {
    return refused(401, 'ERR_CHANNEL_CREDENTIAL', 'Call this function through the gateway', 'FunctionKey');
  }
  const header = request.headers.get('x-gateway-principal');
  const issuer = settings.gatewayIssuer;
  let caller: VerifiedStatement;
  try {
    if (header === null || issuer === undefined) throw new Error('no statement');
    // The same checks createStatementVerifier makes, written out: ES256, the gateway's issuer,
    // one of this app's audiences, at most 60 s old.
    const verify = verifiers.get(`gateway ${issuer}`, () =>
      createJwksVerifier({
        jwksUri: `${issuer}/.well-known/jwks.json`,
        issuer,
        audience: ORDERS_RESOURCES,
        algorithms: ['ES256'],
        maxAgeSeconds: 60,
        ...(settings.fetch ? { fetch: settings.fetch } : {}),
      }),
    );
    caller = (await verify(header)) as VerifiedStatement;
  } catch {
    return refused(
      401,
      'ERR_PRINCIPAL_STATEMENT_INVALID',
      'Call this function through the gateway',
      'GatewayPrincipal',
    );
  }

  const path = `/${request.params.path ?? ''}`;
  const customer = /^\/customers\/([^/]+)\/orders\/?$/.exec(path)?.[1];
  const echo = {
    service: 'orders',
    invocationId: context.invocationId,
    method: request.method,
    path,
    query: Object.fromEntries(request.query),
    // Which gateway headers arrived; credentials and the statement as present or not, never their value.
    received: {
      'x-gateway-principal': header !== null,
      'x-correlation-id': request.headers.get('x-correlation-id'),
      traceparent: request.headers.get('traceparent'),
      'x-functions-key': request.headers.has('x-functions-key'),
      authorization: request.headers.has('authorization'),
    },
    // Who the gateway says is calling: the verified statement, never a header taken on trust.
    caller: {
      sub: caller.sub,
      oid: caller.oid ?? null,
      tid: caller.tid,
      azp: caller.azp ?? null,
      roles: caller.roles,
      cred: caller.cred,
    },
  };
  const orders =
    request.method === 'GET' && customer !== undefined
      ? [
          { id: `${customer}-1001`, customerId: customer, total: 42.5, currency: 'EUR' },
          { id: `${customer}-1002`, customerId: customer, total: 7.25, currency: 'EUR' },
        ]
      : undefined;
  const correlationId = request.headers.get('x-correlation-id');
  const headers: Record<string, string> = correlationId ? { 'x-correlation-id': correlationId } : {};
  return { status: 200, jsonBody: orders ? { ...echo, orders } : echo, headers };
}
