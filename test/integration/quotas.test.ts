/**
 * Quotas exact across instances (contract §4 "Quotas", docs/quotas.md): three gateway instances
 * on one real `redis-server` and one Cosmos DB, real tokens, real downstream. A quota of 100 per
 * minute for one client allows exactly 100 of 300 calls spread over the instances; the RateLimit
 * fields and `Retry-After`; the decision API's remaining quota, spending nothing; Redis frozen or
 * stopped decided within the bound by `quotaStoreFailure`, never a 5xx, and recovery on its own.
 * And the DPoP replay store on Redis: a proof used on one instance is refused on another.
 *
 * The gateways share one clock set to the middle of the current minute, so the 300 calls fall in
 * one window whatever second the test starts at.
 */
import * as redisClient from '@redis/client';
import type { Clock } from '../../src/clock';
import { DEV_USER_OID } from '../../src/host/local/dev-identity-provider';
import {
  startGatewayInstance,
  startLocalStack,
  type GatewayInstance,
  type LocalStack,
} from '../../src/host/local/local-stack';
import { MemoryLogger } from '../../src/logger';
import { REDIS_DEADLINE_MS } from '../../src/store/redis-connection';
import { DpopKey } from '../helpers/dpop';
import { authorize, call, jsonCall, putDocuments, type Answer } from '../helpers/http';
import { ACCESS_TOKEN, TOKEN_EXCHANGE, tokenForm } from '../helpers/gateway-stack';
import { startRedisServer, type RedisServer } from '../../scripts/redis-server';

/** jest cannot run the gateway's `import()` of `@redis/client`: hand it the same module. */
const loadRedis = () => Promise.resolve(redisClient);

/** The user quota's remaining calls in a decision. */
const remainingOf = (answer: Answer) => (answer.json.quota as { remaining: number }[])[0]!.remaining;
/** `checks.quotas` of a health answer. */
const quotaCheck = (answer: Answer) => (answer.json.checks as Record<string, unknown>).quotas;

describe('quotas on Redis, across three instances', () => {
  let redis: RedisServer;
  let stack: LocalStack;
  let others: GatewayInstance[];
  let apis: string[];
  let admin: string;
  const minute = Math.floor(Date.now() / 60_000) * 60_000;
  const clock: Clock = { now: () => minute + 30_000 };

  beforeAll(async () => {
    redis = await startRedisServer();
    const env = { REDIS_URL: redis.url, DPOP_REPLAY_STORE: 'redis' };
    stack = await startLocalStack({
      env,
      port: 0,
      logger: new MemoryLogger(),
      seedDemo: false,
      io: { clock, loadRedis },
    });
    others = await Promise.all(
      [0, 1].map(() => startGatewayInstance(stack, { env, deps: { clock, loadRedis } })),
    );
    apis = [`${stack.gatewayUrl}/api`, ...others.map((o) => `${o.url}/api`)];
    admin = stack.idp!.mintToken({ roles: ['Gateway.Admin'] });
    const upstream = `${stack.orders.url}/api/orders`;
    const auth = { type: 'functionKey', keySetting: 'ORDERS_KEY' };
    await putDocuments(apis[0]!, admin, {
      resources: [
        { name: 'orders', upstream, auth, quotas: [{ per: 'client', limit: 100, window: 'minute' }] },
        // Statements for the sample downstream say "orders" whatever the resource is named.
        {
          name: 'metered',
          upstream,
          auth,
          audience: 'orders',
          quotas: [
            { per: 'user', limit: 2, window: 'hour' },
            { per: 'tenant', limit: 1000, window: 'day' },
          ],
        },
        {
          name: 'strict',
          upstream,
          auth,
          audience: 'orders',
          quotas: [{ per: 'user', limit: 1000, window: 'day' }],
          quotaStoreFailure: 'deny',
        },
      ],
      policies: [
        {
          id: 'readers',
          effect: 'allow',
          resource: '*',
          actions: ['read'],
          principals: { roles: ['Orders.Reader'] },
        },
      ],
    });
    // Every instance sees the documents (the writer at once, the others at their next refresh).
    await Promise.all(others.map((o) => o.gateway.state.refresher.refresh()));
  }, 60_000);

  afterAll(async () => {
    await Promise.all(others?.map((o) => o.close()) ?? []);
    await stack?.close();
    await redis?.stop();
  });

  const reader = (claims: Record<string, unknown> = {}) =>
    stack.idp!.mintToken({ roles: ['Orders.Reader'], claims });
  const get = (api: string, token: string, path: string) =>
    call(`${api}/proxy/${path}`, { headers: { authorization: `Bearer ${token}` } });

  it('allows exactly 100 of 300 calls of one client spread over three instances, and says why the rest wait', async () => {
    const token = reader();
    const answers = await Promise.all(
      Array.from({ length: 300 }, (_, i) =>
        get(apis[i % 3]!, token, `orders/customers/${DEV_USER_OID}/orders`),
      ),
    );
    const statuses = answers.map((a) => a.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(100);
    expect(statuses.filter((s) => s === 429)).toHaveLength(200);
    const refused = answers.find((a) => a.status === 429)!;
    expect(refused.json.code).toBe('ERR_QUOTA_EXCEEDED');
    expect(refused.headers.get('retry-after')).toBe('30');
    expect(refused.headers.get('ratelimit-policy')).toBe('"client-minute";q=100;w=60');
    expect(refused.headers.get('ratelimit')).toBe('"client-minute";r=0;t=30');
    // Every allowed answer says what was left after it: 99 down to 0, each once.
    const remaining = answers
      .filter((a) => a.status === 200)
      .map((a) => Number(/r=(\d+)/.exec(a.headers.get('ratelimit')!)![1]))
      .sort((a, b) => a - b);
    expect(remaining).toEqual(Array.from({ length: 100 }, (_, i) => i));
    // Another client has its own counter.
    const other = stack.idp!.mintToken({
      roles: ['Orders.Reader'],
      azp: 'c0ffee00-1234-4abc-8def-000000000002',
    });
    expect((await get(apis[1]!, other, `orders/customers/${DEV_USER_OID}/orders`)).status).toBe(200);
  });

  it('counts every quota of a resource, and the decision API reports what is left without spending it', async () => {
    const token = reader({ oid: '5a5a5a5a-0000-4000-8000-000000000001' });
    const ask = () => authorize(apis[2]!, token, { resource: 'metered', action: 'read', path: '/x' });
    const before = await ask();
    expect(before.json.quota).toEqual([
      { name: 'user-hour', limit: 2, remaining: 2, resetSeconds: expect.any(Number) },
      { name: 'tenant-day', limit: 1000, remaining: expect.any(Number), resetSeconds: expect.any(Number) },
    ]);
    expect(remainingOf(await ask())).toBe(2); // asking spends nothing
    const first = await get(apis[0]!, token, 'metered/x');
    expect(first.headers.get('ratelimit-policy')).toBe('"user-hour";q=2;w=3600, "tenant-day";q=1000;w=86400');
    expect(first.headers.get('ratelimit')).toMatch(/^"user-hour";r=1;t=\d+, "tenant-day";r=\d+;t=\d+$/);
    expect((await get(apis[1]!, token, 'metered/x')).status).toBe(200);
    expect((await get(apis[2]!, token, 'metered/x')).status).toBe(429);
    expect(remainingOf(await ask())).toBe(0);
    // A refusal of the policies carries the fields too, with the counters as they stand.
    const denied = await call(`${apis[1]}/proxy/metered/x`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${token}` },
    });
    expect([denied.status, denied.json.code]).toEqual([403, 'ERR_POLICY_DENIED']);
    expect(denied.headers.get('ratelimit')).toMatch(/^"user-hour";r=0;t=\d+, "tenant-day";r=\d+;t=\d+$/);
    expect(denied.headers.get('ratelimit-policy')).toBe(
      '"user-hour";q=2;w=3600, "tenant-day";q=1000;w=86400',
    );
  });

  it('decides within the bound by quotaStoreFailure when Redis is frozen, never a 5xx, and recovers on its own', async () => {
    const token = reader({ oid: '5a5a5a5a-0000-4000-8000-000000000002' });
    redis.pause();
    try {
      const timed = async (path: string): Promise<[Answer, number]> => {
        const started = performance.now();
        const answer = await get(apis[0]!, token, path);
        return [answer, performance.now() - started];
      };
      const [allowed, allowMs] = await timed('orders/customers/1/orders');
      const [denied, denyMs] = await timed('strict/x');
      expect(allowed.status).toBe(200);
      expect(allowed.headers.get('ratelimit')).toBeNull(); // unknown, so not claimed
      expect([denied.status, denied.json.code, denied.headers.get('retry-after')]).toEqual([
        429,
        'ERR_QUOTA_UNAVAILABLE',
        '1',
      ]);
      for (const ms of [allowMs, denyMs]) {
        expect(ms).toBeGreaterThanOrEqual(REDIS_DEADLINE_MS - 5);
        expect(ms).toBeLessThan(REDIS_DEADLINE_MS + 750);
      }
      const health = await call(`${apis[0]}/health`);
      expect(quotaCheck(health)).toMatchObject({ status: 'degraded', store: 'redis', failures: 2 });
      expect(health.json.status).toBe('degraded');
    } finally {
      redis.resume();
    }
    const again = await get(apis[0]!, token, 'strict/x');
    expect(again.status).toBe(200);
    expect(quotaCheck(await call(`${apis[0]}/health`))).toEqual({
      status: 'ok',
      store: 'redis',
      failures: 0,
    });
  });

  it('refuses at once while Redis is down, and counts again once it is back', async () => {
    const token = reader({ oid: '5a5a5a5a-0000-4000-8000-000000000003' });
    await redis.stop();
    const started = performance.now();
    const down = await get(apis[1]!, token, 'strict/x');
    expect([down.status, down.json.code]).toEqual([429, 'ERR_QUOTA_UNAVAILABLE']);
    expect(performance.now() - started).toBeLessThan(REDIS_DEADLINE_MS + 750);
    await redis.restart();
    // The client reconnects on its own (100 ms, backing off to 2 s): wait for it, bounded.
    const until = Date.now() + 10_000;
    let back: Answer;
    do back = await get(apis[1]!, token, 'strict/x');
    while (back.status !== 200 && Date.now() < until);
    expect(back.status).toBe(200);
    expect(back.headers.get('ratelimit')).toMatch(/^"user-day";r=999;t=\d+$/); // Redis came back empty
  });

  it('remembers DPoP proofs in Redis: a proof used on one instance is refused on another, and none passes while Redis is down', async () => {
    // Two instances behind one public URL (GATEWAY_ISSUER), as Azure runs them.
    const issuer = 'https://gateway.example.net/api';
    const env = { REDIS_URL: redis.url, DPOP_REPLAY_STORE: 'redis', GATEWAY_ISSUER: issuer };
    const [a, b] = await Promise.all(
      [0, 1].map(() => startGatewayInstance(stack, { env, deps: { clock, loadRedis } })),
    );
    try {
      const key = DpopKey.generate();
      const subject = reader();
      const exchangeOn = (instance: GatewayInstance, proof: string) =>
        call(`${instance.url}/api/token`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', dpop: proof },
          body: tokenForm({
            grant_type: TOKEN_EXCHANGE,
            subject_token: subject,
            subject_token_type: ACCESS_TOKEN,
            resource: 'metered',
            scope: 'read',
          }),
        });
      const proof = key.proof({ htm: 'POST', htu: `${issuer}/token` });
      expect((await exchangeOn(a!, proof)).status).toBe(200);
      const replayed = await exchangeOn(b!, proof);
      expect([replayed.status, replayed.json.error, replayed.json.code]).toEqual([
        400,
        'invalid_dpop_proof',
        'ERR_TOKEN_DPOP_PROOF_INVALID',
      ]);
      // Redis frozen: a fresh proof is refused (fail closed) within the bound, never accepted unchecked.
      redis.pause();
      try {
        const started = performance.now();
        const blind = await exchangeOn(a!, key.proof({ htm: 'POST', htu: `${issuer}/token` }));
        expect([blind.status, blind.json.code]).toEqual([503, 'ERR_STORE_UNAVAILABLE']);
        expect(performance.now() - started).toBeLessThan(REDIS_DEADLINE_MS + 750);
      } finally {
        redis.resume();
      }
    } finally {
      await Promise.all([a!.close(), b!.close()]);
    }
  });

  it.each([
    ['a limit of 0', { quotas: [{ per: 'user', limit: 0, window: 'day' }] }, 'quotas[0].limit'],
    ['a negative limit', { quotas: [{ per: 'user', limit: -5, window: 'day' }] }, 'quotas[0].limit'],
    ['an unknown per', { quotas: [{ per: 'ip', limit: 5, window: 'day' }] }, 'quotas[0].per'],
    ['an unknown window', { quotas: [{ per: 'user', limit: 5, window: 'week' }] }, 'quotas[0].window'],
    [
      'more than 8 quotas',
      { quotas: Array.from({ length: 9 }, () => ({ per: 'user', limit: 5, window: 'day' })) },
      'quotas',
    ],
    [
      'a quotaStoreFailure that is neither allow nor deny',
      { quotas: [{ per: 'user', limit: 5, window: 'day' }], quotaStoreFailure: 'maybe' },
      'quotaStoreFailure',
    ],
  ])('refuses a resource with %s: 400 naming the field, nothing stored', async (_case, change, field) => {
    const body = { upstream: `${stack.orders.url}/api/orders`, auth: { type: 'none' }, ...change };
    const res = await call(`${apis[0]}/resources/bad-quota`, jsonCall('PUT', admin, body));
    expect([res.status, res.json.code, res.json.field]).toEqual([400, 'ERR_VALIDATION', field]);
    expect((await call(`${apis[0]}/resources/bad-quota`, jsonCall('GET', admin))).status).toBe(404);
  });
});
