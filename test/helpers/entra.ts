/**
 * Shared helpers for Entra validation tests: raw JWT encoding for hostile tokens, and an
 * assertion on a GatewayError's code and status.
 */
import { createHmac } from 'node:crypto';
import { ERROR_CODES, GatewayError, type ErrorCode } from '../../src/errors';

const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

/** A compact JWS from raw parts; the signature is whatever the caller says (default empty). */
export function encodeJwt(header: unknown, payload: unknown, signature = ''): string {
  return `${b64(header)}.${b64(payload)}.${signature}`;
}

/** An HS256 JWS keyed with `secret`: the algorithm-confusion attack when `secret` is our public key PEM. */
export function signHs256(header: Record<string, unknown>, payload: unknown, secret: string): string {
  const input = `${b64({ ...header, alg: 'HS256' })}.${b64(payload)}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

/** The decoded (unverified) payload of a compact JWS. */
export function payloadOf(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as Record<
    string,
    unknown
  >;
}

/** The decoded header of a compact JWS. */
export function headerOf(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString('utf8')) as Record<
    string,
    unknown
  >;
}

/** Awaits a rejection and asserts it is a GatewayError with `code` and that code's status. */
export async function expectGatewayError(promise: Promise<unknown>, code: ErrorCode): Promise<GatewayError> {
  let caught: unknown;
  try {
    await promise;
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(GatewayError);
  const error = caught as GatewayError;
  expect({ code: error.code, status: error.status }).toEqual({ code, status: ERROR_CODES[code].status });
  return error;
}
