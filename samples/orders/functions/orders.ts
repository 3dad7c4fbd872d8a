import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';
import type { HttpRoute } from '../../../src/host/local/http-adapter';

/**
 * A sample downstream function app: what the gateway's proxy forwards to. It answers every path
 * below `/api/orders` with JSON that echoes what arrived (method, path, query and the headers the
 * gateway adds), plus a customer's orders on `GET /api/orders/customers/{id}/orders`.
 *
 * It uses the gateway's route shape with nothing as the handler's first argument, so the local
 * stack serves it with the same adapter; under the Functions host it registers with `app.http`.
 */
export const route: HttpRoute<unknown> = {
  name: 'orders',
  route: 'orders/{*path}',
  methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
  handle: (_host, request, context) => answer(request, context),
};

/** Headers the gateway sets on forwarded calls; echoed so callers can see what arrived. */
const ECHOED_HEADERS = ['x-gateway-principal', 'x-correlation-id', 'traceparent', 'x-functions-key'] as const;

function answer(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
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
  // The gateway is the only caller; a later step verifies its x-gateway-principal statement here.
  authLevel: 'anonymous',
  handler: (request, context) => route.handle(undefined, request, context),
});
