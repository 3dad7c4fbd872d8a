/**
 * The response side of the local host: a handler's `HttpResponseInit` written to the socket with
 * the host's semantics (`HttpResponse` decides body and headers), a stream body piped with both
 * directions' failures handled.
 */
import type { ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import { HttpResponse, type Cookie, type HttpResponseInit } from '@azure/functions';

/** True for a plain `{ name: value }` headers object (not `Headers`, not a list of pairs). */
function isPlainHeaders(headers: HttpResponseInit['headers']): headers is Record<string, string> {
  return (
    headers === undefined ||
    (typeof headers === 'object' && !Array.isArray(headers) && !(headers instanceof Headers))
  );
}

/**
 * The hot path: a Node stream body (the proxy's upstream answer) or a string body with plain
 * headers goes straight to the socket, skipping the `Response` the host's `HttpResponse` would
 * build (a web stream per response, measurable per request). Same bytes and headers on the wire.
 * Returns false for anything else.
 */
function writeDirect(res: ServerResponse, init: HttpResponseInit): boolean {
  if (init.cookies?.length || !isPlainHeaders(init.headers)) return false;
  const status = init.status ?? 200;
  const headers: Record<string, string | string[]> = {};
  if (init.headers !== undefined) {
    for (const name in init.headers) headers[name.toLowerCase()] = init.headers[name]!;
  }
  // `jsonBody` wins over `body` and defaults the content type, as HttpResponse does.
  let body = init.body;
  if (init.jsonBody !== undefined) {
    body = JSON.stringify(init.jsonBody);
    headers['content-type'] ??= 'application/json';
  }
  if (body instanceof Readable) {
    if (status === 204 || status === 304) return false;
    res.writeHead(status, headers);
    // pipe(), not stream.pipeline(): half the per-response cost measured here. pipe() does not
    // end the response when the body fails, so both directions are handled here: a body that
    // fails mid-way (the upstream died, stalled past its deadline) resets the caller's
    // connection at once, so a truncated answer is never taken for a complete one; a caller that
    // goes away releases the upstream socket.
    body.pipe(res);
    body.once('error', () => res.destroy());
    res.once('close', () => {
      if (!body.readableEnded) body.destroy();
    });
    return true;
  }
  if (typeof body !== 'string' || status === 204 || status === 304) return false;
  headers['content-type'] ??= 'text/plain;charset=UTF-8';
  headers['content-length'] = String(Buffer.byteLength(body));
  res.writeHead(status, headers);
  res.end(body);
  return true;
}

/** Writes a handler's response with the host's semantics (`HttpResponse` decides body and headers). */
export async function writeResponse(res: ServerResponse, init: HttpResponseInit): Promise<void> {
  if (writeDirect(res, init)) return;
  const response = new HttpResponse(init);
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of response.headers) {
    if (name === 'set-cookie') headers[name] = [...((headers[name] as string[] | undefined) ?? []), value];
    else headers[name] = value;
  }
  if (init.cookies?.length) {
    headers['set-cookie'] = [
      ...((headers['set-cookie'] as string[] | undefined) ?? []),
      ...init.cookies.map(serializeCookie),
    ];
  }
  // Fast path for the common case, a string or byte body: one write with a Content-Length.
  const body = init.jsonBody === undefined ? init.body : undefined;
  if (response.body !== null && (typeof body === 'string' || body instanceof Uint8Array)) {
    const bytes = typeof body === 'string' ? Buffer.from(body) : body;
    headers['content-length'] = String(bytes.byteLength);
    res.writeHead(response.status, headers);
    res.end(bytes);
    return;
  }
  res.writeHead(response.status, headers);
  if (response.body === null) {
    res.end();
    return;
  }
  await pipeline(Readable.fromWeb(response.body as NodeReadableStream<Uint8Array>), res);
}

function serializeCookie(cookie: Cookie): string {
  const parts = [`${cookie.name}=${cookie.value}`];
  if (cookie.domain) parts.push(`Domain=${cookie.domain}`);
  if (cookie.path) parts.push(`Path=${cookie.path}`);
  if (cookie.expires !== undefined) parts.push(`Expires=${new Date(cookie.expires).toUTCString()}`);
  if (cookie.maxAge !== undefined) parts.push(`Max-Age=${cookie.maxAge}`);
  if (cookie.secure) parts.push('Secure');
  if (cookie.httpOnly) parts.push('HttpOnly');
  if (cookie.sameSite) parts.push(`SameSite=${cookie.sameSite}`);
  return parts.join('; ');
}
