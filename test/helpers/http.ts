import { request as httpRequest } from 'node:http';

/** What integration tests look at in a response. */
export interface Answer {
  status: number;
  headers: Headers;
  json: Record<string, unknown>;
}

/** fetch, with the body parsed as JSON when there is one. */
export async function call(url: string, init: RequestInit = {}): Promise<Answer> {
  const res = await fetch(url, init);
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    json = { text }; // not JSON: keep the text for the assertion message
  }
  return { status: res.status, headers: res.headers, json };
}

/** Request init for a JSON call with a bearer token. */
export function jsonCall(
  method: string,
  token: string | undefined,
  body?: unknown,
  headers: Record<string, string> = {},
): RequestInit {
  return {
    method,
    headers: {
      ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...headers,
    },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  };
}

/** `POST /api/authorize` with a Bearer token (none: no Authorization header) and a JSON body. */
export function authorize(api: string, token: string | undefined, body: unknown): Promise<Answer> {
  return call(`${api}/authorize`, jsonCall('POST', token, body));
}

/**
 * POSTs `chunks` chunks of `chunkBytes` each with chunked transfer encoding (no Content-Length),
 * so the server must count the body as it streams in; resolves with the status.
 */
export function postChunked(
  url: string,
  headers: Record<string, string>,
  chunks = 6,
  chunkBytes = 16 * 1024,
): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const req = httpRequest(url, { method: 'POST', headers }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    const chunk = Buffer.alloc(chunkBytes, 'a');
    for (let i = 0; i < chunks; i++) req.write(chunk);
    req.end();
  });
}
