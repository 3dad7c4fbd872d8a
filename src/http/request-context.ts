import { randomUUID } from 'node:crypto';
import type { HttpRequest } from '@azure/functions';
import { GatewayError } from '../errors';

/** Correlation ids a caller may send: short, printable, no separators that could split a log line. */
const CORRELATION_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The caller's `x-correlation-id` when it is well-formed, else a new UUID. */
export function correlationIdOf(request: HttpRequest): string {
  const sent = request.headers.get('x-correlation-id');
  return sent !== null && CORRELATION_ID.test(sent) ? sent : randomUUID();
}

/**
 * Reads a request body as text, refusing more than `maxBytes` (413) without buffering the rest.
 * The Content-Length, when present, is checked before a byte is read.
 */
export async function readBodyText(request: HttpRequest, maxBytes: number): Promise<string> {
  const declared = request.headers.get('content-length');
  if (declared !== null && Number(declared) > maxBytes) {
    throw new GatewayError('ERR_PAYLOAD_TOO_LARGE', `The body is larger than ${maxBytes} bytes`);
  }
  // A declared length bounds the body (the HTTP layer reads exactly that many bytes), so it can be
  // read whole; only a chunked body needs counting as it streams in.
  if (declared !== null && /^\d+$/.test(declared)) {
    return Buffer.from(await request.arrayBuffer()).toString('utf8');
  }
  const body = request.body;
  if (body === null) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = (await reader.read()) as { done: boolean; value?: Uint8Array };
      if (done) break;
      if (value === undefined) continue;
      size += value.byteLength;
      if (size > maxBytes) {
        throw new GatewayError('ERR_PAYLOAD_TOO_LARGE', `The body is larger than ${maxBytes} bytes`);
      }
      chunks.push(value);
    }
  } finally {
    reader.releaseLock();
    if (size > maxBytes) await body.cancel().catch(() => undefined);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  return text;
}

/** Largest JSON body an API route (not the proxy) accepts. Policies are small documents. */
export const MAX_JSON_BODY_BYTES = 64 * 1024;

/**
 * The gateway's base URL as the caller reached it: `${scheme}://${host}/api`, from the request
 * URL alone (the default `GATEWAY_ISSUER`). Read as text: no URL parsing on the proxy's path.
 */
export function apiBaseUrl(url: string): string {
  const scheme = url.indexOf('://');
  if (scheme === -1) return '/api';
  const hostEnd = url.indexOf('/', scheme + 3);
  return `${hostEnd === -1 ? url : url.slice(0, hostEnd)}/api`;
}

/**
 * Reads and parses a JSON request body. Refuses a non-JSON content type (415), an oversized body
 * (413) and malformed JSON (400), each with its own code.
 */
export async function readJsonBody(request: HttpRequest, maxBytes = MAX_JSON_BODY_BYTES): Promise<unknown> {
  const contentType = request.headers.get('content-type') ?? '';
  if (!/^application\/(?:[\w.+-]+\+)?json\b/i.test(contentType)) {
    throw new GatewayError('ERR_UNSUPPORTED_MEDIA_TYPE', 'Send the body as application/json');
  }
  const text = await readBodyText(request, maxBytes);
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new GatewayError('ERR_BAD_REQUEST', 'The body is not valid JSON');
  }
}

/**
 * The URLs a request may be named by (a DPoP proof's `htu`): the URL it reached the gateway at
 * and, under `GATEWAY_ISSUER`, the same path below the public issuer URL (a front door or custom
 * domain in front of the Function App), which is what the gateway's metadata publishes.
 */
/**
 * The base URLs of the gateway's routes for this request: the one it was reached at, and
 * `GATEWAY_ISSUER` when set (the public address, behind a front door or a custom domain).
 */
export function gatewayApiBases(
  config: { readonly statement: { readonly issuer?: string | undefined } },
  url: string,
): string[] {
  const issuer = config.statement.issuer;
  const reached = apiBaseUrl(url);
  return issuer === undefined ? [reached] : [reached, issuer.replace(/\/+$/, '')];
}

export function gatewayUrls(
  config: { readonly statement: { readonly issuer?: string | undefined } },
  url: string,
): string[] {
  const issuer = config.statement.issuer;
  if (issuer === undefined) return [url];
  const base = apiBaseUrl(url);
  return url.startsWith(base) ? [url, `${issuer.replace(/\/+$/, '')}${url.slice(base.length)}`] : [url];
}
