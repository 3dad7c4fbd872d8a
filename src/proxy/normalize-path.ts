/**
 * Path normalization for the proxy: the raw request URL in, the path inside the resource out, or
 * a 400 `ERR_PATH_TRAVERSAL`. Pure; runs before any decision, so a hostile path never reaches
 * the policy evaluator or the downstream.
 *
 * Why so strict: the gateway authorizes one spelling of a path and the downstream may decode it
 * again (or differently). Anything that could mean another path after one more decoding step is
 * refused instead of "cleaned": `.` / `..` segments (plain or `%2e`-encoded), encoded `/` and
 * `\` (`%2f`, `%5c`), backslashes, NUL and control characters (raw or encoded), `%25` (a literal
 * `%`, which is how double-encoding starts: `%252e%252e`), malformed percent-encoding or UTF-8,
 * and empty segments (`//`: some servers collapse them, others do not, so the policy and the
 * downstream could disagree). One trailing `/` is allowed and kept for the downstream; policy
 * sees the path without it (as path-glob's `splitPath` does).
 *
 * Spellings that other servers read as another path are refused too: `;` raw or encoded (Tomcat,
 * Jetty and Spring drop `;param` from a segment, so `/admin;x/` and `/..;/` mean `/admin/` and
 * `/../` there), and a segment ending in `.` or an encoded space (Windows, IIS and Azure's front
 * ends trim them, so `/admin.` and `/admin%20` are `/admin`).
 */
import { GatewayError } from '../errors';
import { isValidSegment } from '../policy/path-glob';

/** A path inside a resource that is safe to decide on and to forward. */
export interface NormalizedPath {
  /** Decoded segments, for the policy decision: `['customers', '42']`; `[]` for the root. */
  readonly segments: readonly string[];
  /** The path as received, percent-encoding kept: `/customers/42`, `/customers/42/`, `/` or `''`. */
  readonly forwardPath: string;
  /** The query string as received, without `?`; `''` when none. */
  readonly query: string;
}

/** Largest path (in bytes of the raw URL path) the proxy forwards: far above any real API path. */
export const MAX_PROXY_PATH_LENGTH = 4096;

const HEX = /^[0-9a-fA-F]{2}$/;

function refuse(why: string): never {
  throw new GatewayError('ERR_PATH_TRAVERSAL', `The path escapes the resource (${why})`);
}

/**
 * Checks one raw (still encoded) segment; returns it decoded. What may be encoded is this file's
 * rule; what a decoded segment may hold is the one path rule every route shares
 * (`isValidSegment`, src/policy/path-glob.ts), so the proxy, the decision API and the token
 * exchange refuse the same paths.
 */
function checkSegment(raw: string): string {
  let encoded = false;
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c < 0x21 || c === 0x7f) refuse('control character or space');
    if (c !== 0x25) continue;
    const pair = raw.slice(i + 1, i + 3);
    if (!HEX.test(pair)) refuse('malformed percent-encoding');
    const byte = parseInt(pair, 16);
    // `.` `/` `\` `%` `;` and control characters must never appear encoded: see the file header.
    if (
      byte === 0x2e ||
      byte === 0x2f ||
      byte === 0x5c ||
      byte === 0x25 ||
      byte === 0x3b ||
      byte < 0x20 ||
      byte === 0x7f
    ) {
      refuse('encoded dot, slash, backslash, percent, semicolon or control character');
    }
    encoded = true;
    i += 2;
  }
  let decoded = raw;
  if (encoded) {
    try {
      decoded = decodeURIComponent(raw);
    } catch {
      return refuse('invalid UTF-8');
    }
  }
  if (!isValidSegment(decoded)) {
    refuse('an empty or dot segment, a backslash or semicolon, or a trailing dot or space');
  }
  return decoded;
}

/**
 * Normalizes the part of a raw request path below the resource.
 *
 * @param rest the raw path after `/api/proxy/{resource}`: `''`, `/` or `/customers/42`
 * @param query the raw query without `?`
 * @throws {GatewayError} 400 `ERR_PATH_TRAVERSAL`
 *
 * @example
 * ```ts
 * normalizeResourcePath('/customers/42', 'x=1'); // { segments: ['customers', '42'], forwardPath: '/customers/42', query: 'x=1' }
 * normalizeResourcePath('/a/%2e%2e/b', '');      // throws ERR_PATH_TRAVERSAL
 * ```
 */
export function normalizeResourcePath(rest: string, query: string): NormalizedPath {
  if (rest.length > MAX_PROXY_PATH_LENGTH) refuse('too long');
  if (rest === '' || rest === '/') return { segments: [], forwardPath: rest, query };
  if (rest.charCodeAt(0) !== 0x2f) refuse('no leading slash');
  const body = rest.endsWith('/') ? rest.slice(1, -1) : rest.slice(1);
  const segments = body.split('/').map(checkSegment);
  return { segments, forwardPath: rest, query };
}

/**
 * Splits a raw request URL (absolute, as `HttpRequest.url` gives it, or origin-form) of the
 * proxy route into the resource segment and the normalized path below it.
 *
 * The URL is read as text, never through `new URL()`, which would resolve `..`, `%2e` and `\`
 * and so hide exactly what must be refused.
 *
 * @param url `https://host/api/proxy/orders/customers/42?x=1` or `/api/proxy/orders/...`
 * @param prefix the route's raw prefix, lower case: `/api/proxy/`
 * @throws {GatewayError} 400 `ERR_PATH_TRAVERSAL` for a hostile path, `ERR_BAD_REQUEST` when the
 *   URL is not below `prefix`
 */
export function normalizeProxyUrl(
  url: string,
  prefix = '/api/proxy/',
): { readonly resource: string; readonly path: NormalizedPath } {
  let start = 0;
  const scheme = url.indexOf('://');
  if (scheme !== -1 && scheme < url.indexOf('/')) {
    start = url.indexOf('/', scheme + 3);
    if (start === -1) start = url.length;
  }
  let end = url.indexOf('?', start);
  const hash = url.indexOf('#', start);
  if (hash !== -1 && (end === -1 || hash < end)) end = hash;
  const pathEnd = end === -1 ? url.length : end;
  let query = '';
  if (end !== -1 && url.charCodeAt(end) === 0x3f) {
    const queryEnd = hash > end ? hash : url.length;
    query = url.slice(end + 1, queryEnd);
  }
  const path = url.slice(start, pathEnd);
  if (path.length < prefix.length || path.slice(0, prefix.length).toLowerCase() !== prefix) {
    throw new GatewayError('ERR_BAD_REQUEST', 'Not a proxy URL');
  }
  const slash = path.indexOf('/', prefix.length);
  const rawResource = slash === -1 ? path.slice(prefix.length) : path.slice(prefix.length, slash);
  const rest = slash === -1 ? '' : path.slice(slash);
  const resource = checkSegment(rawResource);
  return { resource, path: normalizeResourcePath(rest, query) };
}
