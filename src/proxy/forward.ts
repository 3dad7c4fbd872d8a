/**
 * The proxy's forward stage: one request on the upstream's keep-alive pool, the body streamed
 * both ways and counted, the resource's `timeoutMs` over the whole exchange, and every undici
 * failure mapped to the caller's answer (the cause goes to the log).
 */
import { EventEmitter } from 'node:events';
import type { HttpRequest, HttpResponseInit } from '@azure/functions';
import type { Readable } from 'node:stream';
import { errors as undiciErrors, type Dispatcher } from 'undici';
import { hostMatchesAllowList } from '../config/url-rules';
import { GatewayError } from '../errors';
import { describeError } from '../logger';
import type { Resource } from '../policy/model';
import { forwardRequestHeaders, forwardResponseHeaders } from './forward-headers';
import type { GatewayProxy } from './gateway-proxy';
import type { NormalizedPath } from './normalize-path';

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
export async function forward(
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
