import type { HttpResponseInit } from '@azure/functions';
import type { GatewayError } from '../errors';
import { PROBLEM_CONTENT_TYPE, toProblem, wwwAuthenticate } from '../errors';

/** A JSON response with the gateway's standard headers. */
export function jsonResponse(
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): HttpResponseInit {
  return {
    status,
    body: JSON.stringify(body),
    headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers },
  };
}

/** The one place a GatewayError becomes an HTTP response (RFC 9457 problem+json). */
export function problemResponse(err: GatewayError, correlationId: string): HttpResponseInit {
  const headers: Record<string, string> = {
    'content-type': PROBLEM_CONTENT_TYPE,
    'cache-control': 'no-store',
    'x-correlation-id': correlationId,
    ...err.headers,
  };
  const challenge = wwwAuthenticate(err);
  if (challenge !== undefined) headers['www-authenticate'] = challenge;
  return { status: err.status, body: JSON.stringify(toProblem(err, correlationId)), headers };
}
