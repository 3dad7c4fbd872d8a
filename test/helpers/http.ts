import { request as httpRequest, type IncomingMessage } from 'node:http';

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

/** What {@link putDocuments} stores through the admin API. */
export interface AdminDocuments {
  readonly resources?: readonly ({ name: string } & Record<string, unknown>)[];
  readonly policies?: readonly ({ id: string } & Record<string, unknown>)[];
}

/**
 * PUTs resources and policies through the admin API, as a test's setup does, and fails unless
 * each one was stored (201 created or 200 replaced).
 */
export async function putDocuments(
  api: string,
  adminToken: string,
  documents: AdminDocuments,
): Promise<void> {
  const writes = [
    ...(documents.resources ?? []).map((doc) => [`resources/${doc.name}`, doc] as const),
    ...(documents.policies ?? []).map((doc) => [`policies/${doc.id}`, doc] as const),
  ];
  const answers = await Promise.all(
    writes.map(([route, doc]) => call(`${api}/${route}`, jsonCall('PUT', adminToken, doc))),
  );
  writes.forEach(([route], i) => {
    const { status, json } = answers[i]!;
    if (status !== 200 && status !== 201) throw new Error(`PUT ${route}: ${status} ${JSON.stringify(json)}`);
  });
}

/** A raw request (node:http sends the path exactly as given: no dot-segment resolution). */
export function rawRequest(
  url: string,
  path: string,
  options: { method?: string; headers?: Record<string, string>; body?: Buffer | Buffer[] } = {},
): Promise<{ status: number; headers: IncomingMessage['headers']; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = httpRequest(
      {
        host: u.hostname,
        port: u.port,
        path,
        method: options.method ?? 'GET',
        headers: options.headers ?? {},
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', (err: NodeJS.ErrnoException) => {
      // The gateway may answer 413 and close before the whole body is written.
      if (err.code !== 'EPIPE' && err.code !== 'ECONNRESET') reject(err);
    });
    const body = options.body;
    if (Array.isArray(body)) {
      const write = (i: number): void => {
        if (i === body.length) return void req.end();
        if (req.write(body[i])) write(i + 1);
        else req.once('drain', () => write(i + 1));
      };
      write(0);
    } else req.end(body);
  });
}
