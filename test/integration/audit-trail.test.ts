import type { AuditRecord } from '../../src/audit/audit-record';
import { DEV_USER_OID } from '../../src/host/local/dev-identity-provider';
import { startLocalStack, type LocalStack } from '../../src/host/local/local-stack';
import { MemoryLogger } from '../../src/logger';
import { ACCESS_TOKEN, KEY_1, TOKEN_EXCHANGE, tokenForm } from '../helpers/gateway-stack';
import { authorize, call, jsonCall } from '../helpers/http';

const NOW_S = Math.floor(Date.now() / 1000);

describe('audit trail', () => {
  let stack: LocalStack;
  let api: string;
  const logger = new MemoryLogger();
  /** Every credential and secret this test hands the gateway: none may reach a record or a log line. */
  const secrets: string[] = [];

  beforeAll(async () => {
    stack = await startLocalStack({ env: { SAS_SIGNING_KEYS: KEY_1 }, port: 0, logger });
    api = `${stack.gatewayUrl}/api`;
    secrets.push(KEY_1.slice(3));
  });

  afterAll(() => stack?.close());

  async function records(query: string, admin: string): Promise<AuditRecord[]> {
    await stack.gateway!.auditLog.flush();
    const res = await call(`${api}/audit?${query}`, jsonCall('GET', admin));
    expect(res.status).toBe(200);
    return res.json.items as AuditRecord[];
  }

  it('keeps one record per decision, with who, what, the outcome and why, and nothing secret', async () => {
    const admin = stack.idp!.mintToken({ roles: ['Gateway.Admin'] });
    // Identifiers policies may never read ride along: none may reach a record.
    const reader = stack.idp!.mintToken({
      roles: ['Orders.Reader'],
      groups: ['6c1b7a2e-1111-4222-8333-444455556666'],
      claims: {
        email: 'reader.email@example.com',
        upn: 'reader.upn@example.com',
        preferred_username: 'reader.pref@example.com',
        acrs: ['c1'],
        amr: ['pwd', 'mfa'],
        unread: 'a claim no policy reads',
      },
    });
    secrets.push(admin, reader);
    const own = `/customers/${DEV_USER_OID}/orders`;
    const t0 = Date.now(); // after the stack seeded its demo policies (admin writes of its own)

    // A decision, a deny, a bad credential, an exchange, an admin change, an admin read, a revocation.
    const allowed = await authorize(api, reader, { resource: 'orders', action: 'read', path: own });
    await authorize(api, reader, { resource: 'orders', action: 'delete', path: own });
    await authorize(api, `${reader.slice(0, -4)}AAAA`, { resource: 'orders', action: 'read', path: own });
    secrets.push(`${reader.slice(0, -4)}AAAA`);
    const exchanged = await call(`${api}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: tokenForm({
        grant_type: TOKEN_EXCHANGE,
        subject_token: reader,
        subject_token_type: ACCESS_TOKEN,
        resource: `orders/customers/${DEV_USER_OID}`,
        scope: 'read',
      }),
    });
    expect(exchanged.status).toBe(200);
    const sas = exchanged.json.access_token as string;
    secrets.push(sas, /sig=([^&]+)/.exec(sas)![1]!);
    await call(`${api}/authorize`, {
      method: 'POST',
      headers: { authorization: `SharedAccessSignature ${sas}`, 'content-type': 'application/json' },
      body: JSON.stringify({ resource: 'orders', action: 'read', path: own }),
    });
    await call(
      `${api}/policies/audit-demo`,
      jsonCall('PUT', admin, { effect: 'allow', resource: 'orders', actions: ['read'] }),
    );
    await call(`${api}/policies`, jsonCall('GET', admin));
    await call(
      `${api}/revocations`,
      jsonCall('POST', admin, { oid: '11111111-2222-4333-8444-555555555555' }),
    );

    const mine = (await records(`oid=${DEV_USER_OID}`, admin)).filter((r) => r.ts >= t0);
    const summary = mine.map((r) => [r.operation, r.decision, r.reasonCode, r.status, r.credential]);
    expect(summary).toEqual([
      ['authorize', 'allow', 'ALLOWED', 200, 'entra'],
      ['authorize', 'deny', 'NO_MATCHING_POLICY', 200, 'entra'],
      ['token', 'allow', 'ALLOWED', 200, 'entra'],
      ['authorize', 'allow', 'ALLOWED', 200, 'sas'],
      ['admin', 'allow', 'ALLOWED', 201, 'entra'],
      ['revocation', 'allow', 'ALLOWED', 201, 'entra'],
    ]);
    expect(mine[0]).toMatchObject({
      correlationId: allowed.headers.get('x-correlation-id'),
      oid: DEV_USER_OID,
      tid: stack.idp!.tenantId,
      resource: 'orders',
      action: 'read',
      path: `/customers/${DEV_USER_OID}/orders`,
      policies: ['orders-read-own'],
    });
    expect(mine[2]).toMatchObject({ resource: 'orders', action: 'read', path: `/customers/${DEV_USER_OID}` });

    // What the policies read of the caller, kept for `gateway replay`: the subject as the policies
    // saw it, the claims they read (`oid`, by the demo's {claims.oid} paths) plus acrs and amr.
    const inputs = {
      roles: ['Orders.Reader'],
      scopes: ['access_as_user'],
      groups: ['6c1b7a2e-1111-4222-8333-444455556666'],
      idtyp: 'user',
      claims: { acrs: ['c1'], amr: ['pwd', 'mfa'], oid: DEV_USER_OID },
    };
    expect(mine[0]!.inputs).toEqual({ decided: 'allow', reason: 'ALLOWED', ...inputs });
    expect(mine[1]!.inputs).toEqual({ decided: 'deny', reason: 'NO_MATCHING_POLICY', ...inputs });
    expect(mine[2]!.inputs).toEqual({ decided: 'allow', reason: 'ALLOWED', ...inputs });
    // A SAS caller's decision is its grant's; admin writes and revocations are not policy decisions.
    expect(mine.slice(3).map((r) => r.inputs)).toEqual([null, null, null]);
    expect(mine[4]).toMatchObject({ resource: 'policies/audit-demo', action: 'write' });
    expect(mine.every((r) => r.latencyMs >= 0 && r.time.endsWith('Z'))).toBe(true);

    // The refused credential has no user: it is in the day's records, not the user's.
    const day = await records(`from=${Math.floor(Date.now() / 1000) - 60}`, admin);
    expect(day.map((r) => [r.operation, r.decision, r.reasonCode, r.status, r.oid])).toContainEqual([
      'authorize',
      'deny',
      'ERR_TOKEN_SIGNATURE',
      401,
      null,
    ]);
    expect(day.some((r) => r.operation === 'admin' && r.status === 200)).toBe(false); // reads are not audited

    const everything = JSON.stringify([day, logger.entries]);
    for (const leak of ['reader.email@', 'reader.upn@', 'reader.pref@', 'a claim no policy reads'])
      expect(everything).not.toContain(leak);
    for (const secret of secrets) expect(everything).not.toContain(secret);
    expect(everything).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\.eyJ/); // no JWT of any kind
    expect(everything).not.toMatch(/sig=/);
  });

  it.each([
    ['no credential', '', undefined, 401, 'ERR_CREDENTIAL_MISSING'],
    ['a reader', '', 'reader', 403, 'ERR_ADMIN_ROLE_REQUIRED'],
    ['a range over 31 days', `from=${NOW_S - 40 * 86_400}&to=${NOW_S}`, 'admin', 400, 'ERR_VALIDATION'],
    [
      'a range before what the trail keeps (90 days)',
      `from=${NOW_S - 92 * 86_400}&to=${NOW_S - 91 * 86_400}`,
      'admin',
      400,
      'ERR_VALIDATION',
    ],
    ['from after to', 'from=2000&to=1000', 'admin', 400, 'ERR_VALIDATION'],
    ['a bad time', 'from=yesterday', 'admin', 400, 'ERR_VALIDATION'],
    ['an unknown parameter', 'user=x', 'admin', 400, 'ERR_VALIDATION'],
    ['a parameter twice', 'oid=a&oid=b', 'admin', 400, 'ERR_VALIDATION'],
    ['limit 0', 'limit=0', 'admin', 400, 'ERR_VALIDATION'],
    ['a forged cursor', 'cursor=abc', 'admin', 400, 'ERR_VALIDATION'],
  ])('GET /api/audit refuses %s', async (_case, query, who, status, code) => {
    const token =
      who === undefined
        ? undefined
        : stack.idp!.mintToken({ roles: who === 'admin' ? ['Gateway.Admin'] : ['Orders.Reader'] });
    const res = await call(`${api}/audit?${query}`, jsonCall('GET', token));
    expect([res.status, res.json.code]).toEqual([status, code]);
  });

  it.each(['/api/proxy/orders/customers/%E0%A4%A/orders', '/api/proxy/orders/a%zz', '/api/proxy/orders/%'])(
    'audits a proxy refusal of malformed percent-encoding (%s), which the route answers, not the host',
    async (path) => {
      const admin = stack.idp!.mintToken({ roles: ['Gateway.Admin'] });
      const correlationId = `malformed-${Math.random().toString(36).slice(2)}`;
      const res = await call(`${stack.gatewayUrl}${path}`, {
        headers: { 'x-correlation-id': correlationId },
      });
      expect(res.status).toBe(400);
      expect(res.json.code).toBe('ERR_PATH_TRAVERSAL');
      const found = (await records(`from=${Math.floor(Date.now() / 1000) - 60}&limit=500`, admin)).filter(
        (r) => r.correlationId === correlationId,
      );
      expect(found).toEqual([
        expect.objectContaining({
          operation: 'proxy',
          decision: 'deny',
          status: 400,
          reasonCode: 'ERR_PATH_TRAVERSAL',
        }),
      ]);
    },
  );

  it('keeps answering while the audit store is down, buffering and reporting the backlog', async () => {
    const own = await startLocalStack({ env: {}, port: 0, logger: new MemoryLogger() });
    try {
      const reader = own.idp!.mintToken({ roles: ['Orders.Reader'] });
      await own.gateway!.auditLog.flush(); // the demo seeding's records
      const written = own.gateway!.auditLog.stats.written;
      await own.cosmos!.close();
      const res = await authorize(`${own.gatewayUrl}/api`, reader, {
        resource: 'orders',
        action: 'read',
        path: `/customers/${DEV_USER_OID}/orders`,
      });
      expect(res.json).toMatchObject({ allowed: true });
      await own.gateway!.auditLog.flush();
      expect(own.gateway!.auditLog.stats).toMatchObject({ queued: 1, written, failedWrites: 1 });
      const health = await call(`${own.gatewayUrl}/api/health`);
      expect(health.json.checks).toMatchObject({ audit: { status: 'degraded', queued: 1, dropped: 0 } });
    } finally {
      await own.close();
    }
  });
});
