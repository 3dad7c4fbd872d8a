import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';
import type { HttpRoute } from '../../../src/host/local/http-adapter';
import { verifyPrincipalStatement, VerifierError, type PrincipalStatement } from '../../../src/verifier';
import { ordersSettingsFromEnv, type OrdersSettings } from '../settings';

export { ordersSettingsFromEnv, type OrdersSettings };

/** The resource name the gateway forwards to this sample under: the statement's audience. */
export const ORDERS_RESOURCE = 'orders';

/**
 * A sample downstream function app: what the gateway's proxy forwards to. It answers every path
 * below `/api/orders` with JSON that echoes what arrived (method, path, query and the headers the
 * gateway adds), plus a customer's orders on `GET /api/orders/customers/{id}/orders`.
 *
 * It uses the gateway's route shape with nothing as the handler's first argument, so the local
 * stack serves it with the same adapter; under the Functions host it registers with `app.http`.
 */
export const route: HttpRoute<OrdersSettings | undefined> = {
  name: 'orders',
  route: 'orders/{*path}',
  methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
  // No settings (a host that passes none): the statement is read if it verifies, never required.
  handle: (settings, request, context) => answer(settings, request, context),
};

/** The caller the gateway vouches for, a 401 answer, or undefined when not required and absent. */
function callerOf(
  settings: OrdersSettings | undefined,
  request: HttpRequest,
): { caller?: PrincipalStatement; refusal?: HttpResponseInit } {
  const header = request.headers.get('x-gateway-principal');
  const required = settings?.requirePrincipal ?? false;
  if (settings?.keys === undefined || header === null) {
    return required ? { refusal: refused('ERR_PRINCIPAL_STATEMENT_INVALID') } : {};
  }
  try {
    return {
      caller: verifyPrincipalStatement(header, { keys: settings.keys, expectedResource: ORDERS_RESOURCE }),
    };
  } catch (err) {
    if (!(err instanceof VerifierError)) throw err;
    return required ? { refusal: refused(err.code) } : {};
  }
}

function refused(code: string): HttpResponseInit {
  return {
    status: 401,
    headers: { 'content-type': 'application/problem+json', 'www-authenticate': 'GatewayPrincipal' },
    body: JSON.stringify({ status: 401, code, title: 'Call this function through the gateway' }),
  };
}

/** Headers the gateway sets on forwarded calls; echoed so callers can see what arrived. */
const ECHOED_HEADERS = ['x-gateway-principal', 'x-correlation-id', 'traceparent', 'x-functions-key'] as const;

function answer(
  settings: OrdersSettings | undefined,
  request: HttpRequest,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const { caller, refusal } = callerOf(settings, request);
  if (refusal !== undefined) return Promise.resolve(refusal);
  const path = `/${request.params.path ?? ''}`;
  const customer = /^\/customers\/([^/]+)\/orders\/?$/.exec(path)?.[1];
  const received = Object.fromEntries(
    ECHOED_HEADERS.map((name) => [
      name,
      name === 'x-functions-key' ? request.headers.has(name) : request.headers.get(name),
    ]),
  );
  const echo = {
    service: 'orders',
    invocationId: context.invocationId,
    method: request.method,
    path,
    query: Object.fromEntries(request.query),
    received,
    // Who the gateway says is calling: the verified statement, never a header taken on trust.
    caller:
      caller === undefined
        ? null
        : { oid: caller.oid ?? null, tid: caller.tid, azp: caller.azp ?? null, roles: caller.roles },
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
  return Promise.resolve({
    status: 200,
    jsonBody: orders ? { ...echo, orders } : echo,
    headers,
  });
}

app.http(route.name, {
  route: route.route,
  methods: [...route.methods],
  // The gateway is the only caller, proven by its x-gateway-principal statement, not a function key.
  authLevel: 'anonymous',
  handler: (request, context) =>
    route.handle((hostSettings ??= ordersSettingsFromEnv(process.env)), request, context),
});

let hostSettings: OrdersSettings | undefined;
