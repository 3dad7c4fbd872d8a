/**
 * The servers of the proxy and exchange benchmarks, each in a process of its own so that its CPU
 * per request is its own (read from /proc/<pid>/stat by bench/proxy.ts and bench/exchange.ts), as
 * it would be on a machine to itself: the downstream, the bare passthrough, the Functions floor, a
 * Fastify peer (the gateway a Node user would build by hand), the floors of a token exchange
 * (`jwt.verify` bare and behind the adapter) and the gateway (the local stack; its Cosmos DB in
 * yet another process, measured apart).
 *
 * The benchmarks fork this file once per server with the variant in BENCH_SERVER and its inputs
 * in BENCH_SERVER_INPUT (JSON); the child answers one IPC message with where it listens and
 * exits when the parent disconnects.
 */
import {
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  sign,
  type JsonWebKey,
} from 'node:crypto';
import { fork } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Readable } from 'node:stream';
import jwt from 'jsonwebtoken';
import { Pool } from 'undici';
import { serveRoutes, type LocalRoute } from '../src/host/local/http/server';
import { startLocalStack } from '../src/host/local/local-stack';
import { createJsonLogger } from '../src/logger';

export type ServerVariant =
  'downstream' | 'passthrough' | 'functions-floor' | 'fastify-peer' | 'jwt-verify-floor' | 'gateway';

/** What a server child reports once it listens. */
export interface StartedServer {
  readonly url: string;
  readonly pid: number;
  /** The jwt-verify floor: the same handler behind the local Functions adapter. */
  readonly functionsUrl?: string;
  /** The gateway: its Cosmos DB's process, and the credentials the load uses. */
  readonly databasePid?: number;
  readonly bearer?: string;
  readonly sas?: string;
  readonly freshBearers?: readonly string[];
  /** A DPoP-bound token and its key (private JWK: the load makes a proof per request). */
  readonly dpopToken?: string;
  readonly dpopKey?: JsonWebKey;
  readonly idpPublicKeyPem?: string;
  readonly idpIssuer?: string;
  readonly audience?: string;
}

/** Inputs of a server child. */
export interface ServerInput {
  readonly downstreamUrl?: string;
  /** Fastify peer and jwt-verify floor: the key and claims it verifies tokens against. */
  readonly publicKeyPem?: string;
  readonly issuer?: string;
  readonly audience?: string;
  /** Gateway: fresh tokens to mint for the fresh-Bearer variant. */
  readonly freshTokens?: number;
  /** Gateway: settings over the local stack's (`DPOP_REPLAY_STORE=local`, `REDIS_URL`). */
  readonly env?: Readonly<Record<string, string>>;
  /**
   * Gateway: also seed `orders-metered`, the same downstream with a quota (one per client and
   * day, too large to be reached), so a run compares a call with and without a quota on one process.
   */
  readonly quota?: boolean;
}

const PAYLOAD = JSON.stringify({ id: 'o-1001', customerId: '42', total: 42.5, currency: 'EUR' });
const OID = '0d5e1f3a-7b2c-4d8e-9f10-a1b2c3d4e5f6';
/** The path every variant is asked for (below its own prefix). */
export const ORDERS_PATH = `/customers/${OID}/orders`;

function listen(server: Server): Promise<string> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`),
    ),
  );
}

async function downstream(): Promise<StartedServer> {
  const server = createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(PAYLOAD) });
    res.end(PAYLOAD);
  });
  return { url: await listen(server), pid: process.pid };
}

/** node:http + undici Pool + body.pipe(res): the floor any Node proxy pays for the extra hop. */
async function passthrough(input: ServerInput): Promise<StartedServer> {
  const upstream = new Pool(input.downstreamUrl!, { connections: 128, pipelining: 1 });
  const server = createServer((req, res) => {
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
  return { url: await listen(server), pid: process.pid };
}

/** The Functions programming model with nothing else: the local adapter, a forward-only handler. */
async function functionsFloor(input: ServerInput): Promise<StartedServer> {
  const pool = new Pool(input.downstreamUrl!, { connections: 128, pipelining: 1 });
  const route: LocalRoute = {
    name: 'floor',
    template: 'floor/{*rest}',
    methods: ['GET'],
    handle: async (request) => {
      const answer = await pool.request({
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
  const server = await serveRoutes([route], { port: 0 });
  return { url: server.url, pid: process.pid };
}

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/**
 * The gateway a Node user would hand-build on Fastify 5 and @fastify/reply-from: a verified-token
 * cache (SHA-256 of the token), RS256 verification of the Entra-shaped token on a miss (issuer,
 * audience, lifetime), a role check, an HMAC caller header, and header hygiene both ways.
 */
async function fastifyPeer(input: ServerInput): Promise<StartedServer> {
  const { default: Fastify } = await import('fastify');
  const { default: replyFrom } = await import('@fastify/reply-from');
  const app = Fastify({ logger: false });
  await app.register(replyFrom, { base: input.downstreamUrl!, undici: { connections: 128, pipelining: 1 } });
  const verified = new Map<string, { roles: string[]; oid: string; tid: string; exp: number }>();
  const secret = Buffer.alloc(32, 7);
  app.get('/api/proxy/orders/*', async (request, reply) => {
    const header = request.headers.authorization ?? '';
    if (!header.startsWith('Bearer ')) return reply.code(401).send({ code: 'ERR_CREDENTIAL_MISSING' });
    const token = header.slice(7);
    const key = createHash('sha256').update(token).digest('base64url');
    const now = Math.floor(Date.now() / 1000);
    let claims = verified.get(key);
    if (claims === undefined || claims.exp <= now) {
      try {
        const payload = jwt.verify(token, input.publicKeyPem!, {
          algorithms: ['RS256'],
          issuer: input.issuer!,
          audience: input.audience!,
        }) as jwt.JwtPayload;
        claims = {
          roles: (payload.roles as string[]) ?? [],
          oid: String(payload.oid),
          tid: String(payload.tid),
          exp: payload.exp!,
        };
        if (verified.size > 10_000) verified.clear();
        verified.set(key, claims);
      } catch {
        return reply.code(401).send({ code: 'ERR_TOKEN_INVALID' });
      }
    }
    if (!claims.roles.includes('Orders.Reader')) return reply.code(403).send({ code: 'ERR_POLICY_DENIED' });
    const statement = Buffer.from(
      JSON.stringify({ oid: claims.oid, tid: claims.tid, roles: claims.roles, iat: now }),
    ).toString('base64url');
    const signature = createHmac('sha256', secret).update(statement).digest('base64url');
    const rest = (request.params as { '*': string })['*'];
    return reply.from(`/api/orders/${rest}`, {
      rewriteRequestHeaders: (_req, headers) => {
        const out: Record<string, string | string[] | undefined> = {};
        for (const [name, value] of Object.entries(headers)) {
          if (
            name === 'authorization' ||
            name === 'cookie' ||
            name.startsWith('x-gateway-') ||
            HOP_BY_HOP.has(name)
          )
            continue;
          out[name] = value;
        }
        out['x-gateway-principal'] = `${statement}.${signature}`;
        return out;
      },
      rewriteHeaders: (headers) => {
        const out: Record<string, string | string[] | undefined> = {};
        for (const [name, value] of Object.entries(headers)) if (!HOP_BY_HOP.has(name)) out[name] = value;
        return out;
      },
    });
  });
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  return { url, pid: process.pid };
}

/**
 * The floors of a fresh-token exchange, in one process: the same handler (read the form, run
 * jsonwebtoken's RS256 verify of its `subject_token`: issuer, audience, lifetime) served by a bare
 * node:http server (`url`: no Node server answers a token it has never seen for less) and by the
 * local Functions adapter (`functionsUrl`: the programming model's share). Only one is loaded at
 * a time, so the process's CPU is that one's.
 */
async function jwtVerifyFloor(input: ServerInput): Promise<StartedServer> {
  const key = createPublicKey(input.publicKeyPem!);
  const options: jwt.VerifyOptions = {
    algorithms: ['RS256'],
    issuer: input.issuer!,
    audience: input.audience!,
  };
  const verifies = (form: string) => {
    try {
      jwt.verify(new URLSearchParams(form).get('subject_token') ?? '', key, options);
      return true;
    } catch {
      return false;
    }
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      if (verifies(Buffer.concat(chunks).toString())) {
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      } else res.writeHead(401).end();
    });
  });
  const route: LocalRoute = {
    name: 'verify',
    template: 'verify',
    methods: ['POST'],
    handle: async (request) =>
      verifies(await request.text())
        ? { status: 200, headers: { 'content-type': 'application/json' }, body: '{}' }
        : { status: 401 },
  };
  const functions = await serveRoutes([route], { port: 0 });
  return { url: await listen(server), functionsUrl: `${functions.url}/api/verify`, pid: process.pid };
}

/** A DPoP proof of `key` for one request: a new `jti`, `iat` now (RFC 9449 section 4.2). */
export function dpopProof(key: JsonWebKey, htm: string, htu: string, accessToken?: string): string {
  const { d: _private, ...jwk } = key;
  const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const input = `${b64({ typ: 'dpop+jwt', alg: 'ES256', jwk })}.${b64({
    jti: randomBytes(16).toString('base64url'),
    htm,
    htu,
    iat: Math.floor(Date.now() / 1000),
    ...(accessToken === undefined
      ? {}
      : { ath: createHash('sha256').update(accessToken).digest('base64url') }),
  })}`;
  const privateKey = createPrivateKey({ key: key as never, format: 'jwk' });
  return `${input}.${sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
}

/** The `/api/token` form that exchanges `bearer` for a SAS token on the orders of OID. */
export function exchangeForm(bearer: string): string {
  return new URLSearchParams({
    grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
    subject_token: bearer,
    subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
    resource: `orders/customers/${OID}`,
    scope: 'read',
    requested_lifetime: '3600',
  }).toString();
}

/** Exchanges `bearer` for a SAS token on the orders of OID, bound to `dpopKey` when one is given. */
async function exchangeToken(api: string, bearer: string, dpopKey?: JsonWebKey): Promise<string> {
  const res = await fetch(`${api}/token`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      ...(dpopKey === undefined ? {} : { dpop: dpopProof(dpopKey, 'POST', `${api}/token`) }),
    },
    body: exchangeForm(bearer),
  });
  const token = ((await res.json()) as { access_token?: string }).access_token;
  if (!token) throw new Error(`bench: token exchange failed (${res.status})`);
  return token;
}

/** The local stack's gateway, its Cosmos DB in a process of its own, a resource and policy seeded. */
async function gateway(input: ServerInput): Promise<StartedServer> {
  const stack = await startLocalStack({
    // A key of the run's own, as a deployment sets one (the local stack's fallback warns).
    env: { SAS_SIGNING_KEYS: `bench=${randomBytes(32).toString('base64')}`, ...input.env },
    port: 0,
    // As in Azure: JSON lines on stdout, a pipe its host drains (one `sas.issued` per exchange).
    logger: createJsonLogger(),
    seedDemo: false,
    isolateCosmos: true,
  });
  const api = `${stack.gatewayUrl}/api`;
  const idp = stack.idp!;
  const admin = idp.mintToken({ roles: ['Gateway.Admin'] });
  const put = async (path: string, body: unknown) => {
    const res = await fetch(`${api}/${path}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (res.status >= 300) throw new Error(`bench: seeding ${path} answered ${res.status}`);
  };
  await put('resources/orders', {
    name: 'orders',
    upstream: `${input.downstreamUrl!}/api/orders`,
    auth: { type: 'none' },
  });
  if (input.quota) {
    await put('resources/orders-metered', {
      name: 'orders-metered',
      upstream: `${input.downstreamUrl!}/api/orders`,
      auth: { type: 'none' },
      quotas: [{ per: 'client', limit: 1_000_000_000, window: 'day' }],
    });
    await put('policies/orders-metered-readers', {
      id: 'orders-metered-readers',
      effect: 'allow',
      resource: 'orders-metered',
      paths: ['/customers/{claims.oid}/**'],
      actions: ['read'],
      principals: { roles: ['Orders.Reader'] },
    });
  }
  await put('policies/orders-readers', {
    id: 'orders-readers',
    effect: 'allow',
    resource: 'orders',
    paths: ['/customers/{claims.oid}/**'],
    actions: ['read'],
    principals: { roles: ['Orders.Reader'] },
  });
  const bearer = idp.mintToken({ roles: ['Orders.Reader'], oid: OID });
  const sas = await exchangeToken(api, bearer);
  // A DPoP client: its key and a token bound to it.
  const dpopKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
  const dpopToken = await exchangeToken(api, bearer, dpopKey);
  const freshBearers = Array.from({ length: input.freshTokens ?? 0 }, () =>
    idp.mintToken({ roles: ['Orders.Reader'], oid: OID }),
  );
  return {
    url: stack.gatewayUrl!,
    pid: process.pid,
    databasePid: stack.cosmos!.pid,
    bearer,
    sas,
    freshBearers,
    dpopToken,
    dpopKey,
    idpPublicKeyPem: idp.publicKeyPem,
    idpIssuer: `${idp.authority}/${idp.tenantId}/v2.0`,
    audience: idp.clientId,
  };
}

const STARTERS: Readonly<Record<ServerVariant, (input: ServerInput) => Promise<StartedServer>>> = {
  downstream,
  passthrough,
  'functions-floor': functionsFloor,
  'fastify-peer': fastifyPeer,
  'jwt-verify-floor': jwtVerifyFloor,
  gateway,
};

/** Starts `variant` in a child process; resolves once it listens. */
export function startServer(
  variant: ServerVariant,
  input: ServerInput = {},
): Promise<StartedServer & { stop(): void }> {
  if (!__filename.endsWith('.js')) throw new Error('bench: run the benchmarks compiled (npm run bench)');
  const child = fork(__filename, [], {
    env: { ...process.env, BENCH_SERVER: variant, BENCH_SERVER_INPUT: JSON.stringify(input) },
    execArgv: [],
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  });
  child.stdout!.resume(); // drained, as the Functions host reads its worker's stdout
  return new Promise((resolve, reject) => {
    child.once('message', (message: StartedServer | { error: string }) => {
      if ('error' in message) {
        child.disconnect(); // the child exits with its parent's channel: none is left behind
        reject(new Error(`bench: ${variant}: ${message.error}`));
      } else resolve({ ...message, stop: () => child.disconnect() });
    });
    child.once('exit', (code) => reject(new Error(`bench: ${variant} exited (${code})`)));
  });
}

if (process.env.BENCH_SERVER !== undefined && process.send !== undefined) {
  const variant = process.env.BENCH_SERVER as ServerVariant;
  const input = JSON.parse(process.env.BENCH_SERVER_INPUT ?? '{}') as ServerInput;
  STARTERS[variant](input).then(
    (started) => process.send!(started),
    (err: unknown) => process.send!({ error: String(err) }),
  );
  // Ends with its parent (a benchmark that died does not leave servers behind).
  process.on('disconnect', () => process.exit(0));
}
