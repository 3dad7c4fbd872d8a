import { DEV_USER_OID } from '../../src/host/local/dev-identity-provider';
import { startLocalStack, type LocalStack } from '../../src/host/local/local-stack';
import { MemoryLogger } from '../../src/logger';
import { authorize, call, jsonCall } from '../helpers/http';
import { startSecondGateway } from '../helpers/second-gateway';
import { startDemoStack } from '../helpers/demo-stack';

const BLOCKED_GROUP = '5b1e7c1a-0000-4000-8000-00000000b10c';

const policy = (id: string, extra: Record<string, unknown> = {}) => ({
  id,
  effect: 'allow',
  resource: 'orders',
  paths: ['/reports/**'],
  actions: ['read'],
  principals: { roles: ['Reports.Reader'] },
  ...extra,
});

describe('admin and decision APIs on the local stack (embedded Cosmos DB, demo policies)', () => {
  let stack: LocalStack;
  let api: string;
  let admin: string;
  let reader: string;

  beforeAll(async () => {
    ({ stack, api, admin, reader } = await startDemoStack());
  });

  afterAll(() => stack?.close());

  describe('access', () => {
    it.each([
      ['no credential', undefined, 401, 'ERR_CREDENTIAL_MISSING'],
      ['a caller without the admin role', 'reader', 403, 'ERR_ADMIN_ROLE_REQUIRED'],
      ['a forged token', 'forged', 401, 'ERR_TOKEN_MALFORMED'],
    ])('refuses %s', async (_case, who, status, code) => {
      const token = who === 'reader' ? reader : who === 'forged' ? 'x.y.z' : undefined;
      for (const route of ['policies', 'resources', 'policies/orders-read-own']) {
        const res = await call(`${api}/${route}`, jsonCall('GET', token));
        expect([res.status, res.json.code]).toEqual([status, code]);
        expect(res.headers.get('content-type')).toBe('application/problem+json');
      }
    });
  });

  it('lists the seeded demo documents', async () => {
    const policies = await call(`${api}/policies`, jsonCall('GET', admin));
    expect(policies.status).toBe(200);
    const ids = (policies.json.items as { id: string }[]).map((p) => p.id);
    expect(ids).toEqual(
      expect.arrayContaining(['orders-read-own', 'orders-writers', 'orders-deny-blocked-group']),
    );
    const resources = await call(`${api}/resources`, jsonCall('GET', admin));
    expect(resources.json.items).toEqual([
      expect.objectContaining({ name: 'orders', timeoutMs: 10000 }),
      expect.objectContaining({
        name: 'orders-as-user',
        auth: expect.objectContaining({ type: 'onBehalfOf' }),
      }),
    ]);
  });

  it('creates (201), replaces (200), honours If-Match (412 when stale) and soft-deletes (204, then 404)', async () => {
    const url = `${api}/policies/reports-read`;
    const created = await call(url, jsonCall('PUT', admin, policy('reports-read')));
    expect(created.status).toBe(201);
    const etag1 = created.headers.get('etag')!;
    expect(etag1).toMatch(/^".+"$/);
    expect(created.json).toMatchObject({ id: 'reports-read', enabled: true });

    const read = await call(url, jsonCall('GET', admin));
    expect(read.headers.get('etag')).toBe(etag1);

    const replaced = await call(
      url,
      jsonCall('PUT', admin, policy('reports-read', { actions: ['read', 'create'] }), { 'if-match': etag1 }),
    );
    expect(replaced.status).toBe(200);
    const etag2 = replaced.headers.get('etag')!;
    expect(etag2).not.toBe(etag1);

    const stale = await call(url, jsonCall('PUT', admin, policy('reports-read'), { 'if-match': etag1 }));
    expect([stale.status, stale.json.code]).toEqual([412, 'ERR_PRECONDITION_FAILED']);
    const staleDelete = await call(url, jsonCall('DELETE', admin, undefined, { 'if-match': etag1 }));
    expect([staleDelete.status, staleDelete.json.code]).toEqual([412, 'ERR_PRECONDITION_FAILED']);

    const deleted = await call(url, jsonCall('DELETE', admin, undefined, { 'if-match': etag2 }));
    expect(deleted.status).toBe(204);
    const gone = await call(url, jsonCall('GET', admin));
    expect([gone.status, gone.json.code]).toEqual([404, 'ERR_NOT_FOUND']);
    const again = await call(url, jsonCall('DELETE', admin));
    expect([again.status, again.json.code]).toEqual([404, 'ERR_NOT_FOUND']);
    const ifMatchAbsent = await call(
      `${api}/policies/never-existed`,
      jsonCall('PUT', admin, policy('never-existed'), { 'if-match': '*' }),
    );
    expect([ifMatchAbsent.status, ifMatchAbsent.json.code]).toEqual([412, 'ERR_PRECONDITION_FAILED']);
  });

  // Each row: a hostile or malformed write, the status, the code and the field at fault.
  it.each<[string, string, RequestInit, number, string, string | null | undefined]>([
    [
      'unknown field',
      'policies/p1',
      jsonCall('PUT', 'ADMIN', { ...policy('p1'), owner: 'me' }),
      400,
      'ERR_VALIDATION',
      'owner',
    ],
    [
      'traversal in a glob',
      'policies/p1',
      jsonCall('PUT', 'ADMIN', policy('p1', { paths: ['/a', '/b/../c'] })),
      400,
      'ERR_VALIDATION',
      'paths[1]',
    ],
    [
      'bad effect',
      'policies/p1',
      jsonCall('PUT', 'ADMIN', policy('p1', { effect: 'maybe' })),
      400,
      'ERR_VALIDATION',
      'effect',
    ],
    [
      'bad action',
      'policies/p1',
      jsonCall('PUT', 'ADMIN', policy('p1', { actions: ['read', 'steal'] })),
      400,
      'ERR_VALIDATION',
      'actions[1]',
    ],
    [
      'empty principals list',
      'policies/p1',
      jsonCall('PUT', 'ADMIN', policy('p1', { principals: { roles: [] } })),
      400,
      'ERR_VALIDATION',
      'principals.roles',
    ],
    [
      'id differs from the route',
      'policies/p1',
      jsonCall('PUT', 'ADMIN', policy('p2')),
      400,
      'ERR_VALIDATION',
      'id',
    ],
    [
      'bad id in the route',
      'policies/a%20b',
      jsonCall('PUT', 'ADMIN', policy('a b')),
      400,
      'ERR_VALIDATION',
      'id',
    ],
    ['array body', 'policies/p1', jsonCall('PUT', 'ADMIN', [policy('p1')]), 400, 'ERR_VALIDATION', null],
    ['malformed JSON', 'policies/p1', jsonCall('PUT', 'ADMIN', '{"id":'), 400, 'ERR_BAD_REQUEST', undefined],
    [
      'wrong content type',
      'policies/p1',
      { method: 'PUT', headers: { authorization: 'Bearer ADMIN', 'content-type': 'text/plain' }, body: '{}' },
      415,
      'ERR_UNSUPPORTED_MEDIA_TYPE',
      undefined,
    ],
    [
      'oversized body',
      'policies/p1',
      jsonCall('PUT', 'ADMIN', policy('p1', { description: 'x'.repeat(70_000) })),
      413,
      'ERR_PAYLOAD_TOO_LARGE',
      undefined,
    ],
    [
      'PUT on the collection',
      'policies',
      jsonCall('PUT', 'ADMIN', policy('p1')),
      405,
      'ERR_METHOD_NOT_ALLOWED',
      undefined,
    ],
    [
      'upstream host not allowed',
      'resources/evil',
      jsonCall('PUT', 'ADMIN', {
        name: 'evil',
        upstream: 'https://evil.example.net/api',
        auth: { type: 'none' },
      }),
      400,
      'ERR_VALIDATION',
      'upstream',
    ],
    [
      'plain http upstream off loopback',
      'resources/evil',
      jsonCall('PUT', 'ADMIN', {
        name: 'evil',
        upstream: 'http://localhost.evil.net/api',
        auth: { type: 'none' },
      }),
      400,
      'ERR_VALIDATION',
      'upstream',
    ],
    [
      'unknown auth type',
      'resources/r1',
      jsonCall('PUT', 'ADMIN', { name: 'r1', upstream: 'http://127.0.0.1:9/api', auth: { type: 'basic' } }),
      400,
      'ERR_VALIDATION',
      'auth.type',
    ],
    ...[
      'CONTAINER_ENCRYPTION_KEY',
      'CONTAINER_START_CONTEXT_SAS_URI',
      'APPINSIGHTS_INSTRUMENTATIONKEY',
      'SAS_SIGNING_KEYS',
    ].map((keySetting): [string, string, RequestInit, number, string, string] => [
      `a function key from ${keySetting}, which DOWNSTREAM_KEY_SETTINGS does not list`,
      'resources/r1',
      jsonCall('PUT', 'ADMIN', {
        name: 'r1',
        upstream: 'http://127.0.0.1:9/api',
        auth: { type: 'functionKey', keySetting },
      }),
      400,
      'ERR_VALIDATION',
      'auth.keySetting',
    ]),
    [
      'a statement audience with spaces',
      'resources/r1',
      jsonCall('PUT', 'ADMIN', {
        name: 'r1',
        upstream: 'http://127.0.0.1:9/api',
        auth: { type: 'none' },
        audience: 'api://orders downstream',
      }),
      400,
      'ERR_VALIDATION',
      'audience',
    ],
    [
      'boundStatement not a boolean',
      'resources/r1',
      jsonCall('PUT', 'ADMIN', {
        name: 'r1',
        upstream: 'http://127.0.0.1:9/api',
        auth: { type: 'none' },
        boundStatement: 'yes',
      }),
      400,
      'ERR_VALIDATION',
      'boundStatement',
    ],
    [
      'name differs from the route',
      'resources/r1',
      jsonCall('PUT', 'ADMIN', { name: 'r2', upstream: 'http://127.0.0.1:9/api', auth: { type: 'none' } }),
      400,
      'ERR_VALIDATION',
      'name',
    ],
  ])('refuses %s', async (_case, route, init, status, code, field) => {
    const headers = { ...(init.headers as Record<string, string>) };
    headers.authorization = headers.authorization!.replace('ADMIN', admin);
    const res = await call(`${api}/${route}`, { ...init, headers });
    expect([res.status, res.json.code]).toEqual([status, code]);
    if (field !== undefined) expect(res.json.field).toBe(field);
    expect((await call(`${api}/policies/p1`, jsonCall('GET', admin))).status).toBe(404); // nothing half-written
  });

  describe('decision API', () => {
    const ask = (token: string, body: unknown) => authorize(api, token, body);

    it.each([
      [
        'own orders',
        ['Orders.Reader'],
        [],
        `/customers/${DEV_USER_OID}/orders`,
        'read',
        true,
        'ALLOWED',
        ['orders-read-own'],
      ],
      [
        "someone else's orders",
        ['Orders.Reader'],
        [],
        '/customers/42/orders',
        'read',
        false,
        'NO_MATCHING_POLICY',
        [],
      ],
      [
        'a writer creating',
        ['Orders.Writer'],
        [],
        '/customers/42/orders/7',
        'create',
        true,
        'ALLOWED',
        ['orders-writers'],
      ],
      [
        'a writer deleting',
        ['Orders.Writer'],
        [],
        '/customers/42/orders/7',
        'delete',
        false,
        'NO_MATCHING_POLICY',
        [],
      ],
      [
        'a blocked writer',
        ['Orders.Writer'],
        [BLOCKED_GROUP],
        '/customers/42/orders/7',
        'create',
        false,
        'EXPLICIT_DENY',
        ['orders-deny-blocked-group'],
      ],
      [
        'a caller without roles',
        [],
        [],
        `/customers/${DEV_USER_OID}/orders`,
        'read',
        false,
        'NO_MATCHING_POLICY',
        [],
      ],
    ])('decides %s', async (_case, roles, groups, path, action, allowed, reasonCode, policies) => {
      const token = stack.idp!.mintToken({ roles, groups });
      const res = await ask(token, { resource: 'orders', action, path });
      expect(res.status).toBe(200);
      expect(res.json).toMatchObject({ allowed, decision: allowed ? 'allow' : 'deny', reasonCode, policies });
      expect(typeof res.json.reason).toBe('string');
      expect(res.json.candidates).toBeUndefined(); // explanations are for admins only
    });

    it('denies an unknown resource with its reason', async () => {
      const res = await ask(reader, { resource: 'payroll', action: 'read', path: '/' });
      expect(res.json).toMatchObject({ allowed: false, reasonCode: 'UNKNOWN_RESOURCE', policies: [] });
    });

    it('answers an admin what-if for other claims, with every candidate policy explained', async () => {
      const res = await ask(admin, {
        resource: 'orders',
        action: 'read',
        path: '/customers/abc/orders',
        principal: { oid: 'abc', roles: ['Orders.Reader'] },
      });
      expect(res.json).toMatchObject({ allowed: true, policies: ['orders-read-own'] });
      expect(res.json.candidates).toEqual(
        expect.arrayContaining([
          { id: 'orders-read-own', effect: 'allow', outcome: 'matched' },
          { id: 'orders-deny-blocked-group', effect: 'deny', outcome: 'principals' },
        ]),
      );
    });

    it.each([
      [
        'what-if by a non-admin',
        'reader',
        { resource: 'orders', action: 'read', path: '/', principal: { oid: 'x' } },
        403,
        'ERR_ADMIN_ROLE_REQUIRED',
      ],
      ['unknown action', 'reader', { resource: 'orders', action: 'steal', path: '/' }, 400, 'ERR_VALIDATION'],
      [
        'unknown field',
        'reader',
        { resource: 'orders', action: 'read', path: '/', extra: 1 },
        400,
        'ERR_VALIDATION',
      ],
      ['no resource', 'reader', { action: 'read' }, 400, 'ERR_VALIDATION'],
      [
        'a bad credential',
        'bad',
        { resource: 'orders', action: 'read', path: '/' },
        401,
        'ERR_TOKEN_MALFORMED',
      ],
    ])('refuses %s', async (_case, who, body, status, code) => {
      const res = await ask(who === 'reader' ? reader : 'a.b.c', body);
      expect([res.status, res.json.code]).toEqual([status, code]);
    });

    it.each(['/customers/../admin', '/customers/%2e%2e/x', '/a//b', 'no-leading-slash', '/a\\b'])(
      'denies the hostile path %p without an error',
      async (path) => {
        const res = await ask(reader, { resource: 'orders', action: 'read', path });
        expect(res.status).toBe(200);
        expect(res.json).toMatchObject({ allowed: false, decision: 'deny' });
      },
    );
  });

  describe('a second gateway instance', () => {
    it('sees a change, and a soft delete, after its refresh', async () => {
      const second = await startSecondGateway(stack);
      try {
        const writer = stack.idp!.mintToken({ roles: ['Audit.Reader'] });
        const query = { resource: 'orders', action: 'read', path: '/audit/2026' };
        const askSecond = () => authorize(`${second.url}/api`, writer, query);
        expect((await askSecond()).json.allowed).toBe(false);

        const put = await call(
          `${api}/policies/audit-read`,
          jsonCall(
            'PUT',
            admin,
            policy('audit-read', { paths: ['/audit/**'], principals: { roles: ['Audit.Reader'] } }),
          ),
        );
        expect(put.status).toBe(201);
        // The writing instance sees its change at once; the other one after its next refresh tick.
        expect((await authorize(api, writer, query)).json.allowed).toBe(true);
        await second.gateway.state.refresher.refresh();
        expect((await askSecond()).json).toMatchObject({ allowed: true, policies: ['audit-read'] });

        expect((await call(`${api}/policies/audit-read`, jsonCall('DELETE', admin))).status).toBe(204);
        await second.gateway.state.refresher.refresh();
        expect((await askSecond()).json).toMatchObject({ allowed: false, reasonCode: 'NO_MATCHING_POLICY' });
      } finally {
        await second.close();
      }
    });
  });
});

describe('Cosmos DB failures', () => {
  it('mid-run: keeps the last good policies, says degraded, and refuses writes with 503', async () => {
    const stack = await startLocalStack({ env: {}, port: 0, logger: new MemoryLogger() });
    try {
      const api = `${stack.gatewayUrl}/api`;
      const admin = stack.idp!.mintToken({ roles: ['Gateway.Admin'] });
      const reader = stack.idp!.mintToken({ roles: ['Orders.Reader'] });
      const own = { resource: 'orders', action: 'read', path: `/customers/${DEV_USER_OID}/orders` };

      await stack.cosmos!.close();
      await stack.gateway!.state.refresher.refresh();

      const decision = await authorize(api, reader, own);
      expect(decision.json).toMatchObject({ allowed: true, policies: ['orders-read-own'] });
      const health = await call(`${api}/health`);
      expect(health.json.checks).toMatchObject({ policies: { status: 'degraded' } });
      const write = await call(`${api}/policies/x`, jsonCall('PUT', admin, policy('x')));
      expect([write.status, write.json.code]).toEqual([503, 'ERR_STORE_UNAVAILABLE']);
    } finally {
      await stack.close();
    }
  });

  it('at start: fails closed with 503 and never allows', async () => {
    const stack = await startLocalStack({
      env: { COSMOS_ENDPOINT: 'https://127.0.0.1:1', COSMOS_KEY: 'ZHVtbXk=' },
      port: 0,
      logger: new MemoryLogger(),
    });
    try {
      const api = `${stack.gatewayUrl}/api`;
      const reader = stack.idp!.mintToken({ roles: ['Orders.Reader'] });
      const health = await call(`${api}/health`);
      expect(health.status).toBe(503);
      expect(health.json.failing).toEqual(expect.arrayContaining(['cosmos', 'policies']));
      const decision = await authorize(api, reader, {
        resource: 'orders',
        action: 'read',
        path: `/customers/${DEV_USER_OID}/orders`,
      });
      expect([decision.status, decision.json.code]).toEqual([503, 'ERR_POLICY_STORE_UNAVAILABLE']);
    } finally {
      await stack.close();
    }
  });
});
