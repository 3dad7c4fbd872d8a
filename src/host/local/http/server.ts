/**
 * The local host's HTTP server: serves routes the way the Functions host would, `/api/<template>`
 * with a real `HttpRequest` whose body streams from the socket, an `InvocationContext`, and the
 * handler's `HttpResponseInit` written back with the host's semantics. Unknown routes answer 404
 * and known routes with another method 405, as problem+json; shutdown is graceful.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { HttpMethod, HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { GatewayError, toGatewayError } from '../../../errors';
import { correlationIdOf } from '../../../http/request-context';
import { problemResponse } from '../../../http/responses';
import { describeError, type Logger } from '../../../logger';
import {
  invocationLogHandler,
  localHttpRequest,
  localInvocationContext,
  requestHeaders,
  type LogLevelName,
} from './local-request';
import {
  comparePrecedence,
  compileRouteTemplate,
  rawPathResolvesDots,
  routeSegments,
  type RouteTemplate,
} from './route-template';
import { writeResponse } from './write-response';

/** A route as the local host serves it: what `app.http` registers, and its handler. */
export interface LocalRoute {
  /** The function name (unique in the app). */
  readonly name: string;
  /** Azure Functions route template below `/api`: `{name}`, `{name?}`, `{*rest}`, `{id:int}`. */
  readonly template: string;
  readonly methods: readonly HttpMethod[];
  handle(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit>;
}

export interface ServeRoutesOptions {
  /** 0 picks a free port. */
  port: number;
  host?: string;
  /** Where failed invocations and `context.log` lines go; nothing is logged without one. */
  logger?: Logger;
}

/** A running local HTTP server. */
export interface LocalHttpServer {
  /** `http://127.0.0.1:<port>` (no `/api`). */
  readonly url: string;
  readonly port: number;
  readonly server: Server;
  close(): Promise<void>;
}

interface CompiledRoute {
  readonly route: LocalRoute;
  readonly template: RouteTemplate;
  /** `context.log` of the route's invocations, built once per route. */
  readonly logHandler: (level: LogLevelName, ...args: unknown[]) => void;
}

/** Why these limits: a slow client must not hold a socket forever, yet a 100 MB proxy upload fits. */
const HEADERS_TIMEOUT_MS = 20_000;
const REQUEST_TIMEOUT_MS = 300_000;
/**
 * How long `close()` waits for requests in flight before cutting them. Why 10 s: decisions,
 * exchanges and admin calls take milliseconds, a proxied call gets this long to finish (a
 * downstream slower than that is cut), and it stays well inside the grace an orchestrator gives
 * between SIGTERM and SIGKILL (30 s by default in Kubernetes and Container Apps).
 */
const SHUTDOWN_GRACE_MS = 10_000;
/** While closing, how often keep-alive connections that have gone idle are closed. */
const IDLE_SWEEP_MS = 25;

/**
 * Serves `routes` on `options.port`.
 *
 * @example
 * const server = await serveRoutes([{ name: 'hi', template: 'hi', methods: ['GET'], handle: async () => ({ body: 'hi' }) }], { port: 0 });
 * await fetch(`${server.url}/api/hi`);
 * await server.close();
 */
export async function serveRoutes(
  routes: readonly LocalRoute[],
  options: ServeRoutesOptions,
): Promise<LocalHttpServer> {
  const logger = options.logger;
  const compiled: CompiledRoute[] = routes
    .map((route) => ({
      route,
      template: compileRouteTemplate(route.template),
      logHandler: logger ? invocationLogHandler(logger, route.name) : () => undefined,
    }))
    .sort((a, b) => comparePrecedence(a.template.precedence, b.template.precedence));

  const serve = (req: IncomingMessage, res: ServerResponse) => {
    dispatch(compiled, req, res, logger).catch((err: unknown) => {
      logger?.log('error', 'local.response.failed', { error: describeError(err) });
      res.destroy();
    });
  };
  const server = createServer(serve);
  // `Expect: 100-continue` (curl sends it for bodies over 1 MiB): the interim 100 goes out when
  // the handler first reads the body, as the host's Kestrel does, so a request refused before
  // that (401, 403, 413) never makes the client send its body.
  server.on('checkContinue', serve);
  server.headersTimeout = HEADERS_TIMEOUT_MS;
  server.requestTimeout = REQUEST_TIMEOUT_MS;

  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  let closed: Promise<void> | undefined;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    server,
    close() {
      // Graceful, as SIGTERM needs: stop accepting at once, let requests in flight finish with
      // their real answer, close each keep-alive connection as it goes idle, and cut whatever is
      // still open after SHUTDOWN_GRACE_MS (a stuck upload must not hold the process forever).
      closed ??= new Promise<void>((resolve) => {
        const sweep = setInterval(() => server.closeIdleConnections(), IDLE_SWEEP_MS);
        const deadline = setTimeout(() => server.closeAllConnections(), SHUTDOWN_GRACE_MS);
        server.close(() => {
          clearInterval(sweep);
          clearTimeout(deadline);
          resolve();
        });
        server.closeIdleConnections();
      });
      return closed;
    },
  };
}

/** The route and parameters for a request, or the methods other routes of that path take. */
function match(
  routes: readonly CompiledRoute[],
  segments: readonly string[] | undefined,
  method: string,
): { found?: { route: CompiledRoute; params: Record<string, string> }; allowed: HttpMethod[] } {
  const allowed: HttpMethod[] = [];
  if (segments === undefined) return { allowed };
  for (const compiled of routes) {
    const params = compiled.template.match(segments);
    if (params === undefined) continue;
    if (compiled.route.methods.includes(method as HttpMethod))
      return { found: { route: compiled, params }, allowed };
    for (const m of compiled.route.methods) if (!allowed.includes(m)) allowed.push(m);
  }
  return { allowed };
}

async function dispatch(
  routes: readonly CompiledRoute[],
  req: IncomingMessage,
  res: ServerResponse,
  logger: Logger | undefined,
): Promise<void> {
  const method = (req.method ?? 'GET').toUpperCase();
  const headers = requestHeaders(req);
  // Only the adapter's own answers (404, 405, 400) need it here; the gateway's pipeline reads the
  // same header itself, so a request that reaches a handler never pays for a second UUID.
  const correlationId = () => correlationIdOf({ headers } as unknown as HttpRequest);

  let url: URL;
  let segments: string[] | undefined;
  try {
    if (rawPathResolvesDots(req.url ?? '/')) {
      // `new URL()` below (and `Request`) would resolve `..`, `%2e` and `\` into another path, so
      // the handler could never see them: refuse them here, as the proxy would (docs/proxy.md).
      throw new GatewayError('ERR_PATH_TRAVERSAL', 'The path holds dot segments or backslashes');
    }
    url = new URL(req.url ?? '/', `http://${req.headers.host ?? 'localhost'}`);
    segments = routeSegments(url.pathname);
  } catch (err) {
    const error =
      err instanceof GatewayError ? err : new GatewayError('ERR_BAD_REQUEST', 'The request URL is malformed');
    return writeResponse(res, problemResponse(error, correlationId()));
  }

  const { found, allowed } = match(routes, segments, method);
  if (!found) {
    const error =
      allowed.length === 0
        ? new GatewayError('ERR_NOT_FOUND', 'No such route')
        : new GatewayError('ERR_METHOD_NOT_ALLOWED', `Use ${allowed.join(', ')}`, {
            headers: { allow: allowed.join(', ') },
          });
    return writeResponse(res, problemResponse(error, correlationId()));
  }

  // The host's streaming path (createStreamRequest): the body streams from the socket as it
  // arrives, so a handler that refuses a large body never buffers it.
  const hasBody = method !== 'GET' && method !== 'HEAD';
  const { route, logHandler } = found.route;
  const expectsContinue = /^100-continue$/i.test(req.headers.expect ?? '');
  const request = localHttpRequest(
    url.href,
    method,
    headers,
    found.params,
    hasBody ? req : undefined,
    expectsContinue ? () => res.writeContinue() : undefined,
  );
  const context = localInvocationContext(route.name, logHandler);

  let init: HttpResponseInit;
  try {
    init = await route.handle(request, context);
  } catch (err) {
    // The gateway's own pipeline never throws; this catches a broken handler. A GatewayError
    // keeps its status; anything else is a 500 that names nothing internal.
    const error = toGatewayError(err);
    const id = correlationId();
    if (error.status >= 500) {
      logger?.log('error', 'local.handler.failed', {
        route: route.name,
        correlationId: id,
        error: describeError(err),
      });
    }
    init = problemResponse(error, id);
  }
  return writeResponse(res, init);
}
