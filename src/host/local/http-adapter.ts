import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import {
  HttpRequest,
  HttpResponse,
  InvocationContext,
  type Cookie,
  type HttpMethod,
  type HttpResponseInit,
} from '@azure/functions';
import { GatewayError, toGatewayError } from '../../errors';
import { correlationIdOf } from '../../http/request-context';
import { problemResponse } from '../../http/responses';
import { describeError, type Logger } from '../../logger';

/**
 * A route as the local stack serves it: the shape of `RouteDefinition`, generic in what the
 * handler gets first (the gateway for its own routes, nothing for the sample downstream).
 */
export interface HttpRoute<TTarget> {
  readonly name: string;
  /** Azure Functions route template below `/api`: `{name}`, `{name?}`, `{*rest}`, `{id:int}`. */
  readonly route: string;
  readonly methods: readonly HttpMethod[];
  handle(target: TTarget, request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit>;
}

/** The route prefix of host.json (`extensions.http.routePrefix`). */
export const ROUTE_PREFIX = 'api';

// ---------------------------------------------------------------------------------------------
// Route templates
// ---------------------------------------------------------------------------------------------

type Segment =
  | { kind: 'literal'; text: string }
  | { kind: 'param'; name: string; optional: boolean; constraint: ((value: string) => boolean) | undefined }
  | { kind: 'catchAll'; name: string };

/** A compiled route template: matches the segments of a path below the prefix. */
export interface RouteTemplate {
  readonly template: string;
  /** Sort key: literal segments outrank parameters, which outrank optional ones and catch-alls. */
  readonly precedence: readonly number[];
  match(segments: readonly string[]): Record<string, string> | undefined;
}

/** Inline constraints of ASP.NET Core routing that function routes commonly use. */
const CONSTRAINTS: Readonly<Record<string, (value: string) => boolean>> = {
  int: (v) => /^-?\d+$/.test(v),
  long: (v) => /^-?\d+$/.test(v),
  guid: (v) => /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i.test(v),
  alpha: (v) => /^[a-z]+$/i.test(v),
  bool: (v) => /^(true|false)$/i.test(v),
};

/**
 * Compiles an Azure Functions route template. Literal segments match case-insensitively, as the
 * host's ASP.NET Core routing does; `{name?}` and `{*name}` may only come last.
 *
 * @example
 * compileRouteTemplate('proxy/{resource}/{*path}').match(['proxy', 'orders', 'a', 'b'])
 * // => { resource: 'orders', path: 'a/b' }
 */
export function compileRouteTemplate(template: string): RouteTemplate {
  const parts = template.split('/').filter((part) => part.length > 0);
  const segments: Segment[] = parts.map((part, index) => {
    const param = /^\{(\*{1,2})?([A-Za-z_][\w]*)(?::(\w+))?(\?)?\}$/.exec(part);
    if (!param) {
      if (/[{}]/.test(part)) throw new Error(`Route "${template}": unsupported segment "${part}"`);
      return { kind: 'literal', text: part.toLowerCase() };
    }
    const [, star, name = '', constraintName, optional] = param;
    const last = index === parts.length - 1;
    if ((star || optional) && !last)
      throw new Error(`Route "${template}": "${part}" must be the last segment`);
    if (star) return { kind: 'catchAll', name };
    const constraint = constraintName === undefined ? undefined : CONSTRAINTS[constraintName.toLowerCase()];
    if (constraintName !== undefined && constraint === undefined) {
      throw new Error(`Route "${template}": unknown constraint "${constraintName}"`);
    }
    return { kind: 'param', name, optional: optional === '?', constraint };
  });
  const precedence = segments.map((s) =>
    s.kind === 'literal' ? 0 : s.kind === 'catchAll' ? 4 : s.optional ? 3 : s.constraint ? 1 : 2,
  );
  return {
    template,
    precedence,
    match(path) {
      const params: Record<string, string> = {};
      for (const [index, segment] of segments.entries()) {
        const value = path[index];
        if (segment.kind === 'catchAll') {
          const rest = path.slice(index).join('/');
          if (rest.length > 0) params[segment.name] = rest;
          return params;
        }
        if (value === undefined) return segment.kind === 'param' && segment.optional ? params : undefined;
        if (segment.kind === 'literal') {
          if (value.toLowerCase() !== segment.text) return undefined;
        } else {
          if (segment.constraint && !segment.constraint(value)) return undefined;
          params[segment.name] = value;
        }
      }
      return path.length === segments.length ? params : undefined;
    },
  };
}

/**
 * The path below `/api` as decoded segments, or undefined when the path is outside the prefix.
 * Like the host's server, `%2F` stays encoded, so an encoded slash never splits a segment.
 * Throws a 400 GatewayError on malformed percent-encoding.
 */
export function routeSegments(pathname: string): string[] | undefined {
  const raw = pathname.split('/').slice(1);
  if (raw[0]?.toLowerCase() !== ROUTE_PREFIX) return undefined;
  const rest = raw.slice(1);
  // A trailing slash does not change the route (ASP.NET Core routing ignores it).
  if (rest.length > 0 && rest[rest.length - 1] === '') rest.pop();
  try {
    return rest.map((segment) => decodeURIComponent(segment.replace(/%2f/gi, '%252F')));
  } catch {
    throw new GatewayError('ERR_BAD_REQUEST', 'The request path is not valid percent-encoding');
  }
}

// ---------------------------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------------------------

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

interface CompiledRoute<T> {
  readonly route: HttpRoute<T>;
  readonly template: RouteTemplate;
  /** `context.log` of the route's invocations, built once per route. */
  readonly logHandler: (level: LogLevelName, ...args: unknown[]) => void;
}

type LogLevelName = keyof typeof LOG_LEVELS;

/**
 * `context.log` and friends of one route, written to the stack's logger. A call shaped
 * `(event, fields)`, as the gateway makes, becomes that structured event; anything else is kept
 * as `function.log` with its arguments.
 */
function invocationLogHandler(logger: Logger, functionName: string) {
  return (level: LogLevelName, ...args: unknown[]): void => {
    const [event, fields] = args;
    if (args.length === 2 && typeof event === 'string' && typeof fields === 'object' && fields !== null) {
      logger.log(LOG_LEVELS[level], event, {
        function: functionName,
        ...(fields as Record<string, unknown>),
      });
    } else {
      logger.log(LOG_LEVELS[level], 'function.log', { function: functionName, args });
    }
  };
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
 * Serves route definitions over plain HTTP the way the Functions host would: `/api/<template>`,
 * a real `HttpRequest` whose body streams from the socket, an `InvocationContext`, and the
 * handler's `HttpResponseInit` written back through `HttpResponse` (the host's body and header
 * semantics). Unknown routes answer 404 and known routes with another method 405, as problem+json.
 *
 * @param target what every handler gets first: the gateway, or a function that resolves it
 */
export async function serveRoutes<T>(
  routes: readonly HttpRoute<T>[],
  target: T | (() => T | Promise<T>),
  options: ServeRoutesOptions,
): Promise<LocalHttpServer> {
  const logger = options.logger;
  const compiled: CompiledRoute<T>[] = routes
    .map((route) => ({
      route,
      template: compileRouteTemplate(route.route),
      logHandler: logger ? invocationLogHandler(logger, route.name) : () => undefined,
    }))
    .sort((a, b) => comparePrecedence(a.template.precedence, b.template.precedence));
  const resolveTarget = typeof target === 'function' ? (target as () => T | Promise<T>) : () => target;

  const serve = (req: IncomingMessage, res: ServerResponse) => {
    dispatch(compiled, resolveTarget, req, res, logger).catch((err: unknown) => {
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

function comparePrecedence(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    // A missing segment sorts after a present one: longer literal routes are more specific.
    const diff = (a[i] ?? 5) - (b[i] ?? 5);
    if (diff !== 0) return diff;
  }
  return 0;
}

async function dispatch<T>(
  routes: readonly CompiledRoute<T>[],
  resolveTarget: () => T | Promise<T>,
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

  let allowed: HttpMethod[] = [];
  let found: { route: CompiledRoute<T>; params: Record<string, string> } | undefined;
  if (segments !== undefined) {
    for (const compiled of routes) {
      const params = compiled.template.match(segments);
      if (params === undefined) continue;
      if (compiled.route.methods.includes(method as HttpMethod)) {
        found = { route: compiled, params };
        break;
      }
      allowed = [...allowed, ...compiled.route.methods.filter((m) => !allowed.includes(m))];
    }
  }
  if (!found) {
    if (allowed.length === 0) {
      return writeResponse(
        res,
        problemResponse(new GatewayError('ERR_NOT_FOUND', 'No such route'), correlationId()),
      );
    }
    const error = new GatewayError('ERR_METHOD_NOT_ALLOWED', `Use ${allowed.join(', ')}`, {
      headers: { allow: allowed.join(', ') },
    });
    return writeResponse(res, problemResponse(error, correlationId()));
  }

  // The host's streaming path (createStreamRequest): the body streams from the socket as it
  // arrives, so a handler that refuses a large body never buffers it.
  const hasBody = method !== 'GET' && method !== 'HEAD';
  const { route, logHandler } = found.route;
  const expectsContinue = /^100-continue$/i.test(req.headers.expect ?? '');
  const request = new HttpRequest({
    nativeRequest: new LocalNativeRequest(
      url.href,
      method,
      headers,
      hasBody ? req : undefined,
      expectsContinue ? () => res.writeContinue() : undefined,
    ),
    params: found.params,
  } as unknown as ConstructorParameters<typeof HttpRequest>[0]);
  const context = new InvocationContext({
    invocationId: nextInvocationId(),
    functionName: route.name,
    logHandler,
  });

  let init: HttpResponseInit;
  try {
    init = await route.handle(await resolveTarget(), request, context);
  } catch (err) {
    // The gateway's own pipeline never throws; this catches a broken handler or target. A
    // GatewayError keeps its status; anything else is a 500 that names nothing internal.
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

/**
 * What `HttpRequest` reads of its native request (`url`, `method`, `headers`, the body and its
 * readers, `clone`), with the web `Request` built only when a handler touches the body. Why: a
 * `Request` costs several microseconds per request (URL and header re-validation, an
 * `AbortSignal`), and the proxy's GETs and most API reads never look at a body. The `Request`
 * built on demand is the host's (createStreamRequest): the socket streamed as a `duplex` body.
 */
class LocalNativeRequest {
  #request: Request | undefined;

  /**
   * @param sendContinue answers `Expect: 100-continue`: called once, when the body is first read
   */
  constructor(
    readonly url: string,
    readonly method: string,
    readonly headers: Headers,
    private readonly source: IncomingMessage | undefined,
    private sendContinue: (() => void) | undefined,
  ) {}

  /** The client waits for `100 Continue` before it sends the body: send it on the first read. */
  private wantBody(): void {
    const send = this.sendContinue;
    this.sendContinue = undefined;
    send?.();
  }

  private request(): Request {
    this.wantBody();
    this.#request ??= new Request(this.url, {
      method: this.method,
      headers: this.headers,
      ...(this.source === undefined ? {} : { body: this.source, duplex: 'half' }),
    });
    return this.#request;
  }

  get body(): Request['body'] {
    return this.source === undefined ? null : this.request().body;
  }

  get bodyUsed(): boolean {
    return this.#consumed || (this.#request?.bodyUsed ?? false);
  }

  #consumed = false;

  /**
   * The whole body, read straight from the socket when nothing asked for the web stream: a
   * decision or exchange body is a few hundred bytes, and a web `Request` around the socket costs
   * far more than the bytes (the gateway reads bodies this way when a Content-Length bounds them).
   */
  async arrayBuffer(): Promise<ArrayBuffer> {
    if (this.#request !== undefined || this.source === undefined) return this.request().arrayBuffer();
    if (this.#consumed) throw new TypeError('Body is unusable: Body has already been read');
    this.#consumed = true;
    this.wantBody();
    const chunks: Buffer[] = [];
    for await (const chunk of this.source) chunks.push(chunk as Buffer);
    const bytes = Buffer.concat(chunks);
    return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  }

  blob(): Promise<Blob> {
    return this.request().blob();
  }

  formData(): Promise<FormData> {
    return this.request().formData();
  }

  json(): Promise<unknown> {
    return this.request().json();
  }

  async text(): Promise<string> {
    if (this.#request !== undefined || this.source === undefined) return this.request().text();
    return Buffer.from(await this.arrayBuffer()).toString('utf8');
  }

  clone(): Request {
    return this.request().clone();
  }
}

/**
 * Invocation ids shaped like the host's (a UUID), from a per-process random prefix and a counter:
 * unique within the process without a random draw per request.
 */
const INVOCATION_PREFIX = (() => {
  const hex = randomUUID().replace(/-/g, '');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-8${hex.slice(17, 20)}-`;
})();
let invocationCounter = 0;

function nextInvocationId(): string {
  invocationCounter = (invocationCounter + 1) % 0x1000000000000;
  return INVOCATION_PREFIX + invocationCounter.toString(16).padStart(12, '0');
}

const LOG_LEVELS = {
  trace: 'debug',
  debug: 'debug',
  information: 'info',
  warning: 'warn',
  error: 'error',
  critical: 'error',
  none: 'debug',
} as const;

/**
 * True when the raw request target's path has a segment that URL parsing would resolve (`.`,
 * `..`, any `%2e` spelling of them) or a backslash (which it turns into `/`).
 */
export function rawPathResolvesDots(target: string): boolean {
  let end = target.indexOf('?');
  if (end === -1) end = target.length;
  const path = target.slice(0, end);
  if (path.includes('\\')) return true;
  if (!path.includes('.') && !/%2e/i.test(path)) return false;
  for (const segment of path.split('/')) {
    const s = segment.replace(/%2e/gi, '.');
    if (s === '.' || s === '..') return true;
  }
  return false;
}

/**
 * The request headers as the host passes them: every value, repeated names kept, and the
 * client's address appended to `X-Forwarded-For`, as Azure's front end does.
 */
function requestHeaders(req: IncomingMessage): Headers {
  const headers = new Headers();
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) headers.append(raw[i] as string, raw[i + 1] as string);
  const client = req.socket.remoteAddress;
  if (client !== undefined) {
    const chain = headers.get('x-forwarded-for');
    headers.set('x-forwarded-for', chain ? `${chain}, ${client}` : client);
  }
  return headers;
}

/** True for a plain `{ name: value }` headers object (not `Headers`, not a list of pairs). */
function isPlainHeaders(headers: HttpResponseInit['headers']): headers is Record<string, string> {
  return (
    headers === undefined ||
    (typeof headers === 'object' && !Array.isArray(headers) && !(headers instanceof Headers))
  );
}

/**
 * The hot path: a Node stream body (the proxy's upstream answer) or a string body with plain
 * headers goes straight to the socket, skipping the `Response` the host's `HttpResponse` would
 * build (a web stream per response, measurable per request). Same bytes and headers on the wire.
 * Returns false for anything else.
 */
function writeDirect(res: ServerResponse, init: HttpResponseInit): boolean {
  if (init.cookies?.length || !isPlainHeaders(init.headers)) return false;
  const status = init.status ?? 200;
  const headers: Record<string, string | string[]> = {};
  if (init.headers !== undefined) {
    for (const name in init.headers) headers[name.toLowerCase()] = init.headers[name]!;
  }
  // `jsonBody` wins over `body` and defaults the content type, as HttpResponse does.
  let body = init.body;
  if (init.jsonBody !== undefined) {
    body = JSON.stringify(init.jsonBody);
    headers['content-type'] ??= 'application/json';
  }
  if (body instanceof Readable) {
    if (status === 204 || status === 304) return false;
    res.writeHead(status, headers);
    // pipe(), not stream.pipeline(): half the per-response cost measured here. pipe() does not
    // end the response when the body fails, so both directions are handled here: a body that
    // fails mid-way (the upstream died, stalled past its deadline) resets the caller's
    // connection at once, so a truncated answer is never taken for a complete one; a caller that
    // goes away releases the upstream socket.
    body.pipe(res);
    body.once('error', () => res.destroy());
    res.once('close', () => {
      if (!body.readableEnded) body.destroy();
    });
    return true;
  }
  if (typeof body !== 'string' || status === 204 || status === 304) return false;
  headers['content-type'] ??= 'text/plain;charset=UTF-8';
  headers['content-length'] = String(Buffer.byteLength(body));
  res.writeHead(status, headers);
  res.end(body);
  return true;
}

/** Writes a handler's response with the host's semantics (`HttpResponse` decides body and headers). */
async function writeResponse(res: ServerResponse, init: HttpResponseInit): Promise<void> {
  if (writeDirect(res, init)) return;
  const response = new HttpResponse(init);
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of response.headers) {
    if (name === 'set-cookie') headers[name] = [...((headers[name] as string[] | undefined) ?? []), value];
    else headers[name] = value;
  }
  if (init.cookies?.length) {
    headers['set-cookie'] = [
      ...((headers['set-cookie'] as string[] | undefined) ?? []),
      ...init.cookies.map(serializeCookie),
    ];
  }
  // Fast path for the common case, a string or byte body: one write with a Content-Length.
  const body = init.jsonBody === undefined ? init.body : undefined;
  if (response.body !== null && (typeof body === 'string' || body instanceof Uint8Array)) {
    const bytes = typeof body === 'string' ? Buffer.from(body) : body;
    headers['content-length'] = String(bytes.byteLength);
    res.writeHead(response.status, headers);
    res.end(bytes);
    return;
  }
  res.writeHead(response.status, headers);
  if (response.body === null) {
    res.end();
    return;
  }
  await pipeline(Readable.fromWeb(response.body as NodeReadableStream<Uint8Array>), res);
}

function serializeCookie(cookie: Cookie): string {
  const parts = [`${cookie.name}=${cookie.value}`];
  if (cookie.domain) parts.push(`Domain=${cookie.domain}`);
  if (cookie.path) parts.push(`Path=${cookie.path}`);
  if (cookie.expires !== undefined) parts.push(`Expires=${new Date(cookie.expires).toUTCString()}`);
  if (cookie.maxAge !== undefined) parts.push(`Max-Age=${cookie.maxAge}`);
  if (cookie.secure) parts.push('Secure');
  if (cookie.httpOnly) parts.push('HttpOnly');
  if (cookie.sameSite) parts.push(`SameSite=${cookie.sameSite}`);
  return parts.join('; ');
}
