/**
 * SAS cost, single thread, against the real local stack (dev identity provider on loopback, the
 * embedded Cosmos DB in its own process as a real database would be):
 * - SAS verification: a token's first use (format, HMAC, time, revocation, `spi`), a repeated
 *   token (signature verified once per token; time, revocation and `spi` on every call), and a
 *   repeated token held to its grant by the authorize stage, as the proxy and decision API run it;
 * - exchanges per second through HTTP (the local stack's HTTP adapter, a few keep-alive
 *   connections from the load generator's own process, bench/load.ts): one subject token
 *   repeated (verified-token cache hit), and a fresh pre-minted token per request (RS256 verify
 *   each time); every run warms up on bodies of its own first, so a fresh token is never seen
 *   twice;
 * - the yardsticks of the targets, same run: the same server answering a no-op route, and raw
 *   `jsonwebtoken` RS256 verify with a KeyObject (repeated ≥ 60% of no-op, fresh ≥ 50% of raw
 *   verify); and the floor of the second: a bare node:http server doing only the RS256 verify.
 */
import { createPublicKey } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import jwt from 'jsonwebtoken';
import { Pool } from 'undici';
import { serveRoutes } from '../src/host/local/http/server';
import { gatewayRoutes, startLocalStack } from '../src/host/local/local-stack';
import type { Route } from '../src/pipeline/operation';
import { ROUTES } from '../src/routes';
import { silentLogger } from '../src/logger';
import { authorize } from '../src/decision/authorize';
import { createSasToken } from '../src/sas/issue-sas-token';
import { formatLoad, LoadGenerator, type LoadResult } from './load';

const VERIFY_ITERATIONS = 100_000;
const HTTP_REQUESTS = 6_000;
/** Calls before each measurement: enough for the JIT to settle on every route's hot path. */
const WARMUP = 3_000;
const FRESH_TOKENS = 3_000;
const CONNECTIONS = 4;
const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';

/** A route that does nothing, through the same pipeline: what the gateway's routes add to it. */
const noopRoute: Route<unknown> = {
  name: 'noop',
  template: 'noop',
  methods: ['POST'],
  run: () => Promise.resolve({ status: 200, body: '{}' }),
};

function microsPerCall(count: number, fn: (i: number) => unknown): number {
  for (let i = 0; i < Math.min(1000, count); i++) fn(i);
  const start = performance.now();
  for (let i = 0; i < count; i++) fn(i);
  return Number((((performance.now() - start) * 1000) / count).toFixed(2));
}

/** Runs the SAS benchmark; returns the measured numbers. */
export async function benchSas(): Promise<Record<string, number | string>> {
  // The embedded Cosmos DB in its own process, as a real database is: its work is not the gateway's.
  const stack = await startLocalStack({ env: {}, port: 0, logger: silentLogger, isolateCosmos: true });
  const gateway = stack.gateway!;
  const idp = stack.idp!;
  const server = await serveRoutes(gatewayRoutes(gateway, [...ROUTES, noopRoute]), { port: 0 });
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
      auth: { type: 'functionKey', keySetting: 'ORDERS_KEY' },
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

    // SAS verification: a token's first use (parse, HMAC, time, revocation, `spi`), and the
    // repeated use a client makes of it (signature verified once, per-call checks still run).
    const repeated = mint(0);
    const exchanged = await pool.request({
      path: '/api/token',
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: form(repeated, 'user-0'),
    });
    const { access_token: sas } = (await exchanged.body.json()) as { access_token: string };
    const keys = gateway.sasKeys;
    const distinct = (from: number) =>
      Array.from(
        { length: VERIFY_ITERATIONS / 10 },
        (_, i) =>
          createSasToken(
            {
              resource: 'orders',
              pathPrefix: ['customers', `user-${from + i}`],
              actions: ['read'],
              policies: ['orders-read-own'],
              policyVersions: [gateway.state.snapshot().index.byId.get('orders-read-own')!.version],
              tid: idp.tenantId,
              oid: `user-${from + i}`,
              azp: 'bench',
              startsAt: Math.floor(Date.now() / 1000),
              lifetimeSeconds: 600,
            },
            keys,
          ).token,
      );
    const warmTokens = distinct(0);
    const firstUseTokens = distinct(warmTokens.length);
    warmTokens.forEach((token) => gateway.sas.verifySync(token));
    const firstUseVerifyUs = microsPerCall(firstUseTokens.length, (i) =>
      gateway.sas.verifySync(firstUseTokens[i]!),
    );
    const repeatedVerifyUs = microsPerCall(VERIFY_ITERATIONS, () => gateway.sas.verifySync(sas));
    const scopeQuery = { resource: 'orders', action: 'read', path: '/customers/user-0/orders' } as const;
    const verifyAndDecideUs = microsPerCall(VERIFY_ITERATIONS, () =>
      authorize(gateway.state.snapshot(), gateway.sas.verifySync(sas), scopeQuery),
    );

    // HTTP, from the load generator's process.
    const formType = 'application/x-www-form-urlencoded';
    const post = (
      origin: string,
      path: string,
      bodies: readonly string[],
      contentType: string,
      requests: number,
    ) =>
      load.measure({
        origin,
        path,
        method: 'POST',
        headers: { 'content-type': contentType },
        bodies,
        requests,
        // Fresh tokens must be fresh in the counted run too: each run warms up on its own
        // bodies first (below), so the generator's own warm-up is off.
        warmup: 0,
        connections: CONNECTIONS,
        inFlight: CONNECTIONS * 2,
      });
    /** Warms a route up on `warm` bodies, then measures it on `bodies`. */
    const measure = async (origin: string, path: string, warm: string[], bodies: string[], type: string) => {
      await post(origin, path, warm, type, WARMUP);
      return post(origin, path, bodies, type, bodies.length > 1 ? bodies.length : HTTP_REQUESTS);
    };
    const freshBodies = (from: number) =>
      Array.from({ length: FRESH_TOKENS }, (_, i) => form(mint(from + i), `user-${from + i}`));
    const repeatedBody = form(repeated, 'user-0');
    const noop = await measure(server.url, '/api/noop', [''], [''], 'application/json');
    const repeatedExchanges = await measure(
      server.url,
      '/api/token',
      [repeatedBody],
      [repeatedBody],
      formType,
    );
    const freshExchanges = await measure(
      server.url,
      '/api/token',
      freshBodies(1),
      freshBodies(10_001),
      formType,
    );

    // The floor for fresh tokens: a bare node:http server whose handler only parses the form and
    // runs jsonwebtoken's RS256 verify. No Node server can exchange fresh tokens faster here.
    const keyObject = createPublicKey(idp.publicKeyPem);
    const floorServer = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const token = new URLSearchParams(Buffer.concat(chunks).toString()).get('subject_token') ?? '';
        try {
          jwt.verify(token, keyObject, { algorithms: ['RS256'] });
          res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
        } catch {
          res.writeHead(401).end();
        }
      });
    });
    await new Promise<void>((done) => floorServer.listen(0, '127.0.0.1', done));
    const floorOrigin = `http://127.0.0.1:${(floorServer.address() as AddressInfo).port}`;
    const floor = await measure(floorOrigin, '/', freshBodies(20_001), freshBodies(30_001), formType);
    await new Promise<void>((done) => {
      floorServer.close(() => done());
      floorServer.closeAllConnections();
    });

    const failed = (r: LoadResult) => r.errors > 0;
    if ([noop, repeatedExchanges, freshExchanges, floor].some(failed)) {
      throw new Error(
        `bench: failed requests (noop ${noop.errors}, repeated ${repeatedExchanges.errors}, fresh ${freshExchanges.errors}, floor ${floor.errors})`,
      );
    }

    // Raw RS256 verify with a KeyObject, same run.
    const rawTokens = Array.from({ length: FRESH_TOKENS }, (_, i) => mint(100_000 + i));
    const rawUs = microsPerCall(rawTokens.length, (i) =>
      jwt.verify(rawTokens[i]!, keyObject, { algorithms: ['RS256'] }),
    );
    const rawVerifyPerSecond = Math.round(1e6 / rawUs);
    const percent = (a: number, b: number) => `${Math.round((a / b) * 100)}%`;

    return {
      'SAS verify, first use (µs)': firstUseVerifyUs,
      'SAS verify, repeated token (µs)': repeatedVerifyUs,
      'SAS verify + grant decision, repeated token (µs)': verifyAndDecideUs,
      'SAS token bytes': sas.length,
      noop: formatLoad(noop),
      'exchange, repeated token': formatLoad(repeatedExchanges),
      'exchange, fresh token': formatLoad(freshExchanges),
      'floor: node:http + jwt.verify, fresh token': formatLoad(floor),
      'raw jwt.verify RS256 (KeyObject) per second': rawVerifyPerSecond,
      'repeated / noop': `${percent(repeatedExchanges.rps, noop.rps)} (target ≥ 60%)`,
      'fresh / raw verify': `${percent(freshExchanges.rps, rawVerifyPerSecond)} (target ≥ 50%)`,
      'floor / raw verify': `${percent(floor.rps, rawVerifyPerSecond)} (the most any Node HTTP server reaches here)`,
      'fresh / floor': percent(freshExchanges.rps, floor.rps),
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
