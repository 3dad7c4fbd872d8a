/**
 * The token exchange's cost per request, per process, as bench/proxy.ts measures the proxy: each
 * server in a process of its own (bench/servers.ts), charged its own CPU per request from
 * /proc/<pid>/stat, the load from another process (bench/load.ts), variants alternating over
 * ROUNDS rounds, each figure the median round:
 *
 * - `jwt-verify-floor`: a bare node:http server that reads the form and runs jsonwebtoken's RS256
 *   verify of a subject token it has never seen: what any Node server pays to answer a fresh token;
 * - `functions-verify-floor`: the same handler behind the local Functions adapter (`HttpRequest`,
 *   `InvocationContext`, the response from an `HttpResponseInit`): the programming model's share;
 * - `gateway-fresh`: the gateway's `/api/token` with a subject token never seen before on every
 *   call (RS256 verify, policy decision, SAS token signed, audit record);
 * - `gateway-repeated`: the same with one subject token (the verified-token cache answers).
 *
 * Both sides read the same tokens (minted by the gateway's dev identity provider); the gateway's
 * Cosmos DB is charged apart (`database`), and the gateway logs as in production (one JSON line
 * per issued token, to a pipe bench/servers.ts drains).
 */
import { LoadGenerator, measureRounds, type LoadJob, type ProcessVariant } from './load';
import { exchangeForm, startServer, type StartedServer } from './servers';

const REQUESTS = 2_000;
const WARMUP = 500;
const ROUNDS = 5;
const CONNECTIONS = 8;

/** Runs the exchange benchmark; returns one row per figure. */
export async function benchExchange(): Promise<Record<string, number | string>> {
  const servers: (StartedServer & { stop(): void })[] = [];
  const load = LoadGenerator.start();
  try {
    const per = REQUESTS + WARMUP;
    // The gateway mints a fresh token for every call of every round (both servers read them).
    const downstream = await startServer('downstream');
    servers.push(downstream);
    const gateway = await startServer('gateway', {
      downstreamUrl: downstream.url,
      freshTokens: per * ROUNDS,
    });
    servers.push(gateway);
    const floor = await startServer('jwt-verify-floor', {
      publicKeyPem: gateway.idpPublicKeyPem!,
      issuer: gateway.idpIssuer!,
      audience: gateway.audience!,
    });
    servers.push(floor);
    const fresh = gateway.freshBearers!.map(exchangeForm);
    const post = (server: StartedServer, path: string, bodies: readonly string[]): LoadJob => ({
      origin: server.url,
      path,
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      bodies,
      requests: REQUESTS,
      warmup: WARMUP,
      connections: CONNECTIONS,
    });
    const roundOf = (round: number) => fresh.slice(round * per, (round + 1) * per);
    const gatewayPids: ProcessVariant['pids'] = {
      server: gateway.pid,
      requestThread: `${gateway.pid}/task/${gateway.pid}`,
      database: gateway.databasePid!,
    };
    const variants: Record<string, (round: number) => ProcessVariant> = {
      // Warm-up and counted calls take distinct tokens: none was seen before by either server.
      'jwt-verify-floor': (round) => ({
        job: post(floor, '/', roundOf(round)),
        pids: { server: floor.pid },
      }),
      'functions-verify-floor': (round) => ({
        job: {
          ...post(floor, new URL(floor.functionsUrl!).pathname, roundOf(round)),
          origin: new URL(floor.functionsUrl!).origin,
        },
        pids: { server: floor.pid },
      }),
      'gateway-fresh': (round) => ({ job: post(gateway, '/api/token', roundOf(round)), pids: gatewayPids }),
      'gateway-repeated': () => ({
        job: post(gateway, '/api/token', [exchangeForm(gateway.bearer!)]),
        pids: gatewayPids,
      }),
    };
    const figures = await measureRounds(load, variants, ROUNDS);
    const cpu = figures.cpu;
    const rows: Record<string, number | string> = figures.rows();
    const ratio = (a: number, b: number) => Number((a / b).toFixed(2));
    rows['gateway-fresh / jwt-verify-floor (server CPU)'] = ratio(
      cpu('gateway-fresh'),
      cpu('jwt-verify-floor'),
    );
    rows['gateway-fresh request thread / jwt-verify-floor'] = ratio(
      cpu('gateway-fresh', 'requestThread'),
      cpu('jwt-verify-floor'),
    );
    rows['gateway-fresh / functions-verify-floor (server CPU)'] = ratio(
      cpu('gateway-fresh'),
      cpu('functions-verify-floor'),
    );
    rows['functions-verify-floor / jwt-verify-floor'] = ratio(
      cpu('functions-verify-floor'),
      cpu('jwt-verify-floor'),
    );
    return rows;
  } finally {
    await load.close();
    for (const server of servers) server.stop();
  }
}
