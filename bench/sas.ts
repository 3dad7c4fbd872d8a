/**
 * SAS cost, single thread, against the real local stack (embedded Cosmos DB and dev identity
 * provider on loopback):
 * - `verifyUs`: the gateway's full SAS check (format, HMAC, time, revocation, `spi`), and
 *   `downstreamVerifyUs`: `verifySasToken` with scope, as a downstream function runs it;
 * - exchanges per second through HTTP (the local stack's HTTP adapter, a few keep-alive
 *   connections from an undici Pool): one subject token repeated (verified-token cache hit), and
 *   a fresh pre-minted token per request (RS256 verify each time);
 * - the same server answering a no-op route, and raw `jsonwebtoken` RS256 verify with a
 *   KeyObject, measured in the same run, as the yardsticks of the targets (repeated ≥ 60% of
 *   no-op, fresh ≥ 50% of raw verify).
 */
import { createPublicKey } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import jwt from 'jsonwebtoken';
import { Pool } from 'undici';
import type { Gateway } from '../src/gateway';
import { serveRoutes, type HttpRoute } from '../src/host/local/http-adapter';
import { startLocalStack } from '../src/host/local/local-stack';
import { functionsDirectory, loadRoutes } from '../src/host/local/route-loader';
import { silentLogger } from '../src/logger';
import { verifySasToken } from '../src/verifier/verify-sas-token';

const VERIFY_ITERATIONS = 100_000;
const HTTP_REQUESTS = 3_000;
const FRESH_TOKENS = 1_500;
const CONNECTIONS = 4;
const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';

const noopRoute: HttpRoute<Gateway> = {
  name: 'noop',
  route: 'noop',
  methods: ['POST'],
  handle: (gateway, request, context) =>
    gateway.handle(() => Promise.resolve({ status: 200, body: '{}' }), request, context),
};

/** Requests per second for `count` POSTs with `bodyOf(i)`, CONNECTIONS at a time. */
async function requestsPerSecond(
  pool: Pool,
  path: string,
  count: number,
  bodyOf: (i: number) => string,
  contentType: string,
): Promise<number> {
  let next = 0;
  let failures = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const res = await pool.request({
        path,
        method: 'POST',
        headers: { 'content-type': contentType },
        body: bodyOf(i),
      });
      await res.body.text();
      if (res.statusCode !== 200) failures++;
    }
  };
  const start = performance.now();
  await Promise.all(Array.from({ length: CONNECTIONS * 2 }, worker));
  const seconds = (performance.now() - start) / 1000;
  if (failures > 0) throw new Error(`bench: ${failures} of ${count} requests to ${path} failed`);
  return Math.round(count / seconds);
}

function microsPerCall(count: number, fn: (i: number) => unknown): number {
  for (let i = 0; i < Math.min(1000, count); i++) fn(i);
  const start = performance.now();
  for (let i = 0; i < count; i++) fn(i);
  return Number((((performance.now() - start) * 1000) / count).toFixed(2));
}

/** Runs the SAS benchmark; returns the measured numbers. */
export async function benchSas(): Promise<Record<string, number | string>> {
  const stack = await startLocalStack({ env: {}, port: 0, logger: silentLogger });
  const gateway = stack.gateway!;
  const idp = stack.idp!;
  const { dir, extensions } = functionsDirectory();
  const server = await serveRoutes([...loadRoutes<Gateway>(dir, extensions), noopRoute], gateway, {
    port: 0,
  });
  const pool = new Pool(server.url, { connections: CONNECTIONS });
  try {
    const admin = idp.mintToken({ roles: ['Gateway.Admin'] });
    const put = async (path: string, body: unknown) => {
      const res = await pool.request({
        path: `/api/${path}`,
        method: 'PUT',
        headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      await res.body.text();
      if (res.statusCode >= 300) throw new Error(`bench: seeding ${path} answered ${res.statusCode}`);
    };
    await put('resources/orders', {
      name: 'orders',
      upstream: `${stack.orders.url}/api/orders`,
      auth: { type: 'none' },
    });
    await put('policies/orders-read-own', {
      id: 'orders-read-own',
      effect: 'allow',
      resource: 'orders',
      paths: ['/customers/{claims.oid}/**'],
      actions: ['read', 'create'],
      principals: { roles: ['Orders.Reader'] },
    });

    const mint = (i: number) => idp.mintToken({ oid: `user-${i}`, roles: ['Orders.Reader'] });
    const form = (token: string, oid: string) =>
      new URLSearchParams({
        grant_type: TOKEN_EXCHANGE,
        subject_token: token,
        subject_token_type: ACCESS_TOKEN,
        resource: `orders/customers/${oid}`,
        scope: 'read create',
      }).toString();

    // SAS verification.
    const repeated = mint(0);
    const exchanged = await pool.request({
      path: '/api/token',
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: form(repeated, 'user-0'),
    });
    const { access_token: sas } = (await exchanged.body.json()) as { access_token: string };
    const verifyUs = microsPerCall(VERIFY_ITERATIONS, () => gateway.sas.verifySync(sas));
    const keys = gateway.sasKeys;
    const downstreamVerifyUs = microsPerCall(VERIFY_ITERATIONS, () =>
      verifySasToken(sas, { keys, resource: 'orders', action: 'read', path: '/customers/user-0/orders' }),
    );

    // HTTP.
    const formType = 'application/x-www-form-urlencoded';
    await requestsPerSecond(pool, '/api/noop', 500, () => '', 'application/json');
    const noopPerSecond = await requestsPerSecond(
      pool,
      '/api/noop',
      HTTP_REQUESTS,
      () => '',
      'application/json',
    );
    const repeatedBody = form(repeated, 'user-0');
    await requestsPerSecond(pool, '/api/token', 500, () => repeatedBody, formType);
    const repeatedExchangesPerSecond = await requestsPerSecond(
      pool,
      '/api/token',
      HTTP_REQUESTS,
      () => repeatedBody,
      formType,
    );
    const freshBodies = Array.from({ length: FRESH_TOKENS }, (_, i) => form(mint(i + 1), `user-${i + 1}`));
    const freshExchangesPerSecond = await requestsPerSecond(
      pool,
      '/api/token',
      FRESH_TOKENS,
      (i) => freshBodies[i]!,
      formType,
    );

    // Raw RS256 verify with a KeyObject, same run.
    const rawTokens = Array.from({ length: FRESH_TOKENS }, (_, i) => mint(100_000 + i));
    const keyObject = createPublicKey(idp.publicKeyPem);
    const rawUs = microsPerCall(rawTokens.length, (i) =>
      jwt.verify(rawTokens[i]!, keyObject, { algorithms: ['RS256'] }),
    );
    const rawVerifyPerSecond = Math.round(1e6 / rawUs);

    return {
      verifyUs,
      downstreamVerifyUs,
      sasTokenBytes: sas.length,
      noopPerSecond,
      repeatedExchangesPerSecond,
      repeatedVsNoop: `${Math.round((repeatedExchangesPerSecond / noopPerSecond) * 100)}% (target ≥ 60%)`,
      freshExchangesPerSecond,
      rawJwtVerifyPerSecond: rawVerifyPerSecond,
      freshVsRawVerify: `${Math.round((freshExchangesPerSecond / rawVerifyPerSecond) * 100)}% (target ≥ 50%)`,
      connections: CONNECTIONS,
      node: process.version,
    };
  } finally {
    await pool.close();
    await server.close();
    await stack.close();
  }
}
