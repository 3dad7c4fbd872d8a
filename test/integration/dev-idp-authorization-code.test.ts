/**
 * The dev identity provider's authorization code flow with PKCE and claims requests
 * (src/host/local/dev-authorization-code.ts), over HTTPS, with hostile and malformed requests:
 * what a public client's MSAL meets, and nothing that would make the provider an open redirector
 * or let a code be used twice or without its verifier.
 */
import { createHash, randomBytes } from 'node:crypto';
import jwt from 'jsonwebtoken';
import {
  DEV_CLIENT_APP_ID,
  startDevIdentityProvider,
  type DevIdentityProvider,
} from '../../src/host/local/dev-identity-provider';

describe('dev identity provider: authorization code with PKCE', () => {
  let idp: DevIdentityProvider;
  const redirectUri = 'http://localhost:53172/callback';
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');

  beforeAll(async () => {
    idp = await startDevIdentityProvider();
  });
  afterAll(() => idp?.close());

  const authorizeUrl = (params: Record<string, string>) => {
    const url = new URL(`${idp.authority}/${idp.tenantId}/oauth2/v2.0/authorize`);
    const all = {
      client_id: DEV_CLIENT_APP_ID,
      response_type: 'code',
      redirect_uri: redirectUri,
      scope: `api://${idp.clientId}/access_as_user openid profile`,
      code_challenge: challenge,
      code_challenge_method: 'S256',
      state: 's1',
      ...params,
    };
    for (const [k, v] of Object.entries(all)) if (v !== '') url.searchParams.set(k, v);
    return url.toString();
  };

  async function code(params: Record<string, string> = {}): Promise<URL> {
    const res = await idp.fetch(authorizeUrl(params), { redirect: 'manual' });
    expect(res.status).toBe(302);
    return new URL(res.headers.get('location')!);
  }

  const redeem = (form: Record<string, string>) =>
    idp.fetch(`${idp.authority}/${idp.tenantId}/oauth2/v2.0/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        client_id: DEV_CLIENT_APP_ID,
        redirect_uri: redirectUri,
        code_verifier: verifier,
        ...form,
      }).toString(),
    });

  it('signs the dev user in, then redeems the code once, with its verifier, for a token with the asked acrs', async () => {
    const claims = JSON.stringify({
      access_token: { acrs: { essential: true, value: 'c1' }, xms_cc: { values: ['cp1'] } },
    });
    const back = await code({ claims });
    expect(back.origin + back.pathname).toBe(redirectUri);
    expect(back.searchParams.get('state')).toBe('s1');
    const c = back.searchParams.get('code')!;
    const first = await redeem({ code: c });
    expect(first.status).toBe(200);
    const body = (await first.json()) as { access_token: string; id_token: string };
    expect(jwt.decode(body.access_token)).toMatchObject({
      aud: idp.clientId,
      azp: DEV_CLIENT_APP_ID,
      scp: 'access_as_user',
      roles: ['Orders.Reader'],
      acrs: ['c1'],
      xms_cc: ['cp1'],
    });
    expect(jwt.decode(body.id_token)).toMatchObject({ aud: DEV_CLIENT_APP_ID, tid: idp.tenantId });
    // Never twice.
    const again = await redeem({ code: c });
    expect([again.status, ((await again.json()) as { error: string }).error]).toEqual([400, 'invalid_grant']);
  });

  it.each([
    ['a wrong verifier', { code_verifier: randomBytes(32).toString('base64url') }],
    ['another redirect URI', { redirect_uri: 'http://localhost:1/other' }],
    ['an unknown code', { code: 'nope' }],
  ])('refuses to redeem with %s: invalid_grant', async (_case, form) => {
    const c = (await code()).searchParams.get('code')!;
    const res = await redeem({ code: c, ...form });
    expect([res.status, ((await res.json()) as { error: string }).error]).toEqual([400, 'invalid_grant']);
  });

  it.each([
    ['no PKCE', { code_challenge: '', code_challenge_method: '' }, 'invalid_request'],
    ['plain PKCE', { code_challenge_method: 'plain' }, 'invalid_request'],
    ['another API', { scope: 'https://graph.microsoft.com/User.Read' }, 'invalid_scope'],
    ['an implicit grant', { response_type: 'token' }, 'unsupported_response_type'],
    ['claims that are not JSON', { claims: '{nope' }, 'invalid_request'],
    [
      'an acrs that is not c1 to c99',
      { claims: '{"access_token":{"acrs":{"value":"mfa"}}}' },
      'invalid_request',
    ],
  ])('sends %s back to the client as an error', async (_case, params, error) => {
    const back = await code(params);
    expect([back.searchParams.get('error'), back.searchParams.get('code')]).toEqual([error, null]);
  });

  it.each([
    [
      'a redirect off loopback (an open redirector)',
      { redirect_uri: 'https://evil.example/cb' },
      'invalid_request',
    ],
    ['an unknown client', { client_id: '00000000-0000-4000-8000-000000000000' }, 'unauthorized_client'],
  ])('refuses %s with a 400 of its own, redirecting nowhere', async (_case, params, error) => {
    const res = await idp.fetch(authorizeUrl(params), { redirect: 'manual' });
    expect([
      res.status,
      res.headers.get('location'),
      ((await res.json()) as { error: string }).error,
    ]).toEqual([400, null, error]);
  });
});
