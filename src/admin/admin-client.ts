/**
 * A small client of the gateway's admin and decision APIs, used by the CLI and by the local
 * stack to seed its demo policies. Errors carry the problem document's `code`.
 */
import type { DocumentKindName } from './document-kinds';

export class AdminApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'AdminApiError';
  }
}

/** The gateway could not be reached at all (no answer, refused, unknown host): not an API error. */
export class GatewayUnreachableError extends Error {
  constructor(
    readonly url: string,
    cause: unknown,
  ) {
    // fetch says only "fetch failed"; the reason is its cause's code (ECONNREFUSED, ENOTFOUND, ...).
    const inner = (cause as { cause?: { code?: unknown; message?: unknown } } | null)?.cause;
    const why =
      typeof inner?.code === 'string' ? inner.code : typeof inner?.message === 'string' ? inner.message : '';
    super(
      `cannot reach the gateway at ${url}${why ? ` (${why})` : ''}: is it running, and is --url (or GATEWAY_URL) right?`,
      {
        cause,
      },
    );
    this.name = 'GatewayUnreachableError';
  }
}

export interface AdminClientOptions {
  /** Gateway base URL, e.g. `http://127.0.0.1:7071` (the client adds `/api`; a trailing `/api` is taken as given). */
  readonly baseUrl: string;
  /** An Entra access token with the gateway admin app role. */
  readonly token: string;
  readonly fetch?: typeof fetch;
}

export class AdminClient {
  private readonly fetch: typeof fetch;
  private readonly base: string;

  constructor(private readonly options: AdminClientOptions) {
    this.fetch = options.fetch ?? fetch;
    this.base = `${options.baseUrl.replace(/\/+$/, '').replace(/\/api$/, '')}/api`;
  }

  private async call(method: string, path: string, body?: unknown): Promise<Response> {
    let response: Response;
    try {
      response = await this.fetch(`${this.base}/${path}`, {
        method,
        headers: {
          authorization: `Bearer ${this.options.token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    } catch (err) {
      throw new GatewayUnreachableError(this.base, err);
    }
    if (!response.ok) {
      const problem = (await response.json().catch(() => ({}))) as { code?: string; detail?: string };
      throw new AdminApiError(
        response.status,
        problem.code ?? `HTTP_${response.status}`,
        `${method} /api/${path}: ${response.status} ${problem.code ?? ''} ${problem.detail ?? ''}`.trim(),
      );
    }
    return response;
  }

  async list(kind: DocumentKindName): Promise<Record<string, unknown>[]> {
    const response = await this.call('GET', kind);
    return ((await response.json()) as { items: Record<string, unknown>[] }).items;
  }

  async put(kind: DocumentKindName, id: string, doc: unknown): Promise<void> {
    await this.call('PUT', `${kind}/${encodeURIComponent(id)}`, doc);
  }

  async remove(kind: DocumentKindName, id: string): Promise<void> {
    await this.call('DELETE', `${kind}/${encodeURIComponent(id)}`);
  }

  async authorize(query: {
    resource: string;
    action: string;
    path: string;
    principal?: Record<string, unknown>;
  }): Promise<unknown> {
    const response = await this.call('POST', 'authorize', query);
    return response.json();
  }

  async revoke(body: { sid: string } | { oid: string; before?: number }): Promise<unknown> {
    return (await this.call('POST', 'revocations', body)).json();
  }

  async audit(query: Readonly<Record<string, string>>): Promise<{ items: unknown[]; next?: string }> {
    const search = new URLSearchParams(query).toString();
    return (await (await this.call('GET', `audit${search ? `?${search}` : ''}`)).json()) as {
      items: unknown[];
      next?: string;
    };
  }
}
