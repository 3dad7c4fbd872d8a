import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { INetworkModule } from '@azure/msal-node';
import { msalNetworkClient } from '../../src/host/local/local-trust';

/** One token request the fake endpoint received (form fields). */
export type TokenRequest = Record<string, string>;

/**
 * A fake Entra token endpoint on loopback: OpenID metadata and `/oauth2/v2.0/token` answering
 * on-behalf-of requests with `obo-<n>` tokens (or an error, when `fail` is set).
 */
export interface FakeTokenEndpoint {
  /** `https://127.0.0.1:<port>`: what msal is told (it insists on https); see {@link loopbackNetworkClient}. */
  readonly authorityHost: string;
  readonly requests: TokenRequest[];
  fail: boolean;
  close(): Promise<void>;
}

async function readForm(req: IncomingMessage): Promise<TokenRequest> {
  let text = '';
  for await (const chunk of req) text += String(chunk);
  return Object.fromEntries(new URLSearchParams(text));
}

export async function startFakeTokenEndpoint(): Promise<FakeTokenEndpoint> {
  const requests: TokenRequest[] = [];
  let base = '';
  const state = { fail: false };
  const server: Server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://x');
      const tenant = url.pathname.split('/')[1] ?? '';
      if (url.pathname.endsWith('/.well-known/openid-configuration')) {
        res.setHeader('content-type', 'application/json');
        res.end(
          JSON.stringify({
            issuer: `${base}/${tenant}/v2.0`,
            authorization_endpoint: `${base}/${tenant}/oauth2/v2.0/authorize`,
            token_endpoint: `${base}/${tenant}/oauth2/v2.0/token`,
            end_session_endpoint: `${base}/${tenant}/oauth2/v2.0/logout`,
            jwks_uri: `${base}/${tenant}/discovery/v2.0/keys`,
          }),
        );
        return;
      }
      if (url.pathname.endsWith('/oauth2/v2.0/token') && req.method === 'POST') {
        const form = await readForm(req);
        requests.push(form);
        res.setHeader('content-type', 'application/json');
        if (state.fail) {
          res.statusCode = 400;
          res.end(
            JSON.stringify({
              error: 'invalid_grant',
              error_description: 'AADSTS50013: user secret@contoso.com',
            }),
          );
          return;
        }
        res.end(
          JSON.stringify({
            token_type: 'Bearer',
            scope: form.scope,
            expires_in: 3600,
            ext_expires_in: 3600,
            access_token: `obo-${requests.length}`,
          }),
        );
        return;
      }
      res.statusCode = 404;
      res.end();
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  base = `https://127.0.0.1:${port}`;
  return {
    authorityHost: base,
    requests,
    get fail() {
      return state.fail;
    },
    set fail(value: boolean) {
      state.fail = value;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * msal's network client for tests: the same requests msal would send, over plain http to the
 * loopback fake (msal refuses an http authority, and a self-signed https server would need a
 * global TLS switch). Only `https://127.0.0.1` URLs are allowed.
 */
export function loopbackNetworkClient(): INetworkModule {
  return msalNetworkClient(((url: string, init?: RequestInit) => {
    if (!url.startsWith('https://127.0.0.1:')) throw new Error(`test network client: refusing ${url}`);
    return fetch(url.replace('https://', 'http://'), init);
  }) as typeof fetch);
}
