/**
 * The sample downstream `orders`: what the gateway's proxy forwards to in the local stack, and
 * what samples/orders deploys as a Functions app of its own. It trusts a caller only through the
 * gateway's verified `x-gateway-principal` statement.
 */
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { ACTION_METHODS } from '../../policy/actions';
import {
  HmacKeyRing,
  parseSigningKeys,
  verifyPrincipalStatement,
  VerifierError,
  type PrincipalStatement,
} from '../../verifier';
import type { LocalRoute } from './http/server';

/**
 * How the sample trusts the gateway. `keys` is the gateway's SAS key ring (`SAS_SIGNING_KEYS`):
 * the `x-gateway-principal` statement is signed with a key derived from it. With
 * `requirePrincipal`, a call without a valid statement for `orders` is refused with 401.
 */
export interface OrdersSettings {
  readonly keys: HmacKeyRing | undefined;
  readonly requirePrincipal: boolean;
}

/**
 * Settings from app settings, as under the Functions host: `SAS_SIGNING_KEYS` (the gateway's) and
 * `ORDERS_REQUIRE_PRINCIPAL` (default `true`; `false` turns the check off, for a quick try-out).
 * Fails closed: required but no keys means every call is refused.
 */
export function ordersSettingsFromEnv(env: Readonly<Record<string, string | undefined>>): OrdersSettings {
  const setting = env.SAS_SIGNING_KEYS?.trim();
  return {
    keys: setting ? new HmacKeyRing(parseSigningKeys(setting)) : undefined,
    requirePrincipal: env.ORDERS_REQUIRE_PRINCIPAL?.trim().toLowerCase() !== 'false',
  };
}

/**
 * The resource names the gateway forwards to this sample under (the statement's audience): the
 * demo's `orders`, and `orders-as-user`, the same downstream reached with an on-behalf-of token.
 */
export const ORDERS_RESOURCES: readonly string[] = ['orders', 'orders-as-user'];

/**
 * The sample downstream's route: every path below `/api/orders`. `settings` is read per call (the
 * local stack knows the gateway's key ring only once the gateway is built); no settings means the
 * statement is read if it verifies, never required.
 */
export function ordersRoute(settings: () => OrdersSettings | undefined): LocalRoute {
  return {
    name: 'orders',
    template: 'orders/{*path}',
    methods: ACTION_METHODS,
    handle: (request, context) => answerOrders(settings(), request, context),
  };
}

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
  let failure: VerifierError | undefined;
  for (const expectedResource of ORDERS_RESOURCES) {
    try {
      return { caller: verifyPrincipalStatement(header, { keys: settings.keys, expectedResource }) };
    } catch (err) {
      if (!(err instanceof VerifierError)) throw err;
      failure ??= err;
    }
  }
  return required ? { refusal: refused(failure!.code) } : {};
}

function refused(code: string): HttpResponseInit {
  return {
    status: 401,
    headers: { 'content-type': 'application/problem+json', 'www-authenticate': 'GatewayPrincipal' },
    body: JSON.stringify({ status: 401, code, title: 'Call this function through the gateway' }),
  };
}

/** Headers the gateway sets on forwarded calls; echoed so callers can see what arrived. */
const ECHOED_HEADERS = [
  'x-gateway-principal',
  'x-correlation-id',
  'traceparent',
  'x-functions-key',
  'authorization',
] as const;

/**
 * Answers one call with JSON that echoes what arrived (method, path, query and the headers the
 * gateway adds), plus a customer's orders on `GET /api/orders/customers/{id}/orders`.
 */
export function answerOrders(
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
      // Credentials are shown as present or not, never their value.
      name === 'x-functions-key' || name === 'authorization'
        ? request.headers.has(name)
        : request.headers.get(name),
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
