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
