/**
 * SAS cost, single thread, against the real local stack (embedded Cosmos DB and dev identity
 * provider on loopback):
 * - `verifyUs`: the gateway's full SAS check (format, HMAC, time, revocation, `spi`), and
 *   `downstreamVerifyUs`: `verifySasToken` with scope, as a downstream function runs it;
 * - exchanges per second through HTTP (the local stack's HTTP adapter, a few keep-alive
 *   connections from the load generator's own process, bench/load.ts): one subject token
 *   repeated (verified-token cache hit), and a fresh pre-minted token per request (RS256 verify
 *   each time);
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
import { formatLoad, LoadGenerator, type LoadResult } from './load';

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
  const load = LoadGenerator.start();
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

    // HTTP, from the load generator's process.
    const formType = 'application/x-www-form-urlencoded';
    const post = (
      path: string,
      bodies: readonly string[],
      contentType: string,
      requests: number,
      warmup: number,
    ) =>
      load.measure({
        origin: server.url,
        path,
        method: 'POST',
        headers: { 'content-type': contentType },
        bodies,
        requests,
        warmup,
        connections: CONNECTIONS,
        inFlight: CONNECTIONS * 2,
      });
    const noop = await post('/api/noop', [''], 'application/json', HTTP_REQUESTS, 500);
    const repeatedBody = form(repeated, 'user-0');
    const repeatedExchanges = await post('/api/token', [repeatedBody], formType, HTTP_REQUESTS, 500);
    const freshBodies = Array.from({ length: FRESH_TOKENS }, (_, i) => form(mint(i + 1), `user-${i + 1}`));
    const freshExchanges = await post('/api/token', freshBodies, formType, FRESH_TOKENS, 0);
    const failed = (r: LoadResult) => r.errors > 0;
    if ([noop, repeatedExchanges, freshExchanges].some(failed)) {
      throw new Error(
        `bench: failed requests (noop ${noop.errors}, repeated ${repeatedExchanges.errors}, fresh ${freshExchanges.errors})`,
      );
    }
    const noopPerSecond = noop.rps;
    const repeatedExchangesPerSecond = repeatedExchanges.rps;
    const freshExchangesPerSecond = freshExchanges.rps;

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
      noop: formatLoad(noop),
      repeatedExchanges: formatLoad(repeatedExchanges),
      freshExchanges: formatLoad(freshExchanges),
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
    await load.close();
    await pool.close();
    await server.close();
    await stack.close();
  }
}
