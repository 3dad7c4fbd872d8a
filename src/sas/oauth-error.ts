/**
 * Errors of `POST /api/token` in the OAuth 2.0 shape (RFC 6749 section 5.2, RFC 8693 section
 * 2.2.2): `{error, error_description, code, correlationId}`, never a token, `no-store`.
 */
import type { HttpResponseInit } from '@azure/functions';
import { ERROR_CODES, type ErrorCode, type GatewayError, wwwAuthenticate } from '../errors';

/** The OAuth `error` of a gateway code. */
export function oauthErrorOf(code: ErrorCode): string {
  switch (code) {
    case 'ERR_GRANT_TYPE_UNSUPPORTED':
      return 'unsupported_grant_type';
    case 'ERR_TARGET_INVALID':
      return 'invalid_target';
    case 'ERR_SCOPE_INVALID':
      return 'invalid_scope';
    case 'ERR_TOKEN_DPOP_PROOF_INVALID':
      return 'invalid_dpop_proof';
    case 'ERR_AUTH_CONTEXT_REQUIRED':
      // OpenID Connect's error for "the user must sign in again", which MSAL surfaces as
      // InteractionRequiredAuthError; `claims` says what to ask for.
      return 'interaction_required';
    case 'ERR_INTERNAL':
      return 'server_error';
  }
  const status = ERROR_CODES[code].status;
  if (status === 401) return 'invalid_token';
  if (status === 403) return 'insufficient_scope';
  if (status >= 500) return 'temporarily_unavailable';
  return 'invalid_request';
}

/** Headers every `/api/token` response carries (RFC 6749 section 5.1). */
export const TOKEN_RESPONSE_HEADERS = {
  'content-type': 'application/json; charset=utf-8',
  'cache-control': 'no-store',
  pragma: 'no-cache',
} as const;

/** Renders a GatewayError as the token endpoint's error response. */
export function oauthErrorResponse(err: GatewayError, correlationId: string): HttpResponseInit {
  const headers: Record<string, string> = {
    ...TOKEN_RESPONSE_HEADERS,
    'x-correlation-id': correlationId,
    ...err.headers,
  };
  const challenge = wwwAuthenticate(err);
  if (challenge !== undefined && err.status === 401) headers['www-authenticate'] = challenge;
  const body: Record<string, unknown> = {
    error: oauthErrorOf(err.code),
    error_description: err.code === 'ERR_INTERNAL' ? ERROR_CODES.ERR_INTERNAL.title : err.message,
    code: err.code,
    correlationId,
  };
  const subjectError = err.extensions.subject_token_error;
  if (typeof subjectError === 'string') body.subject_token_error = subjectError;
  const claims = err.extensions.claims;
  if (typeof claims === 'string') body.claims = claims;
  return { status: err.status, headers, body: JSON.stringify(body) };
}
