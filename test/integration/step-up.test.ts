/**
 * Step-up with a Conditional Access authentication context (contract §4 "Step-up",
 * docs/step-up.md), over HTTP against a local stack: the proxy's 401 claims challenge (or 403),
 * the decision API's deny with `claims`, the exchange's `interaction_required`; and a real MSAL
 * public client running the whole loop: sign in (authorization code with PKCE), call, read the
 * challenge as Microsoft's documentation reads it, sign in again with the challenge's claims,
 * call again.
 *
 * The oracle for the format is Microsoft's own example: the `claims` value its claims-challenge
 * guide shows for context `c1` (below, copied from the page), which must equal ours byte for byte.
 */
import { CryptoProvider, PublicClientApplication } from '@azure/msal-node';
import jwt from 'jsonwebtoken';
import { DEV_CLIENT_APP_ID } from '../../src/host/local/dev-identity-provider';
import { startLocalStack, type LocalStack } from '../../src/host/local/local-stack';
import { msalNetworkClient } from '../../src/host/local/local-trust';
import { MemoryLogger } from '../../src/logger';
import { ACCESS_TOKEN, TOKEN_EXCHANGE, tokenForm } from '../helpers/gateway-stack';
import { authorize, call, jsonCall, putDocuments } from '../helpers/http';

/** Microsoft's example `claims` for authentication context c1 ("Claims challenges, claims requests and client capabilities"). */
const MICROSOFT_C1_CLAIMS = 'eyJhY2Nlc3NfdG9rZW4iOnsiYWNycyI6eyJlc3NlbnRpYWwiOnRydWUsInZhbHVlIjoiYzEifX19';

/**
 * A `WWW-Authenticate` challenge read the way Microsoft's claims-challenge guide and MSAL's
 * `AuthenticationHeaderParser` read one: drop the scheme, split on commas, then each part at its
 * first `=`, quotes removed.
 */
function parseChallenge(header: string): Record<string, string> {
  const params: Record<string, string> = {};
  for (const part of header.slice(header.indexOf(' ') + 1).split(',')) {
    const at = part.indexOf('=');
    params[part.slice(0, at).trim()] = decodeURI(part.slice(at + 1).replace(/['"]+/g, ''));
  }
  return params;
}

describe('step-up: Conditional Access authentication context', () => {
  let stack: LocalStack;
  let api: string;
  let challengeUri: string;

  beforeAll(async () => {
    stack = await startLocalStack({ env: {}, port: 0, logger: new MemoryLogger(), seedDemo: false });
    api = `${stack.gatewayUrl}/api`;
    const idp = stack.idp!;
    challengeUri = `${idp.authority}/${idp.tenantId}/oauth2/v2.0/authorize`;
    const admin = idp.mintToken({ roles: ['Gateway.Admin'] });
    const upstream = `${stack.orders.url}/api/orders`;
    await putDocuments(api, admin, {
      resources: [
        { name: 'orders', upstream, auth: { type: 'functionKey', keySetting: 'ORDERS_KEY' } },
        {
          name: 'payments',
          upstream,
          auth: { type: 'functionKey', keySetting: 'ORDERS_KEY' },
          // The sample downstream takes statements meant for "orders": payments is it too, behind c1.
          audience: 'orders',
          authContext: 'c1',
        },
      ],
      policies: [
        {
          id: 'readers',
          effect: 'allow',
          resource: 'orders',
          actions: ['read'],
          paths: ['/customers/**'],
          principals: { roles: ['Orders.Reader'] },
        },
        {
          id: 'exports-mfa',
          effect: 'allow',
          resource: 'orders',
          actions: ['read'],
          paths: ['/exports/**'],
          principals: { roles: ['Orders.Reader'] },
          authContext: 'c2',
        },
        {
          id: 'no-archive',
          effect: 'deny',
          resource: 'orders',
          actions: ['*'],
          paths: ['/exports/archive/**'],
        },
        {
          id: 'payments-readers',
          effect: 'allow',
          resource: 'payments',
          actions: ['read'],
          principals: { roles: ['Orders.Reader'] },
        },
      ],
    });
  });

  afterAll(() => stack?.close());

  const reader = (claims: Record<string, unknown> = {}) =>
    stack.idp!.mintToken({ roles: ['Orders.Reader'], claims });
  const proxy = (token: string, path: string) =>
    call(`${api}/proxy/${path}`, { headers: { authorization: `Bearer ${token}` } });
  const expectedChallenge = (claims: string) =>
    `Bearer realm="${stack.idp!.tenantId}", authorization_uri="${challengeUri}", error="insufficient_claims", claims="${claims}"`;

  it("asks for the resource's context with Microsoft's claims challenge when the client can answer one (xms_cc cp1)", async () => {
    const res = await proxy(reader({ xms_cc: ['cp1'] }), 'payments/invoices/7');
    expect(res.status).toBe(401);
    expect(res.json).toMatchObject({
      code: 'ERR_AUTH_CONTEXT_REQUIRED',
      claims: MICROSOFT_C1_CLAIMS,
      authContext: 'c1',
    });
    expect(res.headers.get('www-authenticate')).toBe(expectedChallenge(MICROSOFT_C1_CLAIMS));
    expect(JSON.parse(Buffer.from(MICROSOFT_C1_CLAIMS, 'base64').toString())).toEqual({
      access_token: { acrs: { essential: true, value: 'c1' } },
    });
  });

  it('answers 403 with the same code and claims to a client that did not declare cp1', async () => {
    for (const claims of [{}, { xms_cc: ['cp2'] }, { xms_cc: 'cp1' }]) {
      const res = await proxy(reader(claims), 'payments/invoices/7');
      expect([res.status, res.json.code, res.json.claims]).toEqual([
        403,
        'ERR_AUTH_CONTEXT_REQUIRED',
        MICROSOFT_C1_CLAIMS,
      ]);
    }
  });

  it("asks for an allow policy's context, and lets the token that has it through", async () => {
    const c2 = Buffer.from('{"access_token":{"acrs":{"essential":true,"value":"c2"}}}').toString('base64');
    const asked = await proxy(reader({ xms_cc: ['cp1'], acrs: ['c1'] }), 'orders/exports/2026');
    expect([asked.status, asked.json.claims]).toEqual([401, c2]);
    expect(asked.headers.get('www-authenticate')).toBe(expectedChallenge(c2));
    expect((await proxy(reader({ acrs: ['c2'] }), 'orders/exports/2026')).status).toBe(200);
    expect((await proxy(reader({ acrs: ['c1'] }), 'payments/invoices/7')).status).toBe(200);
  });

  it('never asks to step up for what would be denied anyway: a deny that wins, no allow, no role', async () => {
    const cases: [string, string, Record<string, unknown>][] = [
      ['orders/exports/archive/1', 'EXPLICIT_DENY', { roles: ['Orders.Reader'] }],
      ['orders/other/1', 'NO_MATCHING_POLICY', { roles: ['Orders.Reader'] }],
      ['payments/invoices/7', 'NO_MATCHING_POLICY', { roles: ['Other.Role'] }],
    ];
    for (const [path, reasonCode, { roles }] of cases) {
      const token = stack.idp!.mintToken({ roles: roles as string[], claims: { xms_cc: ['cp1'] } });
      const res = await proxy(token, path);
      expect([path, res.status, res.json.code]).toEqual([path, 403, 'ERR_POLICY_DENIED']);
      const [resource, ...rest] = path.split('/');
      const decision = await authorize(api, token, { resource, action: 'read', path: `/${rest.join('/')}` });
      expect([path, decision.json.reasonCode]).toEqual([path, reasonCode]);
    }
  });

  it('treats an acrs claim of the wrong type as no context: a step-up, never a 5xx', async () => {
    for (const acrs of ['c1', [1], { c1: true }, null, 'c1 c2']) {
      const res = await proxy(reader({ acrs, xms_cc: ['cp1'] }), 'payments/invoices/7');
      expect([JSON.stringify(acrs), res.status, res.json.code]).toEqual([
        JSON.stringify(acrs),
        401,
        'ERR_AUTH_CONTEXT_REQUIRED',
      ]);
    }
  });

  it('the decision API answers the same request with a deny, AUTH_CONTEXT_REQUIRED and the claims', async () => {
    const res = await authorize(api, reader(), { resource: 'payments', action: 'read', path: '/invoices/7' });
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({
      allowed: false,
      decision: 'deny',
      reasonCode: 'AUTH_CONTEXT_REQUIRED',
      policies: ['payments-readers'],
      authContext: 'c1',
      claims: MICROSOFT_C1_CLAIMS,
    });
    const stepped = await authorize(api, reader({ acrs: ['c1'] }), {
      resource: 'payments',
      action: 'read',
      path: '/invoices/7',
    });
    expect(stepped.json).toMatchObject({ allowed: true, policies: ['payments-readers'] });
  });

  it('the exchange issues no token for a scope that needs a context the subject token lacks', async () => {
    const exchange = (subject: string) =>
      call(`${api}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: tokenForm({
          grant_type: TOKEN_EXCHANGE,
          subject_token: subject,
          subject_token_type: ACCESS_TOKEN,
          resource: 'payments',
          scope: 'read',
        }),
      });
    const refused = await exchange(reader({ xms_cc: ['cp1'] }));
    expect(refused.status).toBe(400);
    expect(refused.json).toMatchObject({
      error: 'interaction_required',
      code: 'ERR_AUTH_CONTEXT_REQUIRED',
      claims: MICROSOFT_C1_CLAIMS,
    });
    expect(refused.headers.get('www-authenticate')).toBeNull();
    // With the context: a SAS token, which carries what was granted (no acrs of its own).
    const granted = await exchange(reader({ acrs: ['c1'] }));
    expect(granted.status).toBe(200);
    const sas = granted.json.access_token as string;
    const used = await call(`${api}/proxy/payments/invoices/7`, {
      headers: { authorization: `SharedAccessSignature ${sas}` },
    });
    expect(used.status).toBe(200);
  });

  it('a real MSAL public client completes the loop: sign in, call, challenge, sign in with the claims, call', async () => {
    const idp = stack.idp!;
    const msal = new PublicClientApplication({
      auth: {
        clientId: DEV_CLIENT_APP_ID,
        authority: `${idp.authority}/${idp.tenantId}`,
        knownAuthorities: [new URL(idp.authority).host],
        // The app declares it handles claims challenges: Entra (here, the dev provider) then puts
        // cp1 in the token's xms_cc, and the gateway answers 401 with the challenge.
        clientCapabilities: ['cp1'],
      },
      system: { networkClient: msalNetworkClient(idp.fetch) },
    });
    const scopes = [`api://${idp.clientId}/access_as_user`];
    const redirectUri = 'http://localhost:53171/callback';
    const pkce = new CryptoProvider();

    /** The browser leg without a browser: the dev provider signs the dev user in and redirects. */
    async function signIn(claims?: string): Promise<string> {
      const { verifier, challenge } = await pkce.generatePkceCodes();
      const url = await msal.getAuthCodeUrl({
        scopes,
        redirectUri,
        codeChallenge: challenge,
        codeChallengeMethod: 'S256',
        ...(claims === undefined ? {} : { claims }),
      });
      const redirect = await idp.fetch(url, { redirect: 'manual' });
      expect(redirect.status).toBe(302);
      const code = new URL(redirect.headers.get('location')!).searchParams.get('code');
      expect(code).toBeTruthy();
      const result = await msal.acquireTokenByCode({
        code: code!,
        scopes,
        redirectUri,
        codeVerifier: verifier,
        ...(claims === undefined ? {} : { claims }),
      });
      return result.accessToken;
    }

    const first = await signIn();
    expect(jwt.decode(first)).toMatchObject({ xms_cc: ['cp1'], azp: DEV_CLIENT_APP_ID });
    const challenged = await proxy(first, 'payments/invoices/7');
    expect(challenged.status).toBe(401);
    const params = parseChallenge(challenged.headers.get('www-authenticate')!);
    expect(params.error).toBe('insufficient_claims');
    // What MSAL takes as `claims`: the decoded JSON of the challenge's value.
    const claims = Buffer.from(params.claims!, 'base64').toString('utf8');
    const second = await signIn(claims);
    expect(jwt.decode(second)).toMatchObject({ acrs: ['c1'], xms_cc: ['cp1'] });
    const done = await proxy(second, 'payments/invoices/7');
    expect(done.status).toBe(200);
  });

  it.each([
    ['an authContext that is not c1 to c99', { authContext: 'c100' }, 'authContext'],
    ['an authContext of c0', { authContext: 'c0' }, 'authContext'],
    ['an authContext on a deny', { effect: 'deny', authContext: 'c1' }, 'authContext'],
    [
      'an authContext next to a condition that excludes it',
      { authContext: 'c1', conditions: [{ claim: 'acrs', operator: 'notIn', values: ['c1'] }] },
      'authContext',
    ],
  ])('refuses a policy with %s: 400 naming the field, nothing stored', async (_case, change, field) => {
    const admin = stack.idp!.mintToken({ roles: ['Gateway.Admin'] });
    const body = { effect: 'allow', resource: 'orders', actions: ['read'], ...change };
    const res = await call(`${api}/policies/bad-context`, jsonCall('PUT', admin, body));
    expect([res.status, res.json.code, res.json.field]).toEqual([400, 'ERR_VALIDATION', field]);
    expect((await call(`${api}/policies/bad-context`, jsonCall('GET', admin))).status).toBe(404);
  });

  it('refuses a resource whose authContext is not c1 to c99', async () => {
    const admin = stack.idp!.mintToken({ roles: ['Gateway.Admin'] });
    const body = { upstream: `${stack.orders.url}/api/orders`, auth: { type: 'none' }, authContext: 'mfa' };
    const res = await call(`${api}/resources/bad-context`, jsonCall('PUT', admin, body));
    expect([res.status, res.json.code, res.json.field]).toEqual([400, 'ERR_VALIDATION', 'authContext']);
  });
});
