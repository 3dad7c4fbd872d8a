/**
 * Typed errors with stable codes, and the one place that turns any error into an HTTP problem.
 *
 * Every failure the gateway reports to a client is a {@link GatewayError}: a stable `ERR_...`
 * code (what clients and tests assert on), the HTTP status it maps to, and a client-safe
 * message. Details that help an operator (the upstream's message, a third-party error) travel
 * as `cause` and go to the log, never to the client.
 */

/** Stable error codes with their HTTP status and a short human title (RFC 9457 `title`). */
export const ERROR_CODES = {
  // Credentials (401)
  ERR_CREDENTIAL_MISSING: { status: 401, title: 'No credential was presented' },
  ERR_CREDENTIAL_SCHEME: { status: 401, title: 'Unsupported Authorization scheme' },
  ERR_TOKEN_MALFORMED: { status: 401, title: 'The token is not a well-formed JWT' },
  ERR_TOKEN_TOO_LARGE: { status: 401, title: 'The token is larger than any Entra ID access token' },
  ERR_TOKEN_ALGORITHM: { status: 401, title: 'The token is not signed with RS256' },
  ERR_TOKEN_UNKNOWN_KEY: { status: 401, title: 'The token is signed by a key the issuer does not publish' },
  ERR_TOKEN_SIGNATURE: { status: 401, title: 'The token signature is invalid' },
  ERR_TOKEN_EXPIRED: { status: 401, title: 'The token has expired' },
  ERR_TOKEN_NOT_YET_VALID: { status: 401, title: 'The token is not valid yet' },
  ERR_TOKEN_NO_EXPIRY: { status: 401, title: 'The token has no expiry' },
  ERR_TOKEN_LIFETIME: { status: 401, title: 'The token is not valid before it expires (nbf after exp)' },
  ERR_TOKEN_AUDIENCE: { status: 401, title: 'The token is not meant for this API' },
  ERR_TOKEN_ISSUER: { status: 401, title: 'The token was issued by an issuer this gateway does not trust' },
  ERR_TOKEN_TENANT: { status: 401, title: 'The token belongs to a tenant that is not allowed' },
  ERR_TOKEN_KEY_ISSUER: {
    status: 401,
    title: 'The token was signed by a key that may not sign for its issuer',
  },
  ERR_TOKEN_NO_SCOPE_OR_ROLE: { status: 401, title: 'The token grants neither a scope nor an app role' },
  ERR_TOKEN_VERSION: { status: 401, title: 'The token version is not supported' },
  ERR_TOKEN_CLAIMS: { status: 401, title: 'The token lacks a required claim or a claim has the wrong type' },
  ERR_SAS_INVALID: { status: 401, title: 'The shared access signature is invalid' },
  ERR_SAS_EXPIRED: { status: 401, title: 'The shared access signature has expired' },
  ERR_SAS_REVOKED: { status: 401, title: 'The shared access signature has been revoked' },
  ERR_SAS_NOT_YET_VALID: { status: 401, title: 'The shared access signature is not valid yet' },
  ERR_DPOP_PROOF_INVALID: { status: 401, title: 'The DPoP proof is missing or invalid' },
  ERR_DPOP_PROOF_REPLAYED: { status: 401, title: 'The DPoP proof was used before' },
  ERR_DPOP_BINDING: {
    status: 401,
    title: 'The token must be presented as DPoP with a proof of the key it is bound to',
  },
  ERR_DPOP_REQUIRED: { status: 401, title: 'This resource accepts only DPoP-bound tokens' },
  /**
   * 401 with Microsoft's claims challenge when the token says its client can answer one (`xms_cc`
   * holds `cp1`), 403 otherwise; 400 `interaction_required` on `/api/token` (docs/step-up.md).
   */
  ERR_AUTH_CONTEXT_REQUIRED: {
    status: 403,
    title: 'The request needs a Conditional Access authentication context the token does not have',
  },
  ERR_PRINCIPAL_STATEMENT_INVALID: { status: 401, title: 'The x-gateway-principal statement is invalid' },
  ERR_PRINCIPAL_STATEMENT_EXPIRED: { status: 401, title: 'The x-gateway-principal statement has expired' },

  // Authorization (403)
  ERR_POLICY_DENIED: { status: 403, title: 'No policy allows this request' },
  ERR_ADMIN_ROLE_REQUIRED: { status: 403, title: 'This route needs the gateway admin app role' },
  ERR_SAS_SCOPE: { status: 403, title: 'The shared access signature does not cover this request' },
  ERR_OBO_REQUIRES_BEARER: {
    status: 403,
    title: 'This resource is called on behalf of the user: present an Entra ID Bearer token',
  },

  // Request shape (4xx)
  ERR_BAD_REQUEST: { status: 400, title: 'The request is malformed' },
  ERR_VALIDATION: { status: 400, title: 'The request body failed validation' },
  ERR_PATH_TRAVERSAL: { status: 400, title: 'The path escapes the resource' },
  ERR_TOKEN_REQUEST_INVALID: { status: 400, title: 'The token request is malformed or incomplete' },
  ERR_GRANT_TYPE_UNSUPPORTED: { status: 400, title: 'The grant type is not token exchange' },
  ERR_SUBJECT_TOKEN_INVALID: { status: 400, title: 'The subject token was refused' },
  ERR_TARGET_INVALID: { status: 400, title: 'The requested resource is unknown or malformed' },
  ERR_SCOPE_INVALID: { status: 400, title: 'The requested scope is malformed or not allowed by policy' },
  ERR_TOKEN_DPOP_PROOF_INVALID: { status: 400, title: 'The DPoP proof of the token request is invalid' },
  ERR_TOKEN_DPOP_REQUIRED: {
    status: 400,
    title: 'The resource issues only DPoP-bound tokens: send a DPoP proof with the token request',
  },
  ERR_NOT_FOUND: { status: 404, title: 'No such route or document' },
  ERR_RESOURCE_NOT_FOUND: { status: 404, title: 'No such resource' },
  ERR_METHOD_NOT_ALLOWED: { status: 405, title: 'Method not allowed on this route' },
  ERR_PRECONDITION_FAILED: { status: 412, title: 'The document changed since it was read (stale ETag)' },
  ERR_PAYLOAD_TOO_LARGE: { status: 413, title: 'The request body is too large' },
  ERR_UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'Unsupported content type' },
  ERR_RATE_LIMITED: { status: 429, title: 'Too many requests' },
  ERR_QUOTA_EXCEEDED: {
    status: 429,
    title: "The caller's quota for this resource is used up for the current window",
  },
  ERR_QUOTA_UNAVAILABLE: {
    status: 429,
    title:
      'The quota store did not answer, and this resource refuses calls it cannot count (quotaStoreFailure: deny)',
  },

  // Gateway and dependencies (5xx)
  ERR_INTERNAL: { status: 500, title: 'Internal error' },
  ERR_UPSTREAM_UNREACHABLE: { status: 502, title: 'The downstream function could not be reached' },
  ERR_UPSTREAM_CREDENTIAL: { status: 502, title: 'The downstream credential could not be obtained' },
  ERR_CONFIG_INVALID: { status: 503, title: 'The gateway configuration is invalid' },
  ERR_IDP_UNAVAILABLE: { status: 503, title: 'The identity provider metadata or keys are unavailable' },
  ERR_POLICY_STORE_UNAVAILABLE: { status: 503, title: 'Policies are not loaded; failing closed' },
  ERR_STORE_UNAVAILABLE: { status: 503, title: 'Cosmos DB did not answer; nothing was changed' },
  ERR_STORE_OUTCOME_UNKNOWN: {
    status: 503,
    title:
      'Cosmos DB did not confirm the write in time; it may have been applied: read it back before retrying',
  },
  ERR_UNHEALTHY: { status: 503, title: 'The gateway is not healthy' },
  ERR_UPSTREAM_TIMEOUT: { status: 504, title: 'The downstream function did not answer in time' },
} as const satisfies Record<string, { status: number; title: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** Which credential challenge a 401 should carry (RFC 6750 `WWW-Authenticate`; RFC 9449 section 7.1 for DPoP). */
export type ChallengeScheme = 'Bearer' | 'SharedAccessSignature' | 'DPoP';

/** The DPoP proof algorithms the gateway accepts: the `algs` of a DPoP challenge and of the metadata. */
export const DPOP_ALGS = ['ES256', 'ES384', 'ES512', 'PS256', 'RS256', 'EdDSA'] as const;

/**
 * 401 codes that mean the proof, not the token, was wrong: `invalid_dpop_proof` (RFC 9449
 * section 7.1). The token endpoint's own (400) is mapped by src/sas/oauth-error.ts.
 */
const DPOP_PROOF_CODES: ReadonlySet<ErrorCode> = new Set([
  'ERR_DPOP_PROOF_INVALID',
  'ERR_DPOP_PROOF_REPLAYED',
]);

/** 401 codes of a request that brought no credential the gateway takes: challenged without an error. */
const NO_CREDENTIAL_CODES: ReadonlySet<ErrorCode> = new Set([
  'ERR_CREDENTIAL_MISSING',
  'ERR_CREDENTIAL_SCHEME',
]);

export interface GatewayErrorOptions {
  /** The underlying error: logged, never sent to the client. */
  cause?: unknown;
  /** The schemes to challenge with on a 401; defaults to Bearer. */
  challenge?: readonly ChallengeScheme[];
  /** Extra client-safe members of the problem document (e.g. the failing field). */
  extensions?: Readonly<Record<string, unknown>>;
  /** Extra response headers (e.g. `Retry-After`). */
  headers?: Readonly<Record<string, string>>;
  /** The status when the code's own does not fit the route (see ERR_AUTH_CONTEXT_REQUIRED). */
  status?: number;
  /**
   * A claims challenge (Microsoft's format, docs/step-up.md): the `WWW-Authenticate` parameters
   * `realm`, `authorization_uri` and `claims` of an `insufficient_claims` Bearer challenge.
   */
  claimsChallenge?: { readonly realm: string; readonly authorizationUri: string; readonly claims: string };
}

/** A failure with a stable code, an HTTP status and a message that is safe to show a client. */
export class GatewayError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly challenge: readonly ChallengeScheme[];
  readonly extensions: Readonly<Record<string, unknown>>;
  readonly headers: Readonly<Record<string, string>>;
  readonly claimsChallenge: GatewayErrorOptions['claimsChallenge'];

  constructor(code: ErrorCode, message?: string, options: GatewayErrorOptions = {}) {
    super(
      message ?? ERROR_CODES[code].title,
      options.cause === undefined ? undefined : { cause: options.cause },
    );
    this.name = 'GatewayError';
    this.code = code;
    this.status = options.status ?? ERROR_CODES[code].status;
    this.challenge = options.challenge ?? ['Bearer'];
    this.extensions = options.extensions ?? {};
    this.headers = options.headers ?? {};
    this.claimsChallenge = options.claimsChallenge;
  }

  /** The same error with more response headers (the RateLimit fields of a refusal). */
  withHeaders(headers: Readonly<Record<string, string>>): GatewayError {
    return new GatewayError(this.code, this.message, {
      cause: this.cause,
      challenge: this.challenge,
      extensions: this.extensions,
      headers: { ...this.headers, ...headers },
      status: this.status,
      claimsChallenge: this.claimsChallenge,
    });
  }
}

/** True when `err` is a GatewayError carrying `code` (handy in tests and catch blocks). */
export function isGatewayError(err: unknown, code?: ErrorCode): err is GatewayError {
  return err instanceof GatewayError && (code === undefined || err.code === code);
}

/** RFC 9457 problem document as the gateway sends it. */
export interface ProblemDocument {
  type: string;
  title: string;
  status: number;
  code: ErrorCode;
  detail: string;
  correlationId: string;
  [extension: string]: unknown;
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** The documented `type` URI of a code: docs/errors.md lists every code. */
export function problemType(code: ErrorCode): string {
  return `urn:entra-functions-gateway:error:${code}`;
}

/** Maps anything thrown to a GatewayError; unknown errors become ERR_INTERNAL with the original as cause. */
export function toGatewayError(err: unknown): GatewayError {
  if (err instanceof GatewayError) return err;
  return new GatewayError('ERR_INTERNAL', undefined, { cause: err });
}

/** Builds the problem+json body for an error. Never includes a stack trace, token or cause. */
export function toProblem(err: GatewayError, correlationId: string): ProblemDocument {
  return {
    ...err.extensions,
    type: problemType(err.code),
    title: ERROR_CODES[err.code].title,
    status: err.status,
    code: err.code,
    // ERR_INTERNAL hides its message: it may come from a library and name internals.
    detail: err.code === 'ERR_INTERNAL' ? ERROR_CODES.ERR_INTERNAL.title : err.message,
    correlationId,
  };
}

/**
 * The `WWW-Authenticate` value for a 401 or 403 (RFC 6750 section 3). The description is the
 * stable code, so clients can branch on it without parsing prose.
 */
export function wwwAuthenticate(err: GatewayError): string | undefined {
  if (err.status !== 401 && err.status !== 403) return undefined;
  // Microsoft's claims challenge, parameters in the order its documentation and MSAL's samples
  // show them; quoted values hold no comma or quote, so the split-on-comma parsers of those
  // samples read it too.
  const claims = err.claimsChallenge;
  if (claims !== undefined) {
    return `Bearer realm="${claims.realm}", authorization_uri="${claims.authorizationUri}", error="insufficient_claims", claims="${claims.claims}"`;
  }
  // RFC 6750 section 3.1: a request with no credential (or in a scheme the gateway does not
  // take) gets the challenge alone, no error code or other error information.
  if (NO_CREDENTIAL_CODES.has(err.code)) {
    return err.challenge
      .map(
        (scheme) =>
          `${scheme} realm="gateway"` + (scheme === 'DPoP' ? `, algs="${DPOP_ALGS.join(' ')}"` : ''),
      )
      .join(', ');
  }
  const error =
    err.status === 403
      ? 'insufficient_scope'
      : DPOP_PROOF_CODES.has(err.code)
        ? 'invalid_dpop_proof'
        : 'invalid_token';
  return err.challenge
    .map(
      (scheme) =>
        `${scheme} realm="gateway", error="${error}", error_description="${err.code}"` +
        (scheme === 'DPoP' ? `, algs="${DPOP_ALGS.join(' ')}"` : ''),
    )
    .join(', ');
}
