/**
 * DPoP (RFC 9449) end to end, over HTTP: the local stack's gateway and a second instance on the
 * same Cosmos DB, the sample downstream behind the proxy. A token bound at `/api/token` works only
 * with proofs of its key, each proof once on any instance; every hostile variant gets its exact
 * status, code and RFC 9449 section 7.1 challenge.
 */
import { DpopKey } from '../helpers/dpop';
import { runEsmTests } from '../helpers/dist';
import {
  call,
  exchange,
  issue,
  parseSasToken,
  SasTestStack,
  tokenForm,
  type Answer,
  type ServedGateway,
} from '../helpers/gateway-stack';
import { DEV_USER_OID } from '../../src/host/local/dev-identity-provider';

describe('DPoP-bound tokens (RFC 9449)', () => {
  let stack: SasTestStack;
  let second: ServedGateway;
  let reader: string;
  const key = DpopKey.generate();
  const path = `/proxy/orders/customers/${DEV_USER_OID}/orders`;

  beforeAll(async () => {
    stack = await SasTestStack.start();
    second = await stack.startGateway();
    reader = stack.mint({ roles: ['Orders.Reader'] });
  }, 60_000);

  afterAll(() => stack.close());

  /** Exchanges with a proof of `key` for this gateway's token endpoint. */
  function exchangeBound(api: string, proofKey = key, extra: Record<string, string> = {}): Promise<Answer> {
    return call(`${api}/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        dpop: proofKey.proof({ htm: 'POST', htu: `${api}/token` }),
      },
      body: tokenForm({
        subject_token: reader,
        resource: `orders/customers/${DEV_USER_OID}`,
        scope: 'read',
        ...extra,
      }),
    });
  }

  async function boundToken(api = stack.api): Promise<string> {
    const res = await exchangeBound(api);
    expect(res.status).toBe(200);
    return res.json.access_token as string;
  }

  function get(
    api: string,
    token: string,
    headers: Record<string, string>,
    url = `${api}${path}`,
  ): Promise<Answer> {
    return call(url, { headers: { authorization: `DPoP ${token}`, ...headers } });
  }

  /** The decision API for the caller's own orders, with a DPoP-bound token and a proof. */
  function decideWithDpop(api: string, token: string, proof: string): Promise<Answer> {
    return call(`${api}/authorize`, {
      method: 'POST',
      headers: { authorization: `DPoP ${token}`, dpop: proof, 'content-type': 'application/json' },
      body: JSON.stringify({ resource: 'orders', action: 'read', path: `/customers/${DEV_USER_OID}/orders` }),
    });
  }

  const proofFor = (api: string, token: string, proofKey = key, url = `${api}${path}`) =>
    proofKey.proof({ htm: 'GET', htu: url, accessToken: token });
  /** The resource call's proof, with its `iat` moved `seconds` from now. */
  const proofAged = (seconds: number) => (api: string, token: string) => ({
    dpop: key.proof({
      htm: 'GET',
      htu: `${api}${path}`,
      accessToken: token,
      iat: Math.floor(Date.now() / 1000) + seconds,
    }),
  });

  it('publishes RFC 8414 metadata that names the token endpoint, the grant and the DPoP algorithms', async () => {
    for (const document of ['oauth-authorization-server', 'openid-configuration']) {
      const res = await call(`${stack.api}/.well-known/${document}`);
      expect(res.status).toBe(200);
      expect(res.json).toMatchObject({
        issuer: stack.api,
        token_endpoint: `${stack.api}/token`,
        jwks_uri: `${stack.api}/.well-known/jwks.json`,
        grant_types_supported: ['urn:ietf:params:oauth:grant-type:token-exchange'],
        token_endpoint_auth_methods_supported: ['none'],
        dpop_signing_alg_values_supported: ['ES256', 'ES384', 'ES512', 'PS256', 'RS256', 'EdDSA'],
      });
    }
  });

  it('binds the token to the proof key: token_type DPoP and a signed jkt', async () => {
    const res = await exchangeBound(stack.api);
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ token_type: 'DPoP', scope: 'read' });
    expect(parseSasToken(res.json.access_token as string).jkt).toBe(key.jkt);
  });

  it('proxies with the token and a fresh proof, on either instance', async () => {
    const token = await boundToken();
    for (const api of [stack.api, second.api]) {
      const res = await get(api, token, { dpop: proofFor(api, token) });
      expect(res.status).toBe(200);
    }
  });

  it('answers the decision API for a DPoP caller', async () => {
    const token = await boundToken();
    const proof = key.proof({ htm: 'POST', htu: `${stack.api}/authorize`, accessToken: token });
    const res = await decideWithDpop(stack.api, token, proof);
    expect([res.status, res.json.allowed]).toEqual([200, true]);
  });

  it('refuses a replayed proof', async () => {
    const token = await boundToken();
    const proof = proofFor(stack.api, token);
    expect((await get(stack.api, token, { dpop: proof })).status).toBe(200);
    const again = await get(stack.api, token, { dpop: proof });
    expect([again.status, again.json.code]).toEqual([401, 'ERR_DPOP_PROOF_REPLAYED']);
    expect(again.headers.get('www-authenticate')).toMatch(
      /^DPoP realm="gateway", error="invalid_dpop_proof".*algs="ES256/,
    );
  });

  it('refuses a replay on a second instance that never saw the proof (the store is shared)', async () => {
    const token = await boundToken();
    // Two instances behind one public URL (GATEWAY_ISSUER), as Azure runs them: a proof captured
    // on its way to one is replayed to the other, which never saw it.
    const issuer = 'https://gateway.example.net/api';
    const a = await stack.startGateway({ env: { GATEWAY_ISSUER: issuer } });
    const b = await stack.startGateway({ env: { GATEWAY_ISSUER: issuer } });
    // A fixed issuer: the discovery document is the same whatever Host is sent (no Vary).
    const discovery = await call(`${a.api}/.well-known/oauth-authorization-server`, {
      headers: { host: 'evil.example' },
    });
    expect([discovery.json.issuer, discovery.headers.get('vary')]).toEqual([issuer, null]);
    // The decision API: the sample downstream only trusts statements of the stack's own issuer.
    const proof = key.proof({ htm: 'POST', htu: `${issuer}/authorize`, accessToken: token });
    const decide = (api: string) => decideWithDpop(api, token, proof);
    const first = await decide(a.api);
    expect([first.status, first.json.allowed]).toEqual([200, true]);
    const replay = await decide(b.api);
    expect([replay.status, replay.json.code]).toEqual([401, 'ERR_DPOP_PROOF_REPLAYED']);
  });

  it('with DPOP_REPLAY_STORE=local, refuses a replay to the same instance and, as documented, not to another', async () => {
    const token = await boundToken();
    const issuer = 'https://gateway.example.net/api';
    const env = { GATEWAY_ISSUER: issuer, DPOP_REPLAY_STORE: 'local' };
    const [a, b] = [await stack.startGateway({ env }), await stack.startGateway({ env })];
    const proof = key.proof({ htm: 'POST', htu: `${issuer}/authorize`, accessToken: token });
    const decide = (api: string) => decideWithDpop(api, token, proof);
    expect((await decide(a.api)).status).toBe(200);
    expect((await decide(a.api)).json.code).toBe('ERR_DPOP_PROOF_REPLAYED');
    expect((await decide(b.api)).status).toBe(200); // the limit of the per-instance store
  });

  it.each<[string, (api: string, token: string) => Record<string, string>, string, string]>([
    ['no proof', () => ({}), 'ERR_DPOP_PROOF_INVALID', 'invalid_dpop_proof'],
    ['an empty proof', () => ({ dpop: '' }), 'ERR_DPOP_PROOF_INVALID', 'invalid_dpop_proof'],
    [
      'two proofs',
      (api, t) => ({ dpop: `${proofFor(api, t)}, ${proofFor(api, t)}` }),
      'ERR_DPOP_PROOF_INVALID',
      'invalid_dpop_proof',
    ],
    ['garbage', () => ({ dpop: 'not.a.proof' }), 'ERR_DPOP_PROOF_INVALID', 'invalid_dpop_proof'],
    [
      'a proof of 9 KiB',
      () => ({ dpop: 'a'.repeat(9 * 1024) }),
      'ERR_DPOP_PROOF_INVALID',
      'invalid_dpop_proof',
    ],
    [
      'a proof for another method',
      (api, t) => ({ dpop: key.proof({ htm: 'POST', htu: `${api}${path}`, accessToken: t }) }),
      'ERR_DPOP_PROOF_INVALID',
      'invalid_dpop_proof',
    ],
    [
      'a proof for another path',
      (api, t) => ({ dpop: proofFor(api, t, key, `${api}/proxy/orders/customers/420/orders`) }),
      'ERR_DPOP_PROOF_INVALID',
      'invalid_dpop_proof',
    ],
    [
      'a proof without ath',
      (api) => ({ dpop: key.proof({ htm: 'GET', htu: `${api}${path}` }) }),
      'ERR_DPOP_PROOF_INVALID',
      'invalid_dpop_proof',
    ],
    [
      'a proof for another token',
      (api) => ({ dpop: key.proof({ htm: 'GET', htu: `${api}${path}`, accessToken: 'sv=1' }) }),
      'ERR_DPOP_PROOF_INVALID',
      'invalid_dpop_proof',
    ],
    ['an expired proof', proofAged(-600), 'ERR_DPOP_PROOF_INVALID', 'invalid_dpop_proof'],
    ['a proof from the future', proofAged(+600), 'ERR_DPOP_PROOF_INVALID', 'invalid_dpop_proof'],
    [
      'a proof with alg none',
      (api, t) => ({
        dpop: key.proof({ htm: 'GET', htu: `${api}${path}`, accessToken: t, header: { alg: 'none' } }),
      }),
      'ERR_DPOP_PROOF_INVALID',
      'invalid_dpop_proof',
    ],
    [
      'a proof of another key (a thief with the token)',
      (api, t) => ({ dpop: proofFor(api, t, DpopKey.generate()) }),
      'ERR_DPOP_BINDING',
      'invalid_token',
    ],
  ])('refuses the bound token with %s', async (_case, headers, code, error) => {
    const token = await boundToken();
    const res = await get(stack.api, token, headers(stack.api, token));
    expect([res.status, res.json.code]).toEqual([401, code]);
    expect(res.headers.get('www-authenticate')).toMatch(
      new RegExp(`^DPoP realm="gateway", error="${error}"`),
    );
    expect(JSON.stringify(res.json)).not.toContain(token.slice(-20));
  });

  it('refuses the bound token sent as a bearer (SharedAccessSignature), even with a proof', async () => {
    const token = await boundToken();
    const res = await call(`${stack.api}${path}`, {
      headers: { authorization: `SharedAccessSignature ${token}`, dpop: proofFor(stack.api, token) },
    });
    expect([res.status, res.json.code]).toEqual([401, 'ERR_DPOP_BINDING']);
    expect(res.headers.get('www-authenticate')).toMatch(/^DPoP realm="gateway", error="invalid_token"/);
  });

  it('refuses a token whose jkt was swapped for the thief key (the signature covers it)', async () => {
    const token = await boundToken();
    const thief = DpopKey.generate();
    const forged = token.replace(`jkt=${key.jkt}`, `jkt=${thief.jkt}`);
    expect(forged).not.toBe(token);
    const res = await get(stack.api, forged, { dpop: proofFor(stack.api, forged, thief) });
    expect([res.status, res.json.code]).toEqual([401, 'ERR_SAS_INVALID']);
    expect(res.headers.get('www-authenticate')).toMatch(/^DPoP /);
  });

  it('refuses a bound token stripped of its jkt, as a bearer', async () => {
    const token = await boundToken();
    const stripped = token.replace(`&jkt=${key.jkt}`, '');
    const res = await call(`${stack.api}${path}`, {
      headers: { authorization: `SharedAccessSignature ${stripped}` },
    });
    expect([res.status, res.json.code]).toEqual([401, 'ERR_SAS_INVALID']);
  });

  it('refuses an unbound SAS token and an Entra token sent as DPoP', async () => {
    const unbound = await issue(stack.api, {
      subject_token: reader,
      resource: `orders/customers/${DEV_USER_OID}`,
      scope: 'read',
    });
    const res = await get(stack.api, unbound, { dpop: proofFor(stack.api, unbound) });
    expect([res.status, res.json.code]).toEqual([401, 'ERR_DPOP_BINDING']);
    const entra = await get(stack.api, reader, { dpop: proofFor(stack.api, reader) });
    expect([entra.status, entra.headers.get('www-authenticate')?.startsWith('DPoP ')]).toEqual([401, true]);
  });

  it('names DPoP among the schemes when no credential is sent', async () => {
    const res = await call(`${stack.api}${path}`);
    expect([res.status, res.json.code]).toEqual([401, 'ERR_CREDENTIAL_MISSING']);
    expect(res.headers.get('www-authenticate')).toMatch(
      /Bearer .*, SharedAccessSignature .*, DPoP .*algs="ES256/,
    );
    // RFC 6750 section 3.1: a request with no credential gets no error information.
    expect(res.headers.get('www-authenticate')).not.toMatch(/error/);
  });

  describe('the token endpoint', () => {
    it('accepts a proof typed application/dpop+jwt, the same media type as dpop+jwt (RFC 7515 section 4.1.9)', async () => {
      const res = await call(`${stack.api}/token`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          dpop: key.proof({
            htm: 'POST',
            htu: `${stack.api}/token`,
            header: { typ: 'application/dpop+jwt' },
          }),
        },
        body: tokenForm({
          subject_token: reader,
          resource: `orders/customers/${DEV_USER_OID}`,
          scope: 'read',
        }),
      });
      expect([res.status, res.json.token_type]).toEqual([200, 'DPoP']);
    });

    it.each<[string, (api: string) => string, string]>([
      [
        'a proof for another URL',
        (api) => key.proof({ htm: 'POST', htu: `${api}/authorize` }),
        'the request URL',
      ],
      ['a proof for GET', (api) => key.proof({ htm: 'GET', htu: `${api}/token` }), 'request method'],
      [
        'a proof signed by another key than its jwk',
        (api) => key.proof({ htm: 'POST', htu: `${api}/token`, header: { jwk: DpopKey.generate().jwk } }),
        'signature',
      ],
      [
        'a proof with a private key in jwk',
        (api) => key.proof({ htm: 'POST', htu: `${api}/token`, header: { jwk: { ...key.jwk, d: 'AAAA' } } }),
        'private',
      ],
      ['an empty DPoP header', () => '', 'no DPoP header'],
      [
        'a hostile RSA key (3072 bits, e = n - 2)',
        (api) => {
          const rsa = DpopKey.generate('RS256', 3072);
          const n = Buffer.from(rsa.jwk.n as string, 'base64url');
          n[n.length - 1]! -= 2;
          return rsa.proof({
            htm: 'POST',
            htu: `${api}/token`,
            header: { jwk: { ...rsa.jwk, e: n.toString('base64url') } },
          });
        },
        'exponent',
      ],
      [
        'an htu with userinfo',
        (api) => key.proof({ htm: 'POST', htu: `${api}/token`.replace('http://', 'http://evil@') }),
        'the request URL',
      ],
    ])('answers 400 invalid_dpop_proof for %s, and issues nothing', async (_case, proof, reason) => {
      const res = await call(`${stack.api}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', dpop: proof(stack.api) },
        body: tokenForm({ subject_token: reader, resource: 'orders', scope: 'read' }),
      });
      expect([res.status, res.json.error, res.json.code]).toEqual([
        400,
        'invalid_dpop_proof',
        'ERR_TOKEN_DPOP_PROOF_INVALID',
      ]);
      expect(res.json.error_description).toContain(reason);
      expect(res.json).not.toHaveProperty('access_token');
    });

    it('refuses a replayed token request proof, on another instance too', async () => {
      const issuer = 'https://gateway.example.net/api';
      const a = await stack.startGateway({ env: { GATEWAY_ISSUER: issuer } });
      const b = await stack.startGateway({ env: { GATEWAY_ISSUER: issuer } });
      const proof = key.proof({ htm: 'POST', htu: `${issuer}/token` });
      const send = (api: string) =>
        call(`${api}/token`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', dpop: proof },
          body: tokenForm({
            subject_token: reader,
            resource: `orders/customers/${DEV_USER_OID}`,
            scope: 'read',
          }),
        });
      expect((await send(a.api)).json.token_type).toBe('DPoP');
      const replay = await send(b.api);
      expect([replay.status, replay.json.error, replay.json.code]).toEqual([
        400,
        'invalid_dpop_proof',
        'ERR_TOKEN_DPOP_PROOF_INVALID',
      ]);
    });

    it('checks the subject token before the proof (a bad Entra token never reaches the replay store)', async () => {
      const res = await call(`${stack.api}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', dpop: 'not.a.proof' },
        body: tokenForm({ subject_token: `${reader}x`, resource: 'orders', scope: 'read' }),
      });
      expect([res.status, res.json.code]).toEqual([400, 'ERR_SUBJECT_TOKEN_INVALID']);
    });
  });

  describe('a resource that requires DPoP', () => {
    beforeAll(async () => {
      const res = await stack.admin('PUT', 'resources/vault', {
        name: 'vault',
        upstream: `${stack.stack.orders.url}/api/orders`,
        auth: { type: 'functionKey', keySetting: 'ORDERS_KEY' },
        audience: 'orders', // the sample downstream checks the statement is meant for it
        requireDpop: true,
      });
      expect(res.status).toBe(201);
      expect(res.json.requireDpop).toBe(true);
      const policy = await stack.admin('PUT', 'policies/vault-read', {
        id: 'vault-read',
        effect: 'allow',
        resource: 'vault',
        actions: ['read'],
        principals: { roles: ['Orders.Reader'] },
      });
      expect(policy.status).toBe(201);
    });

    const vaultPath = '/proxy/vault/customers/1/orders';

    it('issues no token without a proof', async () => {
      const res = await exchange(stack.api, { subject_token: reader, resource: 'vault', scope: 'read' });
      expect([res.status, res.json.error, res.json.code]).toEqual([
        400,
        'invalid_request',
        'ERR_TOKEN_DPOP_REQUIRED',
      ]);
    });

    it('refuses an Entra Bearer token at the proxy, and the decision API says why', async () => {
      const res = await call(`${stack.api}${vaultPath}`, { headers: { authorization: `Bearer ${reader}` } });
      expect([res.status, res.json.code]).toEqual([401, 'ERR_DPOP_REQUIRED']);
      expect(res.headers.get('www-authenticate')).toMatch(/^DPoP realm="gateway", error="invalid_token"/);
      const decision = await call(`${stack.api}/authorize`, {
        method: 'POST',
        headers: { authorization: `Bearer ${reader}`, 'content-type': 'application/json' },
        body: JSON.stringify({ resource: 'vault', action: 'read', path: '/customers/1/orders' }),
      });
      expect(decision.json).toMatchObject({ allowed: false, reasonCode: 'DPOP_REQUIRED' });
    });

    it('serves a bound token with its proof', async () => {
      const res = await exchangeBound(stack.api, key, { resource: 'vault' });
      expect(res.json.token_type).toBe('DPoP');
      const token = res.json.access_token as string;
      const ok = await get(
        stack.api,
        token,
        { dpop: proofFor(stack.api, token, key, `${stack.api}${vaultPath}`) },
        `${stack.api}${vaultPath}`,
      );
      expect(ok.status).toBe(200);
    });
  });

  it.each<[string, string, Record<string, unknown>]>([
    [
      'a resource whose requireDpop is not a boolean',
      'resources/bad-dpop',
      { name: 'bad-dpop', upstream: 'http://127.0.0.1:9/api', auth: { type: 'none' }, requireDpop: 'yes' },
    ],
    [
      'a deny policy that requires DPoP',
      'policies/bad-dpop',
      { id: 'bad-dpop', effect: 'deny', resource: 'orders', actions: ['read'], requireDpop: true },
    ],
    [
      'a policy whose requireDpop is not a boolean',
      'policies/bad-dpop',
      { id: 'bad-dpop', effect: 'allow', resource: 'orders', actions: ['read'], requireDpop: 1 },
    ],
  ])(
    'the admin API refuses %s: 400 ERR_VALIDATION on requireDpop, nothing stored',
    async (_case, path, body) => {
      const res = await stack.admin('PUT', path, body);
      expect([res.status, res.json.code, res.json.field]).toEqual([400, 'ERR_VALIDATION', 'requireDpop']);
      expect((await stack.admin('GET', path)).status).toBe(404);
    },
  );

  describe('a policy that requires DPoP', () => {
    beforeAll(async () => {
      const res = await stack.admin('PUT', 'resources/ledger', {
        name: 'ledger',
        upstream: `${stack.stack.orders.url}/api/orders`,
        auth: { type: 'functionKey', keySetting: 'ORDERS_KEY' },
        audience: 'orders',
      });
      expect(res.status).toBe(201);
      const policy = await stack.admin('PUT', 'policies/ledger-read-bound', {
        id: 'ledger-read-bound',
        effect: 'allow',
        resource: 'ledger',
        actions: ['read'],
        principals: { roles: ['Orders.Reader'] },
        requireDpop: true,
      });
      expect([policy.status, policy.json.requireDpop]).toEqual([201, true]);
    });

    it('grants a bound token only: no proof is invalid_scope, a proof gets token_type DPoP', async () => {
      const unbound = await exchange(stack.api, { subject_token: reader, resource: 'ledger', scope: 'read' });
      expect([unbound.status, unbound.json.error]).toEqual([400, 'invalid_scope']);
      const bound = await exchangeBound(stack.api, key, { resource: 'ledger' });
      expect([bound.status, bound.json.token_type]).toEqual([200, 'DPoP']);
      expect(parseSasToken(bound.json.access_token as string).spi).toEqual(['ledger-read-bound']);
    });

    it('never lets an Entra Bearer call through, and the admin what-if names the reason', async () => {
      const res = await call(`${stack.api}/proxy/ledger/x`, {
        headers: { authorization: `Bearer ${reader}` },
      });
      expect([res.status, res.json.code]).toEqual([403, 'ERR_POLICY_DENIED']);
      const whatIf = await call(`${stack.api}/authorize`, {
        method: 'POST',
        headers: { authorization: `Bearer ${stack.adminToken()}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          resource: 'ledger',
          action: 'read',
          path: '/x',
          principal: { oid: DEV_USER_OID, roles: ['Orders.Reader'] },
        }),
      });
      expect(whatIf.json.candidates).toContainEqual({
        id: 'ledger-read-bound',
        effect: 'allow',
        outcome: 'dpop',
      });
    });
  });

  it('interoperates with oauth4webapi and the dpop package (ESM, run by node --test)', () => {
    runEsmTests('dpop-clients.test.mjs', 4);
  }, 180_000);
});
