import { ManualClock, nowSeconds } from '../../src/clock';
import {
  authorizeWithSas,
  call,
  issue,
  parseSasToken,
  SasTestStack,
  type ServedGateway,
} from '../helpers/gateway-stack';

describe('POST /api/revocations', () => {
  let env: SasTestStack;
  let second: ServedGateway;
  const clock = new ManualClock(Date.now());
  let timed: ServedGateway;

  beforeAll(async () => {
    env = await SasTestStack.start();
    second = await env.startGateway();
    // The clock jumps hours: the state's age is on it too, so the staleness bound is set past it.
    timed = await env.startGateway({ clock, env: { POLICY_MAX_STALENESS_SECONDS: '86400' } });
  });

  afterAll(() => env?.close());

  const issueFor = (api: string, oid: string) =>
    issue(api, {
      subject_token: env.mint({ oid, roles: ['Orders.Reader'] }),
      resource: `orders/customers/${oid}`,
      scope: 'read',
    });
  const ask = async (api: string, token: string) => {
    const { sr } = parseSasToken(token);
    const res = await authorizeWithSas(api, token, {
      resource: 'orders',
      action: 'read',
      path: `/${sr.split('/').slice(1).join('/')}`,
    });
    return res.status === 200 ? (res.json.allowed ? 'ok' : 'deny') : (res.json.code as string);
  };

  it('by sid: at once on this instance, on another after its refresh', async () => {
    const token = await issueFor(env.api, 'user-sid');
    const other = await issueFor(env.api, 'user-sid');
    expect(await ask(second.api, token)).toBe('ok');
    const { sid } = parseSasToken(token);
    const res = await env.admin('POST', 'revocations', { sid });
    expect(res.status).toBe(201);
    expect(res.json).toMatchObject({ id: `sid:${sid}`, kind: 'sid', sid, revokedAt: expect.any(Number) });
    expect(res.json.purgeAfter).toBe((res.json.revokedAt as number) + 3600 + 60);
    expect(res.json.ttl).toBe(3600 + 60);
    expect(JSON.stringify(res.json)).not.toMatch(/_etag|_rid|secret/);
    expect(await ask(env.api, token)).toBe('ERR_SAS_REVOKED');
    expect(await ask(env.api, other)).toBe('ok');
    // The second instance learns it on its next refresh (POLICY_REFRESH_SECONDS), not before.
    expect(await ask(second.api, token)).toBe('ok');
    await second.gateway.state.refresher.refresh();
    expect(await ask(second.api, token)).toBe('ERR_SAS_REVOKED');
    expect(await ask(second.api, other)).toBe('ok');
  });

  it('by oid and before: tokens issued before are revoked, later ones are not', async () => {
    clock.set(Date.now());
    const early = await issueFor(timed.api, 'user-oid');
    const now = nowSeconds(clock);
    const res = await call(`${timed.api}/revocations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${env.adminToken()}`, 'content-type': 'application/json' },
      body: JSON.stringify({ oid: 'user-oid', before: now + 1 }),
    });
    expect(res.status).toBe(201);
    expect(res.json).toMatchObject({ id: 'oid:user-oid', kind: 'oid', before: now + 1 });
    clock.advance(10_000);
    const late = await issueFor(timed.api, 'user-oid');
    expect(await ask(timed.api, early)).toBe('ERR_SAS_REVOKED');
    expect(await ask(timed.api, late)).toBe('ok');
    await second.gateway.state.refresher.refresh();
    expect(await ask(second.api, early)).toBe('ERR_SAS_REVOKED');
    expect(await ask(second.api, late)).toBe('ok');
  });

  it('before defaults to now; a later before replaces an earlier one, never the reverse', async () => {
    const first = await env.admin('POST', 'revocations', { oid: 'user-order' });
    expect(first.status).toBe(201);
    const before = first.json.before as number;
    expect(before).toBe(first.json.revokedAt);
    const earlier = await env.admin('POST', 'revocations', { oid: 'user-order', before: before - 100 });
    expect(earlier.status).toBe(200);
    expect(earlier.json.before).toBe(before);
    const later = await env.admin('POST', 'revocations', { oid: 'user-order', before: before + 30 });
    expect(later.status).toBe(201);
    expect(later.json.before).toBe(before + 30);
  });

  it('by oid: a token issued earlier in the very second of before is revoked', async () => {
    const second = Math.floor(Date.now() / 1000) + 100;
    clock.set(second * 1000 + 100); // early in the second
    const early = await issueFor(timed.api, 'user-same-second');
    clock.set(second * 1000 + 900); // later in the same second: revoke everything before now
    const res = await call(`${timed.api}/revocations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${env.adminToken()}`, 'content-type': 'application/json' },
      body: JSON.stringify({ oid: 'user-same-second' }),
    });
    expect(res.json).toMatchObject({ before: second });
    expect(await ask(timed.api, early)).toBe('ERR_SAS_REVOKED');
    clock.set(Date.now());
  });

  it('by oid: object ids compare without case (one user, one record)', async () => {
    const oid = 'a1b2c3d4-0000-4000-8000-0000000000ab';
    const token = await issueFor(env.api, oid);
    const res = await env.admin('POST', 'revocations', { oid: oid.toUpperCase() });
    expect(res.status).toBe(201);
    expect(res.json).toMatchObject({ id: `oid:${oid}`, oid });
    expect(await ask(env.api, token)).toBe('ERR_SAS_REVOKED');
    // The same user in lower case finds the record already there.
    expect((await env.admin('POST', 'revocations', { oid, before: res.json.before as number })).status).toBe(
      200,
    );
  });

  it('purges records no token can need any more (housekeeping)', async () => {
    clock.set(Date.now());
    const token = await issueFor(timed.api, 'user-purge');
    const { sid } = parseSasToken(token);
    const res = await call(`${timed.api}/revocations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${env.adminToken()}`, 'content-type': 'application/json' },
      body: JSON.stringify({ sid }),
    });
    const store = timed.gateway.state.revocations.store;
    expect(await store.get(`sid:${sid}`)).toBeDefined();
    clock.set(((res.json.purgeAfter as number) - 1) * 1000);
    await timed.gateway.state.purgeTombstones();
    expect(await store.get(`sid:${sid}`)).toBeDefined();
    clock.set(((res.json.purgeAfter as number) + 1) * 1000);
    await timed.gateway.state.purgeTombstones();
    expect(await store.get(`sid:${sid}`)).toBeUndefined();
    clock.set(Date.now());
  });

  it.each([
    { name: 'empty object', body: {}, status: 400, code: 'ERR_VALIDATION' },
    {
      name: 'both sid and oid',
      body: { sid: 'AAAAAAAAAAAAAAAAAAAAAA', oid: 'x' },
      status: 400,
      code: 'ERR_VALIDATION',
    },
    { name: 'sid too short', body: { sid: 'abc' }, status: 400, code: 'ERR_VALIDATION' },
    { name: 'sid not a string', body: { sid: 42 }, status: 400, code: 'ERR_VALIDATION' },
    {
      name: 'before not a number',
      body: { oid: 'u', before: '2026-01-01' },
      status: 400,
      code: 'ERR_VALIDATION',
    },
    { name: 'before fractional', body: { oid: 'u', before: 1.5 }, status: 400, code: 'ERR_VALIDATION' },
    {
      name: 'before in the future',
      body: { oid: 'u', before: Math.floor(Date.now() / 1000) + 3600 },
      status: 400,
      code: 'ERR_VALIDATION',
    },
    {
      name: 'unknown member',
      body: { sid: 'AAAAAAAAAAAAAAAAAAAAAA', reason: 'x' },
      status: 400,
      code: 'ERR_VALIDATION',
    },
    { name: 'an array', body: [], status: 400, code: 'ERR_VALIDATION' },
  ])('$name: $status $code', async ({ body, status, code }) => {
    const res = await env.admin('POST', 'revocations', body);
    expect({ status: res.status, code: res.json.code }).toEqual({ status, code });
  });

  it('needs the admin role: 401 without a credential, 403 for a reader or a SAS', async () => {
    const none = await call(`${env.api}/revocations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"oid":"x"}',
    });
    expect({ status: none.status, code: none.json.code }).toEqual({
      status: 401,
      code: 'ERR_CREDENTIAL_MISSING',
    });
    const reader = await call(`${env.api}/revocations`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${env.mint({ roles: ['Orders.Reader'] })}`,
        'content-type': 'application/json',
      },
      body: '{"oid":"x"}',
    });
    expect({ status: reader.status, code: reader.json.code }).toEqual({
      status: 403,
      code: 'ERR_ADMIN_ROLE_REQUIRED',
    });
  });
});
