import { ManualClock } from '../../src/clock';
import {
  ACCESS_TOKEN,
  authorizeWithSas,
  call,
  exchange,
  issue,
  parseSasToken,
  SasTestStack,
  TOKEN_EXCHANGE,
  tokenForm,
  type Answer,
  type ServedGateway,
} from '../helpers/gateway-stack';

const OID = '42';

describe('POST /api/token: token exchange on the local stack', () => {
  let env: SasTestStack;
  let api: string;
  let reader: string;
  let writer: string;

  beforeAll(async () => {
    env = await SasTestStack.start();
    api = env.api;
    reader = env.mint({ oid: OID, roles: ['Orders.Reader'] });
    writer = env.mint({ oid: OID, roles: ['Orders.Reader', 'Orders.Writer'] });
  });

  afterAll(() => env?.close());

  describe('round trip', () => {
    it('issues a scoped SAS (form mode) that /api/authorize honours inside its scope only', async () => {
      const res = await exchange(api, {
        subject_token: writer,
        resource: 'orders/customers/42',
        scope: 'create read',
      });
      expect(res.status).toBe(200);
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(res.headers.get('pragma')).toBe('no-cache');
      expect(res.json).toEqual({
        access_token: expect.any(String),
        issued_token_type: ACCESS_TOKEN,
        token_type: 'SharedAccessSignature',
        expires_in: 300,
        scope: 'read create',
      });
      const token = res.json.access_token as string;
      const fields = parseSasToken(token);
      expect(fields).toMatchObject({
        sv: '1',
        sr: 'orders/customers/42',
        sp: 'rc',
        skn: 'k1',
        oid: OID,
        tid: env.stack.idp!.tenantId,
        spi: ['orders-create-42', 'orders-read-own'],
      });
      expect(fields.se - fields.st).toBe(300);
      expect(fields.sid).toMatch(/^[A-Za-z0-9_-]{22}$/);

      const inside = await authorizeWithSas(api, token, {
        resource: 'orders',
        action: 'read',
        path: '/customers/42/orders',
      });
      expect(inside.status).toBe(200);
      expect(inside.json).toMatchObject({
        allowed: true,
        decision: 'allow',
        policies: ['orders-create-42', 'orders-read-own'],
      });

      for (const outside of [
        { resource: 'orders', action: 'read', path: '/customers/420' },
        { resource: 'orders', action: 'read', path: '/customers' },
        { resource: 'orders', action: 'delete', path: '/customers/42' },
        { resource: 'orders', action: 'write', path: '/customers/42/x' },
      ]) {
        const denied = await authorizeWithSas(api, token, outside);
        expect({ outside, status: denied.status, body: denied.json }).toMatchObject({
          status: 200,
          body: { allowed: false, decision: 'deny', reasonCode: 'SAS_SCOPE' },
        });
      }
      const unknown = await authorizeWithSas(api, token, { resource: 'nope', action: 'read', path: '/' });
      expect(unknown.json).toMatchObject({ allowed: false, reasonCode: 'UNKNOWN_RESOURCE' });
    });

    it('a whole-resource SAS covers every path of it', async () => {
      const token = await issue(api, {
        subject_token: env.mint({ roles: ['Orders.Auditor'] }),
        resource: 'orders',
        scope: 'read',
      });
      expect(parseSasToken(token)).toMatchObject({ sr: 'orders', sp: 'r', spi: ['orders-read-all'] });
      const res = await authorizeWithSas(api, token, {
        resource: 'orders',
        action: 'read',
        path: '/anything/at/all',
      });
      expect(res.json).toMatchObject({ allowed: true });
    });

    it('accepts the JSON body with Authorization: Bearer', async () => {
      const res = await call(`${api}/token`, {
        method: 'POST',
        headers: { authorization: `Bearer ${reader}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          grant_type: TOKEN_EXCHANGE,
          resource: 'orders/customers/42',
          scope: 'read',
          requested_lifetime: 60,
        }),
      });
      expect(res.status).toBe(200);
      expect(res.json).toMatchObject({ token_type: 'SharedAccessSignature', expires_in: 60, scope: 'read' });
    });

    it('a malformed DPoP proof header gets no token: 400 invalid_dpop_proof (RFC 9449 section 5)', async () => {
      const res = await call(`${api}/token`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          dpop: 'eyJhbGciOiJFUzI1NiJ9.e30.c2ln',
        },
        body: tokenForm({ subject_token: reader, resource: 'orders/customers/42', scope: 'read' }),
      });
      expect([res.status, res.json.error, res.json.code]).toEqual([
        400,
        'invalid_dpop_proof',
        'ERR_TOKEN_DPOP_PROOF_INVALID',
      ]);
      expect(res.json).not.toHaveProperty('access_token');
    });

    it('an admin SAS never opens admin routes', async () => {
      const token = await issue(api, {
        subject_token: writer,
        resource: 'orders/customers/42',
        scope: 'read',
      });
      const res = await call(`${api}/policies`, {
        headers: { authorization: `SharedAccessSignature ${token}` },
      });
      expect(res.status).toBe(401);
      expect(res.json.code).toBe('ERR_CREDENTIAL_SCHEME');
    });
  });

  describe('least privilege', () => {
    it.each([
      {
        name: 'an action no policy allows',
        resource: 'orders/customers/42',
        scope: 'read write',
        error: 'invalid_scope',
        code: 'ERR_SCOPE_INVALID',
      },
      {
        name: 'a scope wider than the policy',
        resource: 'orders',
        scope: 'read',
        error: 'invalid_scope',
        code: 'ERR_SCOPE_INVALID',
      },
      {
        name: "another customer's subtree",
        resource: 'orders/customers/43',
        scope: 'read',
        error: 'invalid_scope',
        code: 'ERR_SCOPE_INVALID',
      },
      {
        name: 'a sibling sharing a prefix',
        resource: 'orders/customers/420',
        scope: 'read',
        error: 'invalid_scope',
        code: 'ERR_SCOPE_INVALID',
      },
      {
        name: 'a deny reaching into the subtree',
        resource: 'orders/customers/42',
        scope: 'delete',
        error: 'invalid_scope',
        code: 'ERR_SCOPE_INVALID',
      },
      {
        name: 'an unknown resource',
        resource: 'invoices',
        scope: 'read',
        error: 'invalid_target',
        code: 'ERR_TARGET_INVALID',
      },
    ])('$name: 400 $error', async ({ resource, scope, error, code }) => {
      const res = await exchange(api, { subject_token: writer, resource, scope });
      expect(res.status).toBe(400);
      expect(res.json).toMatchObject({ error, code, correlationId: res.headers.get('x-correlation-id') });
      expect(res.json.access_token).toBeUndefined();
      expect(res.headers.get('cache-control')).toBe('no-store');
    });

    it('grants delete below the denied part', async () => {
      const res = await exchange(api, {
        subject_token: writer,
        resource: 'orders/customers/42/orders',
        scope: 'delete',
      });
      expect(res.status).toBe(200);
    });
  });

  describe('lifetime = min(asked or default, max, policy cap, subject exp)', () => {
    it.each([
      { name: 'default', token: () => reader, scope: 'read', asked: undefined, expires: 300 },
      { name: 'asked', token: () => reader, scope: 'read', asked: '120', expires: 120 },
      {
        name: 'max',
        // A subject token outliving the max, so its own exp never decides here.
        token: () => env.mint({ oid: OID, roles: ['Orders.Reader'], lifetimeSeconds: 7200 }),
        scope: 'read',
        asked: '99999',
        expires: 3600,
      },
      { name: 'policy cap', token: () => writer, scope: 'read create', asked: '3000', expires: 600 },
    ])('$name: expires_in $expires', async ({ token, scope, asked, expires }) => {
      const res = await exchange(api, {
        subject_token: token(),
        resource: 'orders/customers/42',
        scope,
        ...(asked === undefined ? {} : { requested_lifetime: asked }),
      });
      expect(res.status).toBe(200);
      expect(res.json.expires_in).toBe(expires);
      const fields = parseSasToken(res.json.access_token as string);
      expect(fields.se - fields.st).toBe(expires);
    });

    it('subject token exp', async () => {
      const short = env.mint({ oid: OID, roles: ['Orders.Reader'], lifetimeSeconds: 90 });
      const res = await exchange(api, {
        subject_token: short,
        resource: 'orders/customers/42',
        scope: 'read',
      });
      expect(res.status).toBe(200);
      expect(res.json.expires_in).toBeGreaterThanOrEqual(88);
      expect(res.json.expires_in).toBeLessThanOrEqual(90);
    });
  });

  describe('the target as RFC 8693 section 2.1 names it: resource (a URI) and audience (a logical name)', () => {
    const srOf = (res: Answer) => parseSasToken(res.json.access_token as string).sr;

    it.each<[string, () => Record<string, string>, string]>([
      ['the resource name and path', () => ({ resource: 'orders/customers/42' }), 'orders/customers/42'],
      [
        'the gateway URL of the resource path',
        () => ({ resource: `${api}/proxy/orders/customers/42` }),
        'orders/customers/42',
      ],
      [
        'that URL with a trailing slash',
        () => ({ resource: `${api}/proxy/orders/customers/42/` }),
        'orders/customers/42',
      ],
      [
        'that URL with an upper-case scheme and host',
        () => ({
          resource: `${api.replace('http://127.0.0.1', 'HTTP://127.0.0.1')}/proxy/orders/customers/42`,
        }),
        'orders/customers/42',
      ],
      [
        'the name and path with audience = the name',
        () => ({ resource: 'orders/customers/42', audience: 'orders' }),
        'orders/customers/42',
      ],
      [
        'the URL with audience = the name',
        () => ({ resource: `${api}/proxy/orders/customers/42`, audience: 'orders' }),
        'orders/customers/42',
      ],
    ])('accepts %s', async (_case, target, sr) => {
      const res = await exchange(api, { subject_token: reader, scope: 'read', ...target() });
      expect(res.status).toBe(200);
      expect(srOf(res)).toBe(sr);
    });

    it('accepts audience alone: the whole resource', async () => {
      const auditor = env.mint({ oid: OID, roles: ['Orders.Auditor'] });
      const res = await exchange(api, { subject_token: auditor, scope: 'read', audience: 'orders' });
      expect([res.status, srOf(res)]).toEqual([200, 'orders']);
    });

    it('accepts the URL below GATEWAY_ISSUER, the public address', async () => {
      const issuer = 'https://gateway.example.net/api';
      const behind = await env.startGateway({ env: { GATEWAY_ISSUER: issuer } });
      const res = await exchange(behind.api, {
        subject_token: reader,
        scope: 'read',
        resource: `${issuer}/proxy/orders/customers/42`,
      });
      expect([res.status, srOf(res)]).toEqual([200, 'orders/customers/42']);
    });

    it.each<[string, () => Record<string, string>]>([
      [
        'a resource and an audience that disagree',
        () => ({ resource: 'orders/customers/42', audience: 'payments' }),
      ],
      ['an audience that is no resource name', () => ({ audience: 'Orders!' })],
      ['an unknown audience', () => ({ audience: 'payments' })],
      ['a URL of another host', () => ({ resource: 'https://evil.example/api/proxy/orders/customers/42' })],
      ['a URL with a query', () => ({ resource: `${api}/proxy/orders/customers/42?x=1` })],
      ['a URL with a fragment', () => ({ resource: `${api}/proxy/orders/customers/42#x` })],
      [
        'a URL with userinfo',
        () => ({ resource: api.replace('http://', 'http://evil@') + '/proxy/orders/customers/42' }),
      ],
      ['a URL outside /proxy/', () => ({ resource: `${api}/authorize` })],
      ['a URL naming no resource', () => ({ resource: `${api}/proxy/` })],
      ['a URL with a dot segment', () => ({ resource: `${api}/proxy/orders/customers/../43` })],
      ['a URL with an encoded dot segment', () => ({ resource: `${api}/proxy/orders/customers/%2e%2E/43` })],
      ['a URL with a backslash', () => ({ resource: `${api}/proxy/orders\\customers/42` })],
      ['a URN', () => ({ resource: 'urn:example:orders' })],
    ])('refuses %s with 400 invalid_target', async (_case, target) => {
      const res = await exchange(api, { subject_token: reader, scope: 'read', ...target() });
      expect([res.status, res.json.error, res.json.code]).toEqual([
        400,
        'invalid_target',
        'ERR_TARGET_INVALID',
      ]);
      expect(res.json).not.toHaveProperty('access_token');
    });

    it('refuses a request with neither, 400 invalid_request', async () => {
      const res = await exchange(api, { subject_token: reader, scope: 'read' });
      expect([res.status, res.json.error]).toEqual([400, 'invalid_request']);
    });
  });

  describe('hostile requests', () => {
    const valid = () => ({ subject_token: reader, resource: 'orders/customers/42', scope: 'read' });
    const formCases: { name: string; body: () => string; status: number; error: string; code: string }[] = [
      {
        name: 'malformed form encoding',
        body: () => `${tokenForm(valid())}&x=%zz`,
        status: 400,
        error: 'invalid_request',
        code: 'ERR_TOKEN_REQUEST_INVALID',
      },
      {
        name: 'duplicate scope',
        body: () => `${tokenForm(valid())}&scope=read`,
        status: 400,
        error: 'invalid_request',
        code: 'ERR_TOKEN_REQUEST_INVALID',
      },
      {
        name: 'duplicate subject_token',
        body: () => `${tokenForm(valid())}&subject_token=${reader}`,
        status: 400,
        error: 'invalid_request',
        code: 'ERR_TOKEN_REQUEST_INVALID',
      },
      {
        name: 'missing grant_type',
        body: () => new URLSearchParams({ ...valid(), subject_token_type: ACCESS_TOKEN }).toString(),
        status: 400,
        error: 'invalid_request',
        code: 'ERR_TOKEN_REQUEST_INVALID',
      },
      {
        name: 'unsupported grant type',
        body: () => tokenForm({ ...valid(), grant_type: 'client_credentials' }),
        status: 400,
        error: 'unsupported_grant_type',
        code: 'ERR_GRANT_TYPE_UNSUPPORTED',
      },
      {
        name: 'missing subject_token',
        body: () => tokenForm({ resource: 'orders', scope: 'read' }),
        status: 400,
        error: 'invalid_request',
        code: 'ERR_TOKEN_REQUEST_INVALID',
      },
      {
        name: 'wrong subject_token_type',
        body: () =>
          tokenForm({ ...valid(), subject_token_type: 'urn:ietf:params:oauth:token-type:id_token' }),
        status: 400,
        error: 'invalid_request',
        code: 'ERR_TOKEN_REQUEST_INVALID',
      },
      {
        name: 'missing subject_token_type',
        body: () => new URLSearchParams({ ...valid(), grant_type: TOKEN_EXCHANGE }).toString(),
        status: 400,
        error: 'invalid_request',
        code: 'ERR_TOKEN_REQUEST_INVALID',
      },
      {
        name: 'missing resource',
        body: () => tokenForm({ subject_token: reader, scope: 'read' }),
        status: 400,
        error: 'invalid_request',
        code: 'ERR_TOKEN_REQUEST_INVALID',
      },
      {
        name: 'missing scope',
        body: () => tokenForm({ subject_token: reader, resource: 'orders' }),
        status: 400,
        error: 'invalid_request',
        code: 'ERR_TOKEN_REQUEST_INVALID',
      },
      {
        name: 'empty scope',
        body: () => tokenForm({ ...valid(), scope: '' }),
        status: 400,
        error: 'invalid_request',
        code: 'ERR_TOKEN_REQUEST_INVALID',
      },
      {
        name: 'unknown action in scope',
        body: () => tokenForm({ ...valid(), scope: 'read admin' }),
        status: 400,
        error: 'invalid_scope',
        code: 'ERR_SCOPE_INVALID',
      },
      {
        name: 'scope with two spaces',
        body: () => tokenForm({ ...valid(), scope: 'read  create' }),
        status: 400,
        error: 'invalid_scope',
        code: 'ERR_SCOPE_INVALID',
      },
      {
        name: 'requested_lifetime 0',
        body: () => tokenForm({ ...valid(), requested_lifetime: '0' }),
        status: 400,
        error: 'invalid_request',
        code: 'ERR_TOKEN_REQUEST_INVALID',
      },
      {
        name: 'requested_lifetime negative',
        body: () => tokenForm({ ...valid(), requested_lifetime: '-5' }),
        status: 400,
        error: 'invalid_request',
        code: 'ERR_TOKEN_REQUEST_INVALID',
      },
      {
        name: 'requested_lifetime huge',
        body: () => tokenForm({ ...valid(), requested_lifetime: '99999999999999999999' }),
        status: 400,
        error: 'invalid_request',
        code: 'ERR_TOKEN_REQUEST_INVALID',
      },
      {
        name: 'requested_lifetime non-numeric',
        body: () => tokenForm({ ...valid(), requested_lifetime: '5m' }),
        status: 400,
        error: 'invalid_request',
        code: 'ERR_TOKEN_REQUEST_INVALID',
      },
      {
        name: 'requested_lifetime fractional',
        body: () => tokenForm({ ...valid(), requested_lifetime: '1.5' }),
        status: 400,
        error: 'invalid_request',
        code: 'ERR_TOKEN_REQUEST_INVALID',
      },
      {
        name: 'resource with ..',
        body: () => tokenForm({ ...valid(), resource: 'orders/customers/42/../43' }),
        status: 400,
        error: 'invalid_target',
        code: 'ERR_TARGET_INVALID',
      },
      {
        name: 'resource with encoded ..',
        body: () =>
          `${tokenForm({ subject_token: reader, scope: 'read' })}&resource=orders%2Fcustomers%2F%252e%252e`,
        status: 400,
        error: 'invalid_target',
        code: 'ERR_TARGET_INVALID',
      },
      {
        name: 'resource with encoded /',
        body: () => tokenForm({ ...valid(), resource: 'orders/customers%2F42' }),
        status: 400,
        error: 'invalid_target',
        code: 'ERR_TARGET_INVALID',
      },
      {
        name: 'resource with a backslash',
        body: () => tokenForm({ ...valid(), resource: 'orders/customers\\42' }),
        status: 400,
        error: 'invalid_target',
        code: 'ERR_TARGET_INVALID',
      },
      {
        name: 'actor_token (delegation)',
        body: () => tokenForm({ ...valid(), actor_token: reader, actor_token_type: ACCESS_TOKEN }),
        status: 400,
        error: 'invalid_request',
        code: 'ERR_TOKEN_REQUEST_INVALID',
      },
      {
        name: 'a subject token that is not a JWT',
        body: () => tokenForm({ ...valid(), subject_token: 'not-a-jwt' }),
        status: 400,
        error: 'invalid_request',
        code: 'ERR_SUBJECT_TOKEN_INVALID',
      },
      {
        name: 'an expired subject token',
        body: () => tokenForm({ ...valid(), subject_token: env.mint({ lifetimeSeconds: -3600 }) }),
        status: 400,
        error: 'invalid_request',
        code: 'ERR_SUBJECT_TOKEN_INVALID',
      },
      {
        name: 'a subject token for another audience',
        body: () => tokenForm({ ...valid(), subject_token: env.mint({ audience: 'api://someone-else' }) }),
        status: 400,
        error: 'invalid_request',
        code: 'ERR_SUBJECT_TOKEN_INVALID',
      },
      {
        name: 'a SAS as the subject token',
        body: () => tokenForm({ ...valid(), subject_token: 'sv=1&sr=orders' }),
        status: 400,
        error: 'invalid_request',
        code: 'ERR_SUBJECT_TOKEN_INVALID',
      },
      {
        name: 'body over 20 KiB',
        body: () => tokenForm({ ...valid(), pad: 'x'.repeat(21 * 1024) }),
        status: 413,
        error: 'invalid_request',
        code: 'ERR_PAYLOAD_TOO_LARGE',
      },
    ];

    it.each(formCases)('form, $name: $status $error $code', async ({ body, status, error, code }) => {
      const res = await call(`${api}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: body(),
      });
      expect({ status: res.status, error: res.json.error, code: res.json.code }).toEqual({
        status,
        error,
        code,
      });
      expect(res.json.access_token).toBeUndefined();
      expect(res.json.correlationId).toBe(res.headers.get('x-correlation-id'));
      expect(typeof res.json.error_description).toBe('string');
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(res.headers.get('pragma')).toBe('no-cache');
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    });

    it('names the Entra code of a refused subject token', async () => {
      const res = await exchange(api, {
        subject_token: env.mint({ lifetimeSeconds: -3600 }),
        resource: 'orders',
        scope: 'read',
      });
      expect(res.json).toMatchObject({
        code: 'ERR_SUBJECT_TOKEN_INVALID',
        subject_token_error: 'ERR_TOKEN_EXPIRED',
      });
    });

    const jsonCases: {
      name: string;
      headers: () => Record<string, string>;
      body: string;
      status: number;
      error: string;
      code: string;
    }[] = [
      {
        name: 'wrong content type',
        headers: () => ({ 'content-type': 'text/plain' }),
        body: 'x',
        status: 415,
        error: 'invalid_request',
        code: 'ERR_UNSUPPORTED_MEDIA_TYPE',
      },
      {
        name: 'no content type',
        headers: () => ({}),
        body: '',
        status: 415,
        error: 'invalid_request',
        code: 'ERR_UNSUPPORTED_MEDIA_TYPE',
      },
      {
        name: 'malformed JSON',
        headers: () => ({ authorization: `Bearer ${reader}`, 'content-type': 'application/json' }),
        body: '{"scope":',
        status: 400,
        error: 'invalid_request',
        code: 'ERR_TOKEN_REQUEST_INVALID',
      },
      {
        name: 'JSON array',
        headers: () => ({ authorization: `Bearer ${reader}`, 'content-type': 'application/json' }),
        body: '[]',
        status: 400,
        error: 'invalid_request',
        code: 'ERR_TOKEN_REQUEST_INVALID',
      },
      {
        name: 'scope as an array',
        headers: () => ({ authorization: `Bearer ${reader}`, 'content-type': 'application/json' }),
        body: JSON.stringify({ resource: 'orders', scope: ['read'] }),
        status: 400,
        error: 'invalid_request',
        code: 'ERR_TOKEN_REQUEST_INVALID',
      },
      {
        name: 'requested_lifetime as a string',
        headers: () => ({ authorization: `Bearer ${reader}`, 'content-type': 'application/json' }),
        body: JSON.stringify({ resource: 'orders/customers/42', scope: 'read', requested_lifetime: '60' }),
        status: 400,
        error: 'invalid_request',
        code: 'ERR_TOKEN_REQUEST_INVALID',
      },
      {
        name: 'unknown member',
        headers: () => ({ authorization: `Bearer ${reader}`, 'content-type': 'application/json' }),
        body: JSON.stringify({ resource: 'orders', scope: 'read', admin: true }),
        status: 400,
        error: 'invalid_request',
        code: 'ERR_TOKEN_REQUEST_INVALID',
      },
      {
        name: 'subject_token in the JSON body',
        headers: () => ({ 'content-type': 'application/json' }),
        body: JSON.stringify({ resource: 'orders', scope: 'read', subject_token: 'a.b.c' }),
        status: 400,
        error: 'invalid_request',
        code: 'ERR_TOKEN_REQUEST_INVALID',
      },
      {
        name: 'no Authorization header',
        headers: () => ({ 'content-type': 'application/json' }),
        body: JSON.stringify({ resource: 'orders/customers/42', scope: 'read' }),
        status: 401,
        error: 'invalid_token',
        code: 'ERR_CREDENTIAL_MISSING',
      },
      {
        name: 'a bad Bearer token',
        headers: () => ({ authorization: 'Bearer abc.def.ghi', 'content-type': 'application/json' }),
        body: JSON.stringify({ resource: 'orders/customers/42', scope: 'read' }),
        status: 401,
        error: 'invalid_token',
        code: 'ERR_TOKEN_MALFORMED',
      },
      {
        name: 'an expired Bearer token',
        headers: () => ({
          authorization: `Bearer ${env.mint({ lifetimeSeconds: -3600 })}`,
          'content-type': 'application/json',
        }),
        body: JSON.stringify({ resource: 'orders/customers/42', scope: 'read' }),
        status: 401,
        error: 'invalid_token',
        code: 'ERR_TOKEN_EXPIRED',
      },
      {
        name: 'a SAS credential',
        headers: () => ({ authorization: 'SharedAccessSignature sv=1', 'content-type': 'application/json' }),
        body: JSON.stringify({ resource: 'orders/customers/42', scope: 'read' }),
        status: 401,
        error: 'invalid_token',
        code: 'ERR_CREDENTIAL_SCHEME',
      },
      {
        name: 'wrong grant_type',
        headers: () => ({ authorization: `Bearer ${reader}`, 'content-type': 'application/json' }),
        body: JSON.stringify({ grant_type: 'password', resource: 'orders', scope: 'read' }),
        status: 400,
        error: 'unsupported_grant_type',
        code: 'ERR_GRANT_TYPE_UNSUPPORTED',
      },
      {
        name: 'Authorization header in the form mode',
        headers: () => ({
          authorization: `Bearer ${reader}`,
          'content-type': 'application/x-www-form-urlencoded',
        }),
        body: tokenForm({ subject_token: reader, resource: 'orders', scope: 'read' }),
        status: 400,
        error: 'invalid_request',
        code: 'ERR_TOKEN_REQUEST_INVALID',
      },
    ];

    it.each(jsonCases)('$name: $status $error $code', async ({ headers, body, status, error, code }) => {
      const res = await call(`${api}/token`, { method: 'POST', headers: headers(), body });
      expect({ status: res.status, error: res.json.error, code: res.json.code }).toEqual({
        status,
        error,
        code,
      });
      expect(res.json.access_token).toBeUndefined();
      expect(res.headers.get('cache-control')).toBe('no-store');
      if (status === 401 && code.startsWith('ERR_CREDENTIAL_'))
        // RFC 6750 section 3.1: no credential the endpoint takes, so no error in the challenge.
        expect(res.headers.get('www-authenticate')).toBe('Bearer realm="gateway"');
      else if (status === 401)
        expect(res.headers.get('www-authenticate')).toMatch(/^Bearer realm="gateway", error="invalid_token"/);
      else expect(res.headers.get('www-authenticate')).toBeNull();
    });

    it('GET /api/token is 405 as problem+json (the host answers it, not the OAuth endpoint)', async () => {
      const res = await call(`${api}/token`);
      expect([res.status, res.json.code, res.headers.get('allow')]).toEqual([
        405,
        'ERR_METHOD_NOT_ALLOWED',
        'POST',
      ]);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
    });
  });

  describe('SAS verification at /api/authorize', () => {
    let token: string;
    beforeAll(async () => {
      token = await issue(api, { subject_token: reader, resource: 'orders/customers/42', scope: 'read' });
    });

    const setField = (t: string, name: string, value: string) =>
      t
        .split('&')
        .map((p) => (p.startsWith(`${name}=`) ? `${name}=${value}` : p))
        .join('&');

    const tampered: [string, (f: ReturnType<typeof parseSasToken>) => string][] = [
      ['sr', () => 'orders%2Fcustomers%2F43'],
      ['sp', () => 'rcwd'],
      ['st', (f) => String(f.st - 1000)],
      ['se', (f) => String(f.se + 3600)],
      ['skn', () => 'k9'],
      ['sid', () => 'AAAAAAAAAAAAAAAAAAAAAA'],
      ['tid', () => '00000000-0000-4000-8000-000000000000'],
      ['oid', () => '43'],
      ['azp', () => 'someone-else'],
      ['spi', () => 'orders-read-all'],
      ['sig', (f) => `${f.sig.slice(0, -1)}${f.sig.endsWith('A') ? 'B' : 'A'}`],
    ];
    it.each(tampered)(
      'tampered %s: 401 ERR_SAS_INVALID with a SharedAccessSignature challenge',
      async (name, value) => {
        const changed = setField(token, name, value(parseSasToken(token)));
        expect(changed).not.toBe(token);
        const res = await authorizeWithSas(api, changed, {
          resource: 'orders',
          action: 'read',
          path: '/customers/42',
        });
        expect(res.status).toBe(401);
        expect(res.json.code).toBe('ERR_SAS_INVALID');
        expect(res.headers.get('www-authenticate')).toBe(
          'SharedAccessSignature realm="gateway", error="invalid_token", error_description="ERR_SAS_INVALID"',
        );
        expect(JSON.stringify(res.json)).not.toContain(parseSasToken(token).sig);
      },
    );

    it('a token signed with a key this gateway does not have: 401', async () => {
      const other = await env.startGateway({
        env: { SAS_SIGNING_KEYS: `k1=${Buffer.alloc(32, 9).toString('base64')}` },
      });
      const res = await authorizeWithSas(other.api, token, {
        resource: 'orders',
        action: 'read',
        path: '/customers/42',
      });
      expect(res.status).toBe(401);
      expect(res.json.code).toBe('ERR_SAS_INVALID');
      await other.close();
    });

    it.each([
      ['garbage', 'not a sas'],
      ['oversized', `sv=1&${'x'.repeat(5000)}`],
    ])('%s credential: 401', async (_name, credential) => {
      const res = await call(`${api}/authorize`, {
        method: 'POST',
        headers: { authorization: `SharedAccessSignature ${credential}`, 'content-type': 'application/json' },
        body: JSON.stringify({ resource: 'orders', action: 'read', path: '/' }),
      });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/^SharedAccessSignature /);
    });
  });

  describe('granting policies keep the token honest', () => {
    it('disabling a granting policy revokes what it granted; enabling it again does not revive it', async () => {
      const token = await issue(api, {
        subject_token: env.mint({ roles: ['Orders.Auditor'] }),
        resource: 'orders',
        scope: 'read',
      });
      const ask = () => authorizeWithSas(api, token, { resource: 'orders', action: 'read', path: '/x' });
      expect((await ask()).status).toBe(200);
      const policy = (await env.admin('GET', 'policies/orders-read-all')).json;
      await env.admin('PUT', 'policies/orders-read-all', { ...policy, enabled: false });
      const revoked = await ask();
      expect({ status: revoked.status, code: revoked.json.code }).toEqual({
        status: 401,
        code: 'ERR_SAS_REVOKED',
      });
      await env.admin('PUT', 'policies/orders-read-all', { ...policy, enabled: true });
      const still = await ask();
      expect({ status: still.status, code: still.json.code }).toEqual({
        status: 401,
        code: 'ERR_SAS_REVOKED',
      });
    });

    it('deleting a granting policy revokes what it granted', async () => {
      await env.admin('PUT', 'policies/orders-temp', {
        id: 'orders-temp',
        effect: 'allow',
        resource: 'orders',
        actions: ['write'],
        principals: { roles: ['Orders.Temp'] },
      });
      const token = await issue(api, {
        subject_token: env.mint({ roles: ['Orders.Temp'] }),
        resource: 'orders',
        scope: 'write',
      });
      expect(parseSasToken(token).spi).toEqual(['orders-temp']);
      const ask = () => authorizeWithSas(api, token, { resource: 'orders', action: 'write', path: '/x' });
      expect((await ask()).status).toBe(200);
      expect((await env.admin('DELETE', 'policies/orders-temp')).status).toBe(204);
      const res = await ask();
      expect({ status: res.status, code: res.json.code }).toEqual({ status: 401, code: 'ERR_SAS_REVOKED' });
    });
  });

  describe('time, with an injected clock', () => {
    let timed: ServedGateway;
    const clock = new ManualClock(Date.now());

    beforeAll(async () => {
      // The clock jumps hours: the state's age is on it too, so the staleness bound is set past it.
      timed = await env.startGateway({ clock, env: { POLICY_MAX_STALENESS_SECONDS: '86400' } });
    });

    it('expired at se, not valid before st - skew', async () => {
      clock.set(Date.now());
      const token = await issue(timed.api, {
        subject_token: reader,
        resource: 'orders/customers/42',
        scope: 'read',
      });
      const { st, se } = parseSasToken(token);
      const ask = async (atSeconds: number) => {
        clock.set(atSeconds * 1000);
        const res = await authorizeWithSas(timed.api, token, {
          resource: 'orders',
          action: 'read',
          path: '/customers/42',
        });
        return res.status === 200 ? 'ok' : res.json.code;
      };
      expect(await ask(se - 1)).toBe('ok');
      expect(await ask(se)).toBe('ERR_SAS_EXPIRED');
      expect(await ask(st - 60)).toBe('ok');
      expect(await ask(st - 61)).toBe('ERR_SAS_NOT_YET_VALID');
      clock.set(Date.now());
    });
  });
});
