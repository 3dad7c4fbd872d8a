/**
 * Reading an RFC 8693 token exchange request, strictly: the form mode
 * (`application/x-www-form-urlencoded`, subject token in the body) and the JSON mode (same
 * fields as JSON, subject token in `Authorization: Bearer`). Syntax only: no token is verified
 * and no policy read here, so a malformed request costs nothing and discloses nothing.
 */
import type { HttpRequest } from '@azure/functions';
import { parseAuthorizationHeader } from '../http/authorization-header';
import { GatewayError, type ErrorCode } from '../errors';
import { readBodyText } from '../http/request-context';
import { ACTIONS, isAction, type Action } from '../policy/actions';
import { scopeSegments } from './sas-token';

export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';

/** Largest request body: an Entra token (16 KiB at most) plus the other parameters. */
export const MAX_TOKEN_REQUEST_BYTES = 20 * 1024;
/** Largest `requested_lifetime` accepted (then capped by the lifetime rule). */
export const MAX_REQUESTED_LIFETIME = 2_147_483_647;
const MAX_RESOURCE_LENGTH = 1024;
const RESOURCE_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** A syntactically valid request. */
export interface TokenRequest {
  readonly mode: 'form' | 'json';
  readonly subjectToken: string;
  readonly resource: string;
  /** Path scope segments; `[]` for the whole resource. */
  readonly pathPrefix: readonly string[];
  /** Canonical order (`read create write delete`), each once. */
  readonly actions: readonly Action[];
  readonly requestedLifetime: number | undefined;
}

const fail = (code: ErrorCode, message: string): GatewayError => new GatewayError(code, message);
const invalid = (message: string) => fail('ERR_TOKEN_REQUEST_INVALID', message);

/** Parameters of the request, whichever mode, before their values are checked. */
interface RawParameters {
  grant_type?: unknown;
  subject_token?: unknown;
  subject_token_type?: unknown;
  requested_token_type?: unknown;
  resource?: unknown;
  scope?: unknown;
  requested_lifetime?: unknown;
  actor_token?: unknown;
  actor_token_type?: unknown;
  audience?: unknown;
}

const RECOGNIZED = new Set([
  'grant_type',
  'subject_token',
  'subject_token_type',
  'requested_token_type',
  'resource',
  'scope',
  'requested_lifetime',
  'actor_token',
  'actor_token_type',
  'audience',
]);

function decodeFormComponent(text: string): string {
  // Most values (a JWT, the grant type's URN once decoded by the client library) need no
  // decoding; skipping it matters for the kilobyte-long subject token.
  if (!text.includes('%') && !text.includes('+')) return text;
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '));
  } catch {
    throw invalid('The form body is not valid percent-encoding');
  }
}

/**
 * Parses a form body. A parameter sent twice is refused (RFC 6749 section 3.1); one sent
 * without a value counts as omitted; unrecognized ones are ignored (RFC 6749 section 3.2).
 */
export function parseForm(body: string): RawParameters {
  const params: Record<string, string> = {};
  const seen = new Set<string>();
  for (const pair of body.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const name = decodeFormComponent(eq === -1 ? pair : pair.slice(0, eq));
    const value = eq === -1 ? '' : decodeFormComponent(pair.slice(eq + 1));
    if (seen.has(name)) throw invalid(`The parameter "${name}" is sent more than once`);
    seen.add(name);
    if (value !== '' && RECOGNIZED.has(name)) params[name] = value;
  }
  return params;
}

function text(params: RawParameters, name: keyof RawParameters, required: boolean): string | undefined {
  const value = params[name];
  if (value === undefined || value === null) {
    if (required) throw invalid(`The parameter "${name}" is required`);
    return undefined;
  }
  if (typeof value !== 'string') throw invalid(`The parameter "${name}" must be a string`);
  if (value === '' && required) throw invalid(`The parameter "${name}" is required`);
  return value === '' ? undefined : value;
}

const targetInvalid = (message: string) => fail('ERR_TARGET_INVALID', message);

/**
 * A `resource` given as an absolute URI (RFC 8693 section 2.1, RFC 8707): the gateway's URL for
 * the resource, `<base>/proxy/orders` or `<base>/proxy/orders/customers/42`, where `<base>` is
 * one of `bases` (the API base the request reached, or `GATEWAY_ISSUER`). Returns the canonical
 * `orders[/path]` form; `invalid_target` for any other URI.
 */
function resourceFromUri(uri: string, bases: readonly string[]): string {
  // The URL parser resolves `..`, `%2e%2e` and `\` into another path: the target must be the
  // path as written, so such a URI names none (as the proxy refuses such a path).
  const path = uri.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i, '');
  const dotted = path.split(/[/?#]/).some((segment) => /^(\.|%2e){1,2}$/i.test(segment));
  if (dotted || path.includes('\\'))
    throw targetInvalid('The resource URI must have no dot segments or backslashes');
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw targetInvalid('The resource URI is not a valid absolute URI');
  }
  if (url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') {
    throw targetInvalid('The resource URI must have no query, fragment or userinfo (RFC 8707 section 2)');
  }
  const target = `${url.protocol}//${url.host}${url.pathname}`.replace(/\/$/, '');
  for (const base of bases) {
    let prefix: string;
    try {
      const b = new URL(base);
      prefix = `${b.protocol}//${b.host}${b.pathname.replace(/\/+$/, '')}/proxy/`;
    } catch {
      continue;
    }
    if (target.startsWith(prefix) && target.length > prefix.length) return target.slice(prefix.length);
  }
  throw targetInvalid(
    `The resource URI must be this gateway's URL of a resource: ${bases[0] ?? ''}/proxy/<name>[/<path>]`,
  );
}

/**
 * The target of a request, from `resource` (a name, `name/path`, or the gateway's URI of it) and
 * `audience` (a logical name: a resource name), RFC 8693 section 2.1. At least one is needed;
 * when both are given they must name one resource (`invalid_target` otherwise).
 */
function parseTarget(
  resource: string | undefined,
  audience: string | undefined,
  bases: readonly string[],
): { resource: string; pathPrefix: string[] } {
  if (resource === undefined && audience === undefined) throw invalid('The parameter "resource" is required');
  if (audience !== undefined && !RESOURCE_NAME.test(audience)) {
    throw targetInvalid('The audience must be a resource name');
  }
  const target =
    resource === undefined
      ? { resource: audience!, pathPrefix: [] }
      : parseResourceParameter(
          /^[a-z][a-z0-9+.-]*:/i.test(resource) ? resourceFromUri(resource, bases) : resource,
        );
  if (audience !== undefined && audience !== target.resource) {
    throw targetInvalid('The resource and the audience name different targets');
  }
  return target;
}

/** `orders` or `orders/customers/42` into its parts; `invalid_target` unless canonical. */
export function parseResourceParameter(resource: string): { resource: string; pathPrefix: string[] } {
  const slash = resource.indexOf('/');
  const name = slash === -1 ? resource : resource.slice(0, slash);
  if (resource.length > MAX_RESOURCE_LENGTH || !RESOURCE_NAME.test(name)) {
    throw fail('ERR_TARGET_INVALID', 'The resource must be a resource name, optionally followed by /path');
  }
  if (slash === -1) return { resource: name, pathPrefix: [] };
  const segments = scopeSegments(resource.slice(slash + 1));
  if (segments === undefined) {
    throw fail(
      'ERR_TARGET_INVALID',
      'The path scope must be /-separated segments of A-Z a-z 0-9 . _ ~ @ : - (no empty or dot segment, none ending in .)',
    );
  }
  return { resource: name, pathPrefix: segments };
}

/** `read create` into actions; `invalid_scope` for an unknown action or a malformed list. */
export function parseScopeParameter(scope: string): Action[] {
  const tokens = scope.split(' ');
  const actions = new Set<Action>();
  for (const token of tokens) {
    if (!isAction(token)) {
      throw fail(
        'ERR_SCOPE_INVALID',
        token === ''
          ? 'The scope must be actions separated by single spaces'
          : 'The scope may only hold read, create, write and delete',
      );
    }
    actions.add(token);
  }
  return ACTIONS.filter((a) => actions.has(a));
}

function parseLifetime(value: unknown, mode: 'form' | 'json'): number | undefined {
  if (value === undefined || value === null) return undefined;
  const number =
    mode === 'json'
      ? typeof value === 'number'
        ? value
        : NaN
      : typeof value === 'string' && /^[0-9]{1,10}$/.test(value)
        ? Number(value)
        : NaN;
  if (!Number.isInteger(number) || number < 1 || number > MAX_REQUESTED_LIFETIME) {
    throw invalid(
      `The parameter "requested_lifetime" must be a whole number of seconds from 1 to ${MAX_REQUESTED_LIFETIME}`,
    );
  }
  return number;
}

function validate(
  params: RawParameters,
  mode: 'form' | 'json',
  subjectToken: string | undefined,
  bases: readonly string[],
): TokenRequest {
  const grantType = text(params, 'grant_type', mode === 'form');
  if (grantType !== undefined && grantType !== TOKEN_EXCHANGE_GRANT) {
    throw fail('ERR_GRANT_TYPE_UNSUPPORTED', `Only ${TOKEN_EXCHANGE_GRANT} is supported`);
  }
  if (params.actor_token !== undefined || params.actor_token_type !== undefined) {
    throw invalid('Delegation (actor_token) is not supported');
  }
  const token = mode === 'form' ? text(params, 'subject_token', true) : subjectToken;
  const tokenType = text(params, 'subject_token_type', mode === 'form');
  if (tokenType !== undefined && tokenType !== ACCESS_TOKEN_TYPE) {
    throw invalid(`The subject_token_type must be ${ACCESS_TOKEN_TYPE}`);
  }
  const requestedType = text(params, 'requested_token_type', false);
  if (requestedType !== undefined && requestedType !== ACCESS_TOKEN_TYPE) {
    throw invalid(`Only ${ACCESS_TOKEN_TYPE} can be issued`);
  }
  const resource = parseTarget(text(params, 'resource', false), text(params, 'audience', false), bases);
  const actions = parseScopeParameter(text(params, 'scope', true)!);
  const requestedLifetime = parseLifetime(params.requested_lifetime, mode);
  return { mode, subjectToken: token!, ...resource, actions, requestedLifetime };
}

const FORM = /^application\/x-www-form-urlencoded\s*(?:;\s*charset\s*=\s*"?utf-8"?\s*)?$/i;
const JSON_TYPE = /^application\/json\s*(?:;\s*charset\s*=\s*"?utf-8"?\s*)?$/i;

/**
 * Reads and checks a token request. `bases` are the gateway's API base URLs for this request
 * (`gatewayApiBases` in src/http/request-context.ts): a `resource` URI must be one of them followed by `/proxy/<name>`.
 *
 * @throws {GatewayError} 400 `ERR_TOKEN_REQUEST_INVALID`, `ERR_GRANT_TYPE_UNSUPPORTED`,
 *   `ERR_TARGET_INVALID`, `ERR_SCOPE_INVALID`; 413 `ERR_PAYLOAD_TOO_LARGE`; 415
 *   `ERR_UNSUPPORTED_MEDIA_TYPE`; in the JSON mode 401 for a missing or non-Bearer credential.
 */
export async function readTokenRequest(
  request: HttpRequest,
  bases: readonly string[] = [],
): Promise<TokenRequest> {
  const contentType = request.headers.get('content-type') ?? '';
  const form = FORM.test(contentType);
  if (!form && !JSON_TYPE.test(contentType)) {
    throw fail(
      'ERR_UNSUPPORTED_MEDIA_TYPE',
      'Send application/x-www-form-urlencoded (RFC 8693) or application/json',
    );
  }
  const authorization = request.headers.get('authorization');
  const body = await readBodyText(request, MAX_TOKEN_REQUEST_BYTES);
  if (form) {
    // No client authentication here: a credential in the header is a client mistake, not one to guess about.
    if (authorization !== null) {
      throw invalid('In the form mode the subject token goes in the body; send no Authorization header');
    }
    return validate(parseForm(body), 'form', undefined, bases);
  }
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    throw invalid('The body is not valid JSON');
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw invalid('The body must be a JSON object');
  for (const key of Object.keys(json)) {
    if (key === 'subject_token')
      throw invalid('In the JSON mode the subject token goes in Authorization: Bearer');
    if (!RECOGNIZED.has(key)) throw invalid(`Unknown parameter "${key}"`);
  }
  const params = json as RawParameters;
  // Syntax of the body first, then the credential: both are cheap and neither is verified here.
  const checked = validate(params, 'json', '', bases);
  const parsed = parseAuthorizationHeader(authorization);
  if (parsed.scheme !== 'Bearer') {
    throw new GatewayError('ERR_CREDENTIAL_SCHEME', 'Send the Entra access token as Authorization: Bearer');
  }
  return { ...checked, subjectToken: parsed.credential };
}
