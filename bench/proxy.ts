/**
 * The proxy's cost per request, per process. Every server runs in a process of its own
 * (bench/servers.ts) and is charged its own CPU per request from /proc/<pid>/stat, as it would be
 * on a machine to itself; the load comes from another process (bench/load.ts):
 *
 * - `passthrough`: node:http + undici Pool + `body.pipe(res)`, no auth: the floor any Node proxy
 *   pays for the extra hop;
 * - `functions-floor`: the local Functions adapter serving a forward-only handler: the floor of
 *   the programming model the gateway is written in;
 * - `fastify-peer`: the gateway a Node user would hand-build (Fastify 5 + @fastify/reply-from, a
 *   verified-token cache, a role check, an HMAC caller header, header hygiene);
 * - `gateway-sas`, `gateway-bearer` (a repeated token), `gateway-bearer-fresh` (a token never seen
 *   before on every call), `gateway-dpop` (a DPoP-bound token, a new proof per call), and
 *   `gateway-dpop-local-replay-store` (the same on a gateway with `DPOP_REPLAY_STORE=local`): the
 *   local stack's gateway, its Cosmos DB charged apart (`database`).
 *
 * Variants alternate over ROUNDS rounds; each figure is the median round. Latency is also taken
 * open-loop, at a fixed rate of half the passthrough's capacity, for the passthrough and the
 * gateway: a closed loop's latency only mirrors its throughput.
 */
import {
  LoadGenerator,
  measureRounds,
  median,
  type LoadJob,
  type ProcessVariant,
  type ProcTask,
} from './load';
import { startRedisServer } from '../scripts/redis-server';
import { dpopProof, ORDERS_PATH, startServer, type StartedServer } from './servers';

const REQUESTS = 20_000;
const WARMUP = 2_000;
const FRESH_REQUESTS = 2_000;
const FRESH_WARMUP = 200;
const DPOP_REQUESTS = 5_000;
const DPOP_WARMUP = 500;
const CONNECTIONS = 32;
const ROUNDS = 5;
const OPEN_LOOP_SECONDS = 5;

type Variant = ProcessVariant;

/**
 * The audit trail's counters once a gateway's queue has drained (`/api/health`): every request of
 * the run was recorded, so `dropped` and failed writes must be 0 against a healthy database.
 */
async function auditAfterRun(origin: string): Promise<string> {
  for (let i = 0; ; i++) {
    const res = await fetch(`${origin}/api/health`);
    const { audit } = ((await res.json()) as { checks: { audit: Record<string, number> } }).checks;
    if (audit.queued === 0 || i >= 100) return `${audit.written} / ${audit.dropped} / ${audit.failedWrites}`;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Runs the proxy benchmark; returns one row per figure. */
export async function benchProxy(): Promise<Record<string, number | string>> {
  const servers: (StartedServer & { stop(): void })[] = [];
  const stops: (() => void)[] = [];
  const start = async (...args: Parameters<typeof startServer>) => {
    const server = await startServer(...args);
    servers.push(server);
    return server;
  };
  const load = LoadGenerator.start();
  try {
    const downstream = await start('downstream');
    const downstreamUrl = downstream.url;
    // One real redis-server for the gateway with REDIS_URL (quotas and the Redis DPoP replay store).
    const redis = await startRedisServer();
    stops.push(() => void redis.stop());
    const [passthrough, floor, gateway, localDpopGateway, identifiersOnly, redisGateway] = await Promise.all([
      start('passthrough', { downstreamUrl }),
      start('functions-floor', { downstreamUrl }),
      start('gateway', { downstreamUrl, freshTokens: (FRESH_REQUESTS + FRESH_WARMUP) * ROUNDS }),
      // The same gateway with DPOP_REPLAY_STORE=local: the proof check without the shared write.
      start('gateway', { downstreamUrl, env: { DPOP_REPLAY_STORE: 'local' } }),
      // The same gateway with AUDIT_DECISION_INPUTS=false: audit records as they were before they
      // kept the decision inputs `gateway replay` reads (identifiers only).
      start('gateway', { downstreamUrl, env: { AUDIT_DECISION_INPUTS: 'false' } }),
      // REDIS_URL: `orders` without a quota and `orders-metered` with one, on the same process;
      // DPoP proofs remembered in Redis.
      start('gateway', {
        downstreamUrl,
        quota: true,
        env: { REDIS_URL: redis.url, DPOP_REPLAY_STORE: 'redis' },
      }),
    ]);
    const peer = await start('fastify-peer', {
      downstreamUrl,
      publicKeyPem: gateway.idpPublicKeyPem!,
      issuer: gateway.idpIssuer!,
      audience: gateway.audience!,
    });
    const settings = { requests: REQUESTS, warmup: WARMUP, connections: CONNECTIONS } as const;
    const proxied = `/api/proxy/orders${ORDERS_PATH}`;
    const withDownstream = (pid: number, extra: Record<string, number | ProcTask> = {}) => ({
      server: pid,
      downstream: downstream.pid,
      ...extra,
    });
    // A gateway's request thread apart from its whole process (the audit writer has a thread),
    // and its database process apart.
    const gatewayPidsOf = (server: StartedServer) =>
      withDownstream(server.pid, {
        database: server.databasePid!,
        requestThread: `${server.pid}/task/${server.pid}`,
      });
    const gatewayPids = gatewayPidsOf(gateway);
    /** A proxied GET with one credential for every call. */
    const proxiedGet = (
      server: StartedServer,
      authorization: string,
      pids: Variant['pids'],
      path = proxied,
    ): Variant => ({
      job: { origin: server.url, path, headers: { authorization }, ...settings },
      pids,
    });
    // The Redis gateway's processes, and Redis's own CPU apart.
    const redisPids = { ...gatewayPidsOf(redisGateway), redis: redis.pid };
    const fresh = gateway.freshBearers!;
    /** A DPoP-bound token with a new proof per call, the proofs made just before the round. */
    const dpopVariant = (server: StartedServer, pids: Variant['pids']): Variant => {
      const url = `${server.url}${proxied}`;
      const token = server.dpopToken!;
      const proofs = Array.from({ length: DPOP_REQUESTS + DPOP_WARMUP }, () => ({
        authorization: `DPoP ${token}`,
        dpop: dpopProof(server.dpopKey!, 'GET', url, token),
      }));
      return {
        job: {
          origin: server.url,
          path: proxied,
          requests: DPOP_REQUESTS,
          warmup: DPOP_WARMUP,
          connections: CONNECTIONS,
          headerSets: proofs,
        },
        pids,
      };
    };
    const variants: Record<string, (round: number) => Variant> = {
      passthrough: () => ({
        job: { origin: passthrough.url, path: `/api/orders${ORDERS_PATH}`, ...settings },
        pids: withDownstream(passthrough.pid),
      }),
      'functions-floor': () => ({
        job: { origin: floor.url, path: `/api/floor${ORDERS_PATH}`, ...settings },
        pids: withDownstream(floor.pid),
      }),
      'fastify-peer': () => proxiedGet(peer, `Bearer ${gateway.bearer!}`, withDownstream(peer.pid)),
      'gateway-sas': () => proxiedGet(gateway, `SharedAccessSignature ${gateway.sas!}`, gatewayPids),
      'gateway-bearer': () => proxiedGet(gateway, `Bearer ${gateway.bearer!}`, gatewayPids),
      'gateway-bearer-audit-identifiers-only': () =>
        proxiedGet(identifiersOnly, `Bearer ${identifiersOnly.bearer!}`, gatewayPidsOf(identifiersOnly)),
      // A DPoP-bound token with a new proof per request: a signature check and a Cosmos DB
      // write (the shared replay store) per request. The proofs are made before the round.
      'gateway-dpop': () => dpopVariant(gateway, gatewayPids),
      'gateway-dpop-local-replay-store': () => dpopVariant(localDpopGateway, gatewayPidsOf(localDpopGateway)),
      'gateway-dpop-redis-replay-store': () => dpopVariant(redisGateway, redisPids),
      // The same call with and without a quota counted in Redis, on one gateway process.
      'gateway-redis-bearer': () => proxiedGet(redisGateway, `Bearer ${redisGateway.bearer!}`, redisPids),
      'gateway-redis-bearer-quota': () =>
        proxiedGet(
          redisGateway,
          `Bearer ${redisGateway.bearer!}`,
          redisPids,
          `/api/proxy/orders-metered${ORDERS_PATH}`,
        ),
      'gateway-bearer-fresh': (round) => {
        const per = FRESH_REQUESTS + FRESH_WARMUP;
        // Warm-up and counted calls take distinct tokens: none was seen before.
        const tokens = fresh
          .slice(round * per, (round + 1) * per)
          .map((t) => ({ authorization: `Bearer ${t}` }));
        return {
          job: {
            origin: gateway.url,
            path: proxied,
            requests: FRESH_REQUESTS,
            warmup: FRESH_WARMUP,
            connections: CONNECTIONS,
            headerSets: tokens,
          },
          pids: gatewayPids,
        };
      },
    };

    const figures = await measureRounds(load, variants, ROUNDS);
    const cpu = figures.cpu;
    const rows: Record<string, number | string> = figures.rows();
    rows['downstream CPU µs/request (every variant)'] = cpu('passthrough', 'downstream');
    const ratio = (a: number, b: number) => Number((a / b).toFixed(2));
    for (const name of ['gateway-sas', 'gateway-bearer']) {
      rows[`${name} / functions-floor (server CPU)`] = ratio(cpu(name), cpu('functions-floor'));
      rows[`${name} / fastify-peer (server CPU)`] = ratio(cpu(name), cpu('fastify-peer'));
    }
    rows['fastify-peer / functions-floor (server CPU)'] = ratio(cpu('fastify-peer'), cpu('functions-floor'));
    // What a quota counted in Redis adds to a call (target: at most +25 µs of gateway CPU), and the
    // Redis DPoP replay store against the local one (target: at most 1.3x).
    rows['quota on Redis: gateway CPU µs/request added (same process)'] =
      cpu('gateway-redis-bearer-quota') - cpu('gateway-redis-bearer');
    rows['quota on Redis: redis-server CPU µs/request (with / without quota)'] =
      `${cpu('gateway-redis-bearer-quota', 'redis')} / ${cpu('gateway-redis-bearer', 'redis')}`;
    rows['DPoP on Redis: redis-server CPU µs/request'] = cpu('gateway-dpop-redis-replay-store', 'redis');
    rows['gateway-dpop-redis-replay-store / gateway-dpop-local-replay-store (server CPU)'] = ratio(
      cpu('gateway-dpop-redis-replay-store'),
      cpu('gateway-dpop-local-replay-store'),
    );
    // What keeping the decision inputs in every audit record costs (issue: within 10 %).
    rows['gateway-bearer / gateway-bearer-audit-identifiers-only (server CPU)'] = ratio(
      cpu('gateway-bearer'),
      cpu('gateway-bearer-audit-identifiers-only'),
    );

    // Open loop: latency that is not just throughput. At half the passthrough's capacity (the
    // target's rate; above the gateway's own capacity on a small machine), and at half the
    // gateway's capacity (below saturation).
    const capacity = figures.rps;
    for (const rate of [
      Math.round(capacity('passthrough') / 2),
      Math.round(capacity('gateway-bearer') / 2),
    ]) {
      const openJob = (variant: Variant): LoadJob => ({
        ...variant.job,
        ratePerSecond: rate,
        requests: rate * OPEN_LOOP_SECONDS,
        warmup: 0,
        connections: 256,
      });
      const open: Record<string, { p50: number; p99: number }[]> = { passthrough: [], 'gateway-bearer': [] };
      for (let round = 0; round < 3; round++) {
        for (const name of Object.keys(open)) {
          const result = await load.measure(openJob(variants[name]!(0)));
          open[name]!.push({ p50: result.p50, p99: result.p99 });
        }
      }
      const p99 = (name: string) => median(open[name]!.map((r) => r.p99));
      for (const name of Object.keys(open)) {
        rows[`open loop ${rate} req/s, ${name} (p50 / p99 ms)`] =
          `${median(open[name]!.map((r) => r.p50))} / ${p99(name)}`;
      }
      rows[`open loop ${rate} req/s, gateway-bearer p99 over passthrough (ms)`] = Number(
        (p99('gateway-bearer') - p99('passthrough')).toFixed(2),
      );
    }
    // Every request above was audited: after it all, each gateway's trail must have kept up.
    for (const [name, server] of [
      ['gateway', gateway],
      ['gateway (local DPoP)', localDpopGateway],
      ['gateway (audit identifiers only)', identifiersOnly],
      ['gateway (Redis)', redisGateway],
    ] as const) {
      rows[`${name} audit after the run (written / dropped / failed writes)`] = await auditAfterRun(
        server.url,
      );
    }
    return rows;
  } finally {
    await load.close();
    for (const server of servers) server.stop();
    for (const stop of stops) stop();
  }
}
