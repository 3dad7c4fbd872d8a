import { EventEmitter } from 'node:events';
/**
 * `{any method} /api/proxy/{resource}/{*path}` (contract section 6): the request walks
 * normalize → authenticate → authorize → mutate → forward, each a small step below, and the
 * downstream's answer streams back as is.
 *
 * Nothing reaches the downstream unless every earlier step passed: a hostile path is refused
 * before the credential is even read, and a deny never opens a connection.
 */
import type { HttpRequest, HttpResponseInit } from '@azure/functions';
import type { Readable } from 'node:stream';
import { errors as undiciErrors, type Dispatcher } from 'undici';
import type { Principal } from '../auth/principal';
import { nowSeconds } from '../clock';
import { hostMatchesAllowList } from '../config/url-rules';
import { GatewayError } from '../errors';
import type { AuditFacts, Gateway, RequestScope } from '../gateway';
import { describeError } from '../logger';
import { actionForMethod, type Action } from '../policy/actions';
import { evaluatePolicies } from '../policy/evaluate';
import type { Resource } from '../policy/model';
import { checkSasScope } from '../verifier/sas-scope';
import { createPrincipalStatement } from '../verifier/principal-statement';
import { forwardRequestHeaders, forwardResponseHeaders } from './forward-headers';
import type { GatewayProxy } from './gateway-proxy';
import { normalizeProxyUrl, type NormalizedPath } from './normalize-path';

/** Lifetime of `x-gateway-principal`: one call, with room for a slow upstream and clock skew. */
export const PRINCIPAL_STATEMENT_TTL_SECONDS = 60;

/** The methods the proxy route accepts: those with an action (OPTIONS, TRACE, CONNECT have none). */
export const PROXY_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;

// ---- Per-gateway state ---------------------------------------------------------------------------

/** Proxy states attached over a gateway's own (a test seam: fake credentials, env). */
const states = new WeakMap<Gateway, GatewayProxy>();

/** The proxy state of a gateway: an attached one, else its own. */
export function gatewayProxyOf(gateway: Gateway): GatewayProxy {
  return states.get(gateway) ?? gateway.proxyState;
}

/** Gives a gateway a proxy state built with other I/O (tests: fake credentials, env). */
export function attachGatewayProxy(gateway: Gateway, state: GatewayProxy): GatewayProxy {
  states.set(gateway, state);
  return state;
}

/** Closes and detaches a proxy state attached with {@link attachGatewayProxy}; no-op otherwise. */
export async function closeGatewayProxy(gateway: Gateway): Promise<void> {
  const state = states.get(gateway);
  states.delete(gateway);
  await state?.close();
}

// ---- Stages -----------------------------------------------------------------------------------------

/** The action of the method, or 405. */
function actionOf(method: string): Action {
  const action = actionForMethod(method);
  if (action === undefined) {
    throw new GatewayError('ERR_METHOD_NOT_ALLOWED', `Use ${PROXY_METHODS.join(', ')}`, {
      headers: { allow: PROXY_METHODS.join(', ') },
    });
  }
  return action;
}

/**
 * The authorize stage. A SAS caller is held to its token's grant (the policies were decided
 * when it was issued, and verification already checked they still exist); an Entra caller is
 * decided by the policies now.
 */
function authorize(
  gateway: Gateway,
  proxy: GatewayProxy,
  principal: Principal,
  resource: string,
  action: Action,
  path: NormalizedPath,
  pathText: string,
  correlationId: string,
  audit: AuditFacts,
): void {
  if (principal.kind === 'sas') {
    const grant = principal.sas;
    const result =
      grant === undefined
        ? ({ inside: false, reason: 'no grant' } as const)
        : checkSasScope(grant, { resource, action, path: pathText });
    if (!result.inside) {
      audit.reasonCode = 'SAS_SCOPE';
      proxy.logger.log('info', 'proxy.sas_scope', { correlationId, resource, action, reason: result.reason });
      throw new GatewayError('ERR_SAS_SCOPE', undefined, { challenge: ['SharedAccessSignature'] });
    }
    Object.assign(audit, { decision: 'allow', policies: grant?.policies ?? [], reasonCode: 'ALLOWED' });
    return;
  }
  const decision = evaluatePolicies(gateway.state.snapshot().index, {
    resource,
    action,
    path: path.segments,
    principal,
  });
  Object.assign(audit, {
    decision: decision.decision,
    policies: decision.policies,
    reasonCode: decision.reasonCode,
  });
  if (!decision.allowed) {
    // The reason names policies and paths: the operator's log gets it, the caller only the code.
    proxy.logger.log('info', 'proxy.denied', {
      correlationId,
      resource,
      action,
      reasonCode: decision.reasonCode,
      reason: decision.reason,
      policies: decision.policies,
    });
    throw new GatewayError('ERR_POLICY_DENIED');
  }
}

/** The caller's Entra token, for on-behalf-of. */
function bearerToken(request: HttpRequest): string | undefined {
  const header = request.headers.get('authorization');
  return header !== null && /^bearer /i.test(header) ? header.slice(7) : undefined;
}

/** The mutate stage: the downstream credential and the signed caller statement. */
async function gatewayHeaders(
  proxy: GatewayProxy,
  request: HttpRequest,
  principal: Principal,
  resource: Resource,
  correlationId: string,
): Promise<Record<string, string>> {
  const credential = proxy.credentials.for(resource.auth);
  const headers =
    resource.auth.type === 'none'
      ? {}
      : await credential.headers(principal, principal.kind === 'entra' ? bearerToken(request) : undefined);
  return {
    ...headers,
    'x-gateway-principal': createPrincipalStatement(
      {
        oid: principal.oid,
        tid: principal.tid,
        azp: principal.azp,
        roles: principal.roles,
        resource: resource.name,
        correlationId,
      },
      proxy.keyRing,
      nowSeconds(proxy.clock),
      PRINCIPAL_STATEMENT_TTL_SECONDS,
    ),
  };
}

/** Counts request body bytes as they stream and stops the upload once the limit is crossed. */
async function* limitedBody(
  body: AsyncIterable<Uint8Array>,
  maxBytes: number,
  state: { tooLarge: boolean },
): AsyncGenerator<Uint8Array> {
  let size = 0;
  for await (const chunk of body) {
    size += chunk.byteLength;
    if (size > maxBytes) {
      state.tooLarge = true;
      throw new GatewayError('ERR_PAYLOAD_TOO_LARGE', `The body is larger than ${maxBytes} bytes`);
    }
    yield chunk;
  }
}

const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

/**
 * An abort signal for undici in its EventEmitter form. Why not AbortController: a web
 * AbortSignal per proxied request showed up at several percent of the proxy's CPU; undici takes
 * any emitter with `aborted` and an `abort` event.
 */
class AbortEmitter extends EventEmitter {
  aborted = false;
  abort(): void {
    this.aborted = true;
    this.emit('abort');
  }
}

/** The resource's `timeoutMs` passed before the upstream's response headers arrived. */
class UpstreamDeadline extends Error {
  readonly code = 'UND_ERR_HEADERS_TIMEOUT';
  constructor() {
    super('The upstream did not answer within the resource timeout');
    this.name = 'UpstreamDeadline';
  }
}

/** Maps an undici failure to the caller's answer; the cause goes to the log. */
function upstreamFailure(err: unknown, bodyTooLarge: boolean, maxBytes: number): GatewayError {
  if (bodyTooLarge) {
    return new GatewayError('ERR_PAYLOAD_TOO_LARGE', `The body is larger than ${maxBytes} bytes`);
  }
  if (err instanceof GatewayError) return err;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && TIMEOUT_CODES.has(code)) {
    return new GatewayError('ERR_UPSTREAM_TIMEOUT', undefined, { cause: err });
  }
  if (err instanceof undiciErrors.RequestContentLengthMismatchError) {
    return new GatewayError('ERR_BAD_REQUEST', 'The body does not match its Content-Length', { cause: err });
  }
  return new GatewayError('ERR_UPSTREAM_UNREACHABLE', undefined, { cause: err });
}

/** Where the caller reached the gateway: `{ proto, host }` from the request URL, no parsing of the path. */
function callerOrigin(url: string): { proto: string; host: string } {
  const scheme = url.indexOf('://');
  if (scheme === -1) return { proto: 'http', host: '' };
  const hostEnd = url.indexOf('/', scheme + 3);
  return { proto: url.slice(0, scheme), host: url.slice(scheme + 3, hostEnd === -1 ? url.length : hostEnd) };
}

/** The forward stage: one request on the upstream's keep-alive pool, the answer streamed back. */
async function forward(
  proxy: GatewayProxy,
  request: HttpRequest,
  resource: Resource,
  path: NormalizedPath,
  added: Record<string, string>,
  correlationId: string,
): Promise<HttpResponseInit> {
  const target = proxy.target(resource.upstream);
  // Checked on every call, not only when the resource was saved: DOWNSTREAM_ALLOWED_HOSTS may
  // have narrowed since. A misconfigured resource is the operator's fault: 502, and a log line.
  if (target.problem !== undefined || !hostMatchesAllowList(target.hostname, proxy.allowedHosts)) {
    proxy.logger.log('error', 'proxy.upstream_refused', {
      correlationId,
      resource: resource.name,
      reason: target.problem ?? `host "${target.hostname}" is not in DOWNSTREAM_ALLOWED_HOSTS`,
    });
    throw new GatewayError('ERR_UPSTREAM_UNREACHABLE');
  }
  const { proto, host } = callerOrigin(request.url);
  const headers = forwardRequestHeaders(request.headers, { correlationId, proto, host, added });
  const upstreamPath =
    (target.basePath + path.forwardPath || '/') + (path.query === '' ? '' : `?${path.query}`);

  const state = { tooLarge: false };
  const method = request.method;
  const source = request.body as unknown as AsyncIterable<Uint8Array> | null;
  let response: Dispatcher.ResponseData;
  const started = proxy.clock.now();
  // The resource's `timeoutMs` bounds the whole exchange, headers and body: a deadline of the
  // shared wheel (undici checks its own timeouts only about twice a second, and only per phase)
  // aborts the request, and after the status line went out that cuts the caller's response.
  const abort = new AbortEmitter();
  const deadline = proxy.deadlines.add(resource.timeoutMs, () => abort.abort());
  try {
    response = await proxy.pools.for(target.origin).request({
      signal: abort,
      path: upstreamPath,
      method,
      headers,
      // undici streams any async iterable (its types list only Readable): no whole-body buffer.
      body: source === null ? null : (limitedBody(source, proxy.maxBodyBytes, state) as unknown as Readable),
      headersTimeout: resource.timeoutMs,
      bodyTimeout: resource.timeoutMs,
      // Redirects are the caller's business: undici does not follow them, the 3xx goes back as is.
    });
  } catch (err) {
    proxy.deadlines.cancel(deadline);
    throw upstreamFailure(abort.aborted ? new UpstreamDeadline() : err, state.tooLarge, proxy.maxBodyBytes);
  }
  proxy.metrics?.upstreamLatency(resource.name, response.statusCode, proxy.clock.now() - started);
  const body = response.body as unknown as Readable;
  body.once('close', () => proxy.deadlines.cancel(deadline));
  body.on('error', (err: unknown) => {
    // After the status line went out, a failure can only cut the stream (the host resets the
    // caller's connection); the log says why.
    proxy.logger.log('warn', 'proxy.response_aborted', {
      correlationId,
      resource: resource.name,
      reason: abort.aborted ? 'deadline' : 'upstream',
      error: describeError(err),
    });
  });
  const empty = method === 'HEAD' || response.statusCode === 204 || response.statusCode === 304;
  if (empty) {
    proxy.deadlines.cancel(deadline);
    response.body.dump().catch(() => undefined);
  }
  return {
    status: response.statusCode,
    headers: forwardResponseHeaders(response.headers),
    ...(empty ? {} : { body }),
  };
}

/**
 * The proxy operation.
 *
 * @throws {GatewayError} 400 `ERR_PATH_TRAVERSAL`, 401 (credential), 403 `ERR_POLICY_DENIED` /
 *   `ERR_SAS_SCOPE` / `ERR_OBO_REQUIRES_BEARER`, 404 `ERR_RESOURCE_NOT_FOUND`, 405, 413
 *   `ERR_PAYLOAD_TOO_LARGE`, 502 `ERR_UPSTREAM_UNREACHABLE` / `ERR_UPSTREAM_CREDENTIAL`, 504
 *   `ERR_UPSTREAM_TIMEOUT`; the pipeline turns each into problem+json.
 */
export async function proxyRequest(gateway: Gateway, scope: RequestScope): Promise<HttpResponseInit> {
  const { request, correlationId } = scope;
  const proxy = gatewayProxyOf(gateway);
  const action = actionOf(request.method);
  const { resource: name, path } = normalizeProxyUrl(request.url);
  const pathText = `/${path.segments.join('/')}`;
  Object.assign(scope.audit, { resource: name, action, path: pathText });
  const declared = request.headers.get('content-length');
  const principal = await gateway.authenticate(request, { acceptSas: true });
  const resource = gateway.state.snapshot().resources.get(name);
  if (resource === undefined) throw new GatewayError('ERR_RESOURCE_NOT_FOUND', `No resource named "${name}"`);
  authorize(gateway, proxy, principal, name, action, path, pathText, correlationId, scope.audit);
  if (declared !== null && Number(declared) > proxy.maxBodyBytes) {
    throw new GatewayError('ERR_PAYLOAD_TOO_LARGE', `The body is larger than ${proxy.maxBodyBytes} bytes`);
  }
  let added: Record<string, string>;
  try {
    added = await gatewayHeaders(proxy, request, principal, resource, correlationId);
  } catch (err) {
    if (err instanceof GatewayError) throw err;
    throw new GatewayError('ERR_UPSTREAM_CREDENTIAL', undefined, { cause: err });
  }
  return forward(proxy, request, resource, path, added, correlationId);
}
