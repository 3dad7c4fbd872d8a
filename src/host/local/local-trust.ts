/**
 * Trusting the local certificate authority, for clients of the local stack's HTTPS servers (the
 * dev identity provider, the embedded Cosmos DB): `fetch` for the gateway's metadata and JWKS
 * requests, and a network client for msal-node (its documented `system.networkClient` option).
 * Nothing here turns TLS verification off; under `func start` `NODE_EXTRA_CA_CERTS` does the same.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { INetworkModule, NetworkRequestOptions, NetworkResponse } from '@azure/msal-node';
import { Agent, fetch as undiciFetch } from 'undici';
import { LOCAL_CA_DIR } from './local-certificate';

/** `fetch` over an undici agent that trusts `ca` besides the usual roots. */
export function fetchTrusting(ca: string): typeof fetch {
  const dispatcher = new Agent({ connect: { ca } });
  return (input: Parameters<typeof fetch>[0], init?: RequestInit) =>
    undiciFetch(input as never, { ...(init as object), dispatcher });
}

/** msal-node's HTTP client over `fetchImpl` (GET and POST, JSON bodies), as its default one is. */
export function msalNetworkClient(fetchImpl: typeof fetch): INetworkModule {
  const send = async <T>(
    url: string,
    method: 'GET' | 'POST',
    options?: NetworkRequestOptions,
  ): Promise<NetworkResponse<T>> => {
    const res = await fetchImpl(url, {
      method,
      headers: options?.headers ?? {},
      ...(options?.body === undefined ? {} : { body: options.body }),
    });
    return { status: res.status, headers: Object.fromEntries(res.headers), body: (await res.json()) as T };
  };
  return {
    sendGetRequestAsync: (url, options) => send(url, 'GET', options),
    sendPostRequestAsync: (url, options) => send(url, 'POST', options),
  };
}

/** True for `127.0.0.1`, `localhost` and `[::1]` URLs. */
export function isLoopbackUrl(value: string): boolean {
  try {
    return ['127.0.0.1', 'localhost', '[::1]'].includes(new URL(value).hostname);
  } catch {
    return false;
  }
}

/**
 * The local certificate authority's PEM, when `url` is an https loopback URL (another local
 * stack's server) and the CA is under `.local/`; otherwise undefined (use the usual roots).
 */
export function localCaFor(url: string): string | undefined {
  if (!url.startsWith('https:') || !isLoopbackUrl(url)) return undefined;
  const file = join(LOCAL_CA_DIR, 'ca.pem');
  return existsSync(file) ? readFileSync(file, 'utf8') : undefined;
}
