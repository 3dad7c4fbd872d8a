/**
 * Proxy throughput and tail latency, one run, same process, loopback (2 cores here):
 * - `direct`: the load generator straight to the downstream;
 * - `passthrough`: a bare keep-alive proxy, node:http + undici Pool + `body.pipe(res)`, no auth:
 *   the floor any Node proxy pays for the extra hop;
 * - `functions-floor`: the local adapter (real `HttpRequest`, `InvocationContext`, response
 *   written from an `HttpResponseInit` with a stream body) serving a handler that only forwards
 *   on an undici Pool: no authentication, policy, statement, header hygiene or audit. The floor
 *   of the Azure Functions programming model this gateway is written in;
 * - `gateway-sas` / `gateway-bearer`: the local stack's gateway (real adapter, pipeline, SAS or
 *   a repeated Entra token, policy decision, principal statement, undici forward).
 * Load: a generator in its own process (bench/load.ts), an undici Pool with CONCURRENCY
 * keep-alive connections, REQUESTS small JSON GETs per variant after a warm-up, every variant with
 * the same settings. The variants run in ROUNDS interleaved rounds and each reports its median
 * round (by requests/s), so a burst of noise on a shared machine does not land on one variant.
 * Reported: requests/s, p50/p99 ms, errors, the servers' CPU per request, and each gateway's
 * ratio to the passthrough.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Pool } from 'undici';
import type { Readable } from 'node:stream';
import { serveRoutes, type LocalRoute } from '../src/host/local/http/server';
import { startLocalStack } from '../src/host/local/local-stack';
import { silentLogger } from '../src/logger';
import { formatLoad, LoadGenerator, type LoadResult } from './load';

const REQUESTS = 20_000;
const WARMUP = 2_000;
const CONCURRENCY = 32;
const PAYLOAD = JSON.stringify({ id: 'o-1001', customerId: '42', total: 42.5, currency: 'EUR' });

function listen(server: Server): Promise<string> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`),
    ),
  );
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

const ROUNDS = 3;

/** The round with the median requests/s. */
function median(runs: readonly LoadResult[]): LoadResult {
  return [...runs].sort((a, b) => a.rps - b.rps)[Math.floor(runs.length / 2)]!;
}

/** Runs the proxy benchmark; returns one row per variant. */
export async function benchProxy(): Promise<Record<string, number | string>> {
  const downstream = createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(PAYLOAD) });
    res.end(PAYLOAD);
  });
  const downstreamUrl = await listen(downstream);

  const upstream = new Pool(downstreamUrl, { connections: 128, pipelining: 1 });
  const passthrough = createServer((req, res) => {
    upstream
      .request({
        path: req.url!,
        method: 'GET',
        headers: { 'x-forwarded-for': req.socket.remoteAddress ?? '' },
      })
      .then(({ statusCode, headers, body }) => {
        res.writeHead(statusCode, headers as Record<string, string>);
        body.pipe(res);
      })
      .catch(() => {
        res.statusCode = 502;
        res.end();
      });
  });
  const passthroughUrl = await listen(passthrough);

  // The embedded Cosmos DB (the audit trail's store) in its own process, as a real database is.
  // The Functions programming model with nothing else: forward, stream the answer back.
  const floorPool = new Pool(downstreamUrl, { connections: 128, pipelining: 1 });
  const floorRoute: LocalRoute = {
    name: 'floor',
    template: 'floor/{*rest}',
    methods: ['GET'],
    handle: async (request) => {
      const answer = await floorPool.request({
        path: `/api/orders/${request.params.rest ?? ''}`,
        method: 'GET',
        headers: { 'x-forwarded-for': request.headers.get('x-forwarded-for') ?? '' },
      });
      return {
        status: answer.statusCode,
        headers: answer.headers as Record<string, string>,
        body: answer.body as unknown as Readable,
      };
    },
  };
  const floor = await serveRoutes([floorRoute], { port: 0 });

  const stack = await startLocalStack({
    env: {},
    port: 0,
    logger: silentLogger,
    seedDemo: false,
    isolateCosmos: true,
  });
  const load = LoadGenerator.start();
  try {
    const gateway = stack.gateway!;
    const api = `${stack.gatewayUrl}/api`;
    const admin = stack.idp!.mintToken({ roles: [gateway.config.adminRole] });
    const put = (url: string, body: unknown) =>
      fetch(url, {
        method: 'PUT',
        headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    await put(`${api}/resources/bench`, {
      name: 'bench',
      upstream: `${downstreamUrl}/api/orders`,
      auth: { type: 'none' },
    });
    // The same downstream with statements bound to each request (signed per call).
    await put(`${api}/resources/bench-bound`, {
      name: 'bench-bound',
      upstream: `${downstreamUrl}/api/orders`,
      auth: { type: 'none' },
      boundStatement: true,
    });
    for (const resource of ['bench', 'bench-bound']) {
      await put(`${api}/policies/${resource}-readers`, {
        id: `${resource}-readers`,
        effect: 'allow',
        resource,
        paths: ['/customers/{claims.oid}/**'],
        actions: ['read'],
        principals: { roles: ['Orders.Reader'] },
      });
    }
    const oid = '0d5e1f3a-7b2c-4d8e-9f10-a1b2c3d4e5f6';
    const bearer = stack.idp!.mintToken({ roles: ['Orders.Reader'], oid, lifetimeSeconds: 3600 });
    const exchange = await fetch(`${api}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
        subject_token: bearer,
        subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
        resource: `bench/customers/${oid}`,
        scope: 'read',
        requested_lifetime: '600',
      }).toString(),
    });
    const sas = ((await exchange.json()) as { access_token?: string }).access_token;
    if (!sas) throw new Error(`bench: token exchange failed (${exchange.status})`);

    const path = `/api/orders/customers/${oid}/orders`;
    const gatewayPath = `/api/proxy/bench/customers/${oid}/orders`;
    const settings = { requests: REQUESTS, warmup: WARMUP, connections: CONCURRENCY } as const;
    const variants = {
      direct: { origin: downstreamUrl, path },
      passthrough: { origin: passthroughUrl, path },
      'functions-floor': { origin: floor.url, path: `/api/floor/customers/${oid}/orders` },
      'gateway-sas': {
        origin: stack.gatewayUrl!,
        path: gatewayPath,
        headers: { authorization: `SharedAccessSignature ${sas}` },
      },
      'gateway-bearer': {
        origin: stack.gatewayUrl!,
        path: gatewayPath,
        headers: { authorization: `Bearer ${bearer}` },
      },
      'gateway-bearer-bound': {
        origin: stack.gatewayUrl!,
        path: gatewayPath.replace('/proxy/bench/', '/proxy/bench-bound/'),
        headers: { authorization: `Bearer ${bearer}` },
      },
    };
    const runs: Record<keyof typeof variants, LoadResult[]> = {
      direct: [],
      passthrough: [],
      'functions-floor': [],
      'gateway-sas': [],
      'gateway-bearer': [],
      'gateway-bearer-bound': [],
    };
    /** CPU per audit record of the flush after a gateway variant (the Cosmos DB client's side). */
    const auditDrain: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      for (const name of Object.keys(variants) as (keyof typeof variants)[]) {
        runs[name].push(await load.measure({ ...variants[name], ...settings }));
        // Let the gateway's audit records drain to the embedded Cosmos DB, so that work does not
        // land on the next variant's measurement.
        const written = gateway.auditLog.stats.written;
        const cpu = process.cpuUsage();
        await gateway.auditLog.flush();
        const spent = process.cpuUsage(cpu);
        const drained = gateway.auditLog.stats.written - written;
        if (drained > 0) auditDrain.push((spent.user + spent.system) / drained);
      }
    }
    const direct = median(runs.direct);
    const bare = median(runs.passthrough);
    const functionsFloor = median(runs['functions-floor']);
    const viaSas = median(runs['gateway-sas']);
    const viaBearer = median(runs['gateway-bearer']);
    const viaBound = median(runs['gateway-bearer-bound']);

    return {
      direct: formatLoad(direct),
      passthrough: formatLoad(bare),
      'functions-floor': formatLoad(functionsFloor),
      'gateway-sas': formatLoad(viaSas),
      'gateway-bearer': formatLoad(viaBearer),
      'gateway-bearer-bound': formatLoad(viaBound),
      'audit write CPU per record (µs, gateway process, final flush)': Math.round(
        auditDrain.reduce((a, b) => a + b, 0) / Math.max(1, auditDrain.length),
      ),
      'audit records written / dropped': `${gateway.auditLog.stats.written} / ${gateway.auditLog.stats.dropped}`,
      'functions-floor/passthrough': Number((functionsFloor.rps / bare.rps).toFixed(2)),
      'sas/passthrough': Number((viaSas.rps / bare.rps).toFixed(2)),
      'bearer/passthrough': Number((viaBearer.rps / bare.rps).toFixed(2)),
      'sas p99 over passthrough (ms)': Number((viaSas.p99 - bare.p99).toFixed(2)),
      'bearer p99 over passthrough (ms)': Number((viaBearer.p99 - bare.p99).toFixed(2)),
    };
  } finally {
    await load.close();
    await stack.close();
    await floor.close();
    await Promise.all([upstream.close(), floorPool.close()]);
    await Promise.all([close(downstream), close(passthrough)]);
  }
}
