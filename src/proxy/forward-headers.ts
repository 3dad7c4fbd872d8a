/**
 * Header hygiene of the proxy, both ways (RFC 9110 section 7.6.1): hop-by-hop headers never
 * cross the gateway; the caller's credential, cookies and any `x-gateway-*` never reach the
 * downstream (only the gateway may speak as the gateway); tracing and forwarding headers are set.
 */
import { randomText } from '../random';

/** Hop-by-hop headers, plus `host` (the upstream's own is set by the HTTP client). */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
]);

/**
 * Request headers that belong to the caller's relationship with the gateway, not the downstream's:
 *
 * - its credential and cookies, and the forwarding headers the gateway sets itself;
 * - `expect`: the gateway (its host) answered `100-continue` already, and forwards the body as a
 *   plain request;
 * - headers that make a server, framework or front end take the request for another one:
 *   method overrides (ASP.NET, Express `method-override`, Spring's `HiddenHttpMethodFilter`
 *   kin, Google APIs) would turn an authorized GET into a DELETE; URL rewrites (IIS
 *   `X-Original-URL` / `X-Rewrite-URL`, `X-Forwarded-Prefix`) into another path; and App Service
 *   Easy Auth's `X-MS-CLIENT-PRINCIPAL*` / `X-MS-TOKEN-*` into another caller. The policy
 *   decided on the request as received; the downstream must see exactly that request.
 */
const CALLER_ONLY = new Set([
  'authorization',
  // The DPoP proof is the caller's, for the gateway's URL: a downstream has no use for it, and
  // must not learn one it could try elsewhere within its window.
  'dpop',
  'cookie',
  'x-forwarded-host',
  'x-forwarded-proto',
  'forwarded',
  'expect',
  'x-http-method-override',
  'x-http-method',
  'x-method-override',
  'x-original-url',
  'x-original-method',
  'x-rewrite-url',
  'x-forwarded-prefix',
  'x-forwarded-path',
  'x-forwarded-uri',
  'x-envoy-original-path',
]);

/**
 * Headers the gateway forwards as the chain of its front end or sets itself: a caller's
 * `Connection` list cannot remove them (`Connection: x-forwarded-for` would hide the client
 * address the front end appended; the others are set below whatever the caller lists).
 */
const NOT_REMOVABLE_BY_CONNECTION = new Set([
  'x-forwarded-for',
  'x-correlation-id',
  'traceparent',
  'tracestate',
]);

/** Easy Auth's caller headers (`x-ms-client-principal`, `-id`, `-name`, `-idp`) and token store (`x-ms-token-*`). */
const EASY_AUTH = /^x-ms-(client-principal|token-)/;

/** Names listed in `Connection` (lower case), which are hop-by-hop for this message too. */
function connectionTokens(value: string | null | undefined): Set<string> | undefined {
  if (!value) return undefined;
  const tokens = new Set<string>();
  for (const token of value.split(',')) {
    const name = token.trim().toLowerCase();
    if (name) tokens.add(name);
  }
  return tokens;
}

/** What the gateway adds to a forwarded request. */
export interface ForwardedRequestHeaders {
  readonly correlationId: string;
  /** `http` or `https`: how the caller reached the gateway. */
  readonly proto: string;
  /** The host the caller addressed (`gateway.example.net`). */
  readonly host: string;
  /** The downstream credential's headers and `x-gateway-principal`. */
  readonly added: Readonly<Record<string, string>>;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_PARENT = '0'.repeat(16);

/**
 * True for a W3C `traceparent` the gateway may propagate: lower-case hex, version not `ff`,
 * trace id and parent id not all zero (W3C Trace Context section 3.2).
 */
export function isValidTraceparent(value: string): boolean {
  const m = TRACEPARENT.exec(value);
  return m !== null && m[1] !== 'ff' && m[2] !== ZERO_TRACE && m[3] !== ZERO_PARENT;
}

/** A new `traceparent` with a random trace id and parent id, sampled flag unset. */
export function newTraceparent(): string {
  const traceId = randomText(16, 'hex');
  const parentId = randomText(8, 'hex');
  // All-zero ids are invalid (W3C Trace Context 3.2.2); at 2^-128 / 2^-64 a redraw is theoretical.
  if (traceId === ZERO_TRACE || parentId === ZERO_PARENT) return newTraceparent();
  return `00-${traceId}-${parentId}-00`;
}

/**
 * The headers to send downstream: the caller's end-to-end headers minus hop-by-hop ones (and those
 * named in `Connection`), the caller-only ones above, every `x-gateway-*` and Easy Auth's; then
 * `x-forwarded-for` (the chain as received, which the host's front end has already extended with
 * the client address), `x-forwarded-proto` / `-host` (what the gateway saw, never the caller's
 * claim), `x-correlation-id`, `traceparent` (kept when valid, with its `tracestate`; else new)
 * and the gateway's own headers.
 */
export function forwardRequestHeaders(
  incoming: Headers,
  options: ForwardedRequestHeaders,
): Record<string, string> {
  const out: Record<string, string> = {};
  const named = connectionTokens(incoming.get('connection'));
  let traceparent: string | undefined;
  let tracestate: string | undefined;
  for (const [name, value] of incoming) {
    // Headers yields lower-case names.
    if (HOP_BY_HOP.has(name) || CALLER_ONLY.has(name)) continue;
    if (named?.has(name) && !NOT_REMOVABLE_BY_CONNECTION.has(name)) continue;
    if (name.startsWith('x-gateway-') || (name.startsWith('x-ms-') && EASY_AUTH.test(name))) continue;
    if (name === 'traceparent') {
      traceparent = value;
      continue;
    }
    if (name === 'tracestate') {
      tracestate = value;
      continue;
    }
    if (name === 'x-correlation-id') continue;
    out[name] = value;
  }
  out['x-forwarded-proto'] = options.proto;
  out['x-forwarded-host'] = options.host;
  out['x-correlation-id'] = options.correlationId;
  if (traceparent !== undefined && isValidTraceparent(traceparent)) {
    out.traceparent = traceparent;
    if (tracestate !== undefined) out.tracestate = tracestate;
  } else {
    out.traceparent = newTraceparent();
  }
  for (const name in options.added) out[name] = options.added[name]!;
  return out;
}

/**
 * The downstream's response headers for the caller: hop-by-hop ones (and those named in
 * `Connection`) removed, repeated `set-cookie` kept as a list, everything else as is.
 *
 * @param raw undici's response headers (lower-case names; a list for repeated headers)
 */
export function forwardResponseHeaders(
  raw: Readonly<Record<string, string | string[] | undefined>>,
): Record<string, string> {
  const out: Record<string, string | string[]> = {};
  const connection = raw.connection;
  const named = connectionTokens(Array.isArray(connection) ? connection.join(',') : connection);
  for (const name in raw) {
    const value = raw[name];
    if (value === undefined || HOP_BY_HOP.has(name) || named?.has(name)) continue;
    // The gateway sets its own correlation id on the way out (the pipeline does).
    if (name === 'x-correlation-id') continue;
    out[name] = Array.isArray(value) && name !== 'set-cookie' ? value.join(', ') : value;
  }
  // A repeated Set-Cookie cannot be joined: the list rides along typed as a string (see docs/proxy.md).
  return out as Record<string, string>;
}
