/**
 * Proxy throughput and tail latency, one run, same process, loopback (2 cores here):
 * - `direct`: the load generator straight to the downstream;
 * - `passthrough`: a bare keep-alive proxy, node:http + undici Pool + `body.pipe(res)`, no auth:
 *   the floor any Node proxy pays for the extra hop;
 * - `gateway-sas` / `gateway-bearer`: the local stack's gateway (real adapter, pipeline, SAS or
 *   a repeated Entra token, policy decision, principal statement, undici forward).
 * Load: an undici Pool with CONCURRENCY keep-alive connections, REQUESTS small JSON GETs each
 * (after a warm-up). Reported: requests/s, p50/p99 ms, errors, and each gateway's ratio to the
 * passthrough.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import { startLocalStack } from '../src/host/local/local-stack';
import { silentLogger } from '../src/logger';
import { closeGatewayProxy } from '../src/proxy/proxy-api';

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

interface Run {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
}

/** Fires `count` GETs at `origin + path` with CONCURRENCY in flight; returns throughput and latencies. */
async function load(
  origin: string,
  path: string,
  headers: Record<string, string>,
  count: number,
): Promise<Run> {
  const pool = new Pool(origin, { connections: CONCURRENCY, pipelining: 1 });
  const latencies = new Float64Array(count);
  let next = 0;
  let errors = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const started = performance.now();
      try {
        const res = await pool.request({ path, method: 'GET', headers });
        await res.body.dump();
        if (res.statusCode !== 200) errors++;
      } catch {
        errors++;
      }
      latencies[i] = performance.now() - started;
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const seconds = (performance.now() - started) / 1000;
  await pool.close();
  const sorted = latencies.sort();
  const at = (q: number) => Number(sorted[Math.min(count - 1, Math.floor(q * count))]!.toFixed(2));
  return { rps: Math.round(count / seconds), p50: at(0.5), p99: at(0.99), errors };
}

async function measure(origin: string, path: string, headers: Record<string, string> = {}): Promise<Run> {
  await load(origin, path, headers, WARMUP);
  return load(origin, path, headers, REQUESTS);
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

  const stack = await startLocalStack({ env: {}, port: 0, logger: silentLogger, seedDemo: false });
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
    await put(`${api}/policies/bench-readers`, {
      id: 'bench-readers',
      effect: 'allow',
      resource: 'bench',
      paths: ['/customers/{claims.oid}/**'],
      actions: ['read'],
      principals: { roles: ['Orders.Reader'] },
    });
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
    const direct = await measure(downstreamUrl, path);
    const bare = await measure(passthroughUrl, path);
    const viaSas = await measure(stack.gatewayUrl!, gatewayPath, {
      authorization: `SharedAccessSignature ${sas}`,
    });
    const viaBearer = await measure(stack.gatewayUrl!, gatewayPath, { authorization: `Bearer ${bearer}` });

    const row = (_name: string, r: Run) =>
      `${r.rps} req/s  p50 ${r.p50} ms  p99 ${r.p99} ms  errors ${r.errors}`;
    return {
      direct: row('direct', direct),
      passthrough: row('passthrough', bare),
      'gateway-sas': row('gateway-sas', viaSas),
      'gateway-bearer': row('gateway-bearer', viaBearer),
      'sas/passthrough': Number((viaSas.rps / bare.rps).toFixed(2)),
      'bearer/passthrough': Number((viaBearer.rps / bare.rps).toFixed(2)),
      'sas p99 over passthrough (ms)': Number((viaSas.p99 - bare.p99).toFixed(2)),
      'bearer p99 over passthrough (ms)': Number((viaBearer.p99 - bare.p99).toFixed(2)),
    };
  } finally {
    if (stack.gateway) await closeGatewayProxy(stack.gateway);
    await stack.close();
    await upstream.close();
    await Promise.all([close(downstream), close(passthrough)]);
  }
}
