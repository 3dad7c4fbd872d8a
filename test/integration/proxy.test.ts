/**
 * The proxy end to end: the local stack's gateway in front of small node:http downstreams this
 * test controls (each counts what reaches it), plus the real orders sample verifying the
 * gateway's x-gateway-principal statement.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as msal from '@azure/msal-node';
import type { AccessToken, TokenCredential } from '@azure/core-auth';
import { serveRoutes, type LocalHttpServer } from '../../src/host/local/http/server';
import { startGatewayInstance, startLocalStack, type LocalStack } from '../../src/host/local/local-stack';
import { ordersRoute, type OrdersSettings } from '../../src/host/local/orders-downstream';
import { MemoryLogger } from '../../src/logger';
import { call, putDocuments, rawRequest as raw } from '../helpers/http';
import {
  loopbackNetworkClient,
  startFakeTokenEndpoint,
  type FakeTokenEndpoint,
} from '../helpers/fake-token-endpoint';
import { HOSTILE_PATHS } from '../helpers/hostile-paths';

const MAX_BODY = 12 * 1024 * 1024;
const TEN_MB = 10 * 1024 * 1024;

interface Hit {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  rawHeaders: string[];
}

/** A downstream that records every request and answers by path. */
async function startDownstream(): Promise<{
  url: string;
  hits: Hit[];
  server: Server;
  close(): Promise<void>;
}> {
  const hits: Hit[] = [];
  const pattern = randomBytes(64 * 1024);
  const server = createServer((req, res) => {
    hits.push({ method: req.method!, url: req.url!, headers: req.headers, rawHeaders: req.rawHeaders });
    const url = new URL(req.url!, 'http://x');
    const path = url.pathname.replace(/^\/base/, '');
    if (path === '/upload') {
      const hash = createHash('sha256');
      let bytes = 0;
      req.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        hash.update(chunk);
      });
      req.on('end', () => {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ bytes, sha256: hash.digest('hex') }));
      });
      return;
    }
    req.resume();
    if (path === '/download') {
      const total = Number(url.searchParams.get('bytes'));
      const hash = createHash('sha256');
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      let sent = 0;
      const pump = () => {
        while (sent < total) {
          const chunk = pattern.subarray(0, Math.min(pattern.length, total - sent));
          sent += chunk.length;
          hash.update(chunk);
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        res.addTrailers({});
        res.end();
        expectedDownload = hash.digest('hex');
      };
      pump();
      return;
    }
    if (path === '/redirect') {
      res.writeHead(302, { location: '/elsewhere' });
      res.end();
      return;
    }
    if (path === '/hop') {
      res.writeHead(200, [
        ['connection', 'keep-alive, x-hop-secret'],
        ['x-hop-secret', '1'],
        ['keep-alive', 'timeout=99'],
        ['set-cookie', 'a=1'],
        ['set-cookie', 'b=2'],
        ['x-downstream', 'yes'],
        ['content-type', 'text/plain'],
      ] as unknown as Record<string, string>);
      res.end('hop');
      return;
    }
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ method: req.method, url: req.url }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    hits,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
let expectedDownload = '';

class CountingTokenCredential implements TokenCredential {
  calls = 0;
  getToken(): Promise<AccessToken> {
    this.calls += 1;
    return Promise.resolve({ token: `mi-token-${this.calls}`, expiresOnTimestamp: Date.now() + 3_600_000 });
  }
}

describe('proxy /api/proxy/{resource}/{*path}', () => {
  let stack: LocalStack;
  let api: string;
  let down: Awaited<ReturnType<typeof startDownstream>>;
  let orders: LocalHttpServer;
  let tokenEndpoint: FakeTokenEndpoint;
  let user: string;
  let outsider: string;
  let admin: string;
  const logger = new MemoryLogger();
  const mi = new CountingTokenCredential();

  const resource = (name: string, body: Record<string, unknown>) => ({
    name,
    timeoutMs: 5000,
    auth: { type: 'none' },
    ...body,
  });

  beforeAll(async () => {
    tokenEndpoint = await startFakeTokenEndpoint();
    stack = await startLocalStack({
      env: {
        PROXY_MAX_BODY_BYTES: String(MAX_BODY),
        DOWNSTREAM_KEY_SETTINGS: 'SVC_KEY,NOT_SET_KEY',
        GATEWAY_CLIENT_ID: 'gw-client',
        GATEWAY_CLIENT_SECRET: 'gw-secret',
      },
      port: 0,
      logger,
      seedDemo: false,
      // The downstream credentials' I/O: app settings, a managed identity and Entra's token endpoint.
      io: {
        proxy: {
          logger,
          env: { SVC_KEY: 'function-key-1' },
          tokenCredential: mi,
          loadMsal: () => Promise.resolve(msal),
          msalNetworkClient: loopbackNetworkClient(),
          authorityHost: tokenEndpoint.authorityHost,
        },
      },
    });
    api = `${stack.gatewayUrl}/api`;
    const gateway = stack.gateway!;
    admin = stack.idp!.mintToken({ roles: [gateway.config.adminRole] });
    user = stack.idp!.mintToken({ roles: ['Proxy.User'], oid: '11111111-1111-4111-8111-111111111111' });
    outsider = stack.idp!.mintToken({ roles: ['Someone.Else'] });
    down = await startDownstream();
    const settings: OrdersSettings = {
      gatewayIssuer: `${stack.gatewayUrl}/api`,
      functionKey: 'function-key-1',
    };
    orders = await serveRoutes([ordersRoute(() => settings)], { port: 0 });

    const dead = createServer();
    await new Promise<void>((resolve) => dead.listen(0, '127.0.0.1', resolve));
    const deadPort = (dead.address() as AddressInfo).port;
    await new Promise<void>((resolve) => dead.close(() => resolve()));

    const base = `${down.url}/base`;
    await putDocuments(api, admin, {
      resources: [
        resource('svc', { upstream: base }),
        resource('dead', { upstream: `http://127.0.0.1:${deadPort}` }),
        resource('fk', { upstream: base, auth: { type: 'functionKey', keySetting: 'SVC_KEY' } }),
        resource('fkmissing', { upstream: base, auth: { type: 'functionKey', keySetting: 'NOT_SET_KEY' } }),
        resource('mi', { upstream: base, auth: { type: 'managedIdentity', scope: 'api://svc/.default' } }),
        resource('obo', { upstream: base, auth: { type: 'onBehalfOf', scopes: ['api://svc/read'] } }),
        resource('orders', {
          upstream: `${orders.url}/api/orders`,
          auth: { type: 'functionKey', keySetting: 'SVC_KEY' },
        }),
      ],
      policies: [
        {
          id: 'proxy-users',
          effect: 'allow',
          resource: '*',
          actions: ['*'],
          principals: { roles: ['Proxy.User'] },
        },
      ],
    });
  });

  afterAll(async () => {
    await Promise.all([stack?.close(), down?.close(), orders?.close(), tokenEndpoint?.close()]);
  });

  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

  it('forwards GET with its query to ${upstream}/{path}?{query}, upstream path prefix kept', async () => {
    const res = await call(`${api}/proxy/svc/customers/42?x=1&y=a%20b`, { headers: bearer(user) });
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ method: 'GET', url: '/base/customers/42?x=1&y=a%20b' });
  });

  it('headers: hop-by-hop both ways, forged x-gateway-*, Authorization and Cookie removed; tracing set', async () => {
    const trace = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const before = down.hits.length;
    const res = await raw(stack.gatewayUrl!, '/api/proxy/svc/hop', {
      headers: {
        ...bearer(user),
        cookie: 'gateway-session=1',
        // A caller listing the forwarding and tracing headers as hop-by-hop cannot remove them.
        connection: 'keep-alive, x-caller-hop, x-forwarded-for, traceparent, x-correlation-id',
        'x-caller-hop': 'drop',
        dpop: 'a.proof.for-the-gateway',
        'x-gateway-principal': 'forged',
        'x-gateway-admin': 'true',
        'x-correlation-id': 'corr-42',
        'x-forwarded-for': '203.0.113.9',
        traceparent: trace,
        'x-custom': 'kept',
      },
    });
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe('hop');
    expect(res.headers['x-hop-secret']).toBeUndefined();
    expect(res.headers['keep-alive']).not.toBe('timeout=99'); // the gateway's own socket may send one
    expect(res.headers['set-cookie']).toEqual(['a=1', 'b=2']);
    expect(res.headers['x-downstream']).toBe('yes');
    expect(res.headers['x-correlation-id']).toBe('corr-42');

    const seen = down.hits[before]!.headers;
    expect(seen.authorization).toBeUndefined();
    expect(seen.cookie).toBeUndefined();
    expect(seen.dpop).toBeUndefined();
    expect(seen['x-caller-hop']).toBeUndefined();
    expect(seen['x-gateway-admin']).toBeUndefined();
    expect(seen['x-gateway-principal']).not.toBe('forged');
    // A compact JWS: header, claims, and a 64-byte ES256 signature.
    expect(seen['x-gateway-principal']).toMatch(/^[\w-]+\.[\w-]+\.[\w-]{86}$/);
    expect(seen['x-custom']).toBe('kept');
    expect(seen['x-correlation-id']).toBe('corr-42');
    expect(seen.traceparent).toBe(trace);
    expect(seen['x-forwarded-for']).toBe('203.0.113.9, 127.0.0.1');
    expect(seen['x-forwarded-proto']).toBe('http');
    expect(seen['x-forwarded-host']).toBe(new URL(stack.gatewayUrl!).host);
    expect(seen.host).toBe(new URL(down.url).host);
  });

  it('creates a correlation id and a traceparent when none (or an invalid one) is sent', async () => {
    const before = down.hits.length;
    const res = await call(`${api}/proxy/svc/x`, { headers: { ...bearer(user), traceparent: 'nope' } });
    const seen = down.hits[before]!.headers;
    expect(seen['x-correlation-id']).toBe(res.headers.get('x-correlation-id'));
    expect(seen.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
  });

  it('streams a 10 MB upload byte-exact', async () => {
    const body = randomBytes(TEN_MB);
    const chunks = Array.from({ length: 160 }, (_, i) => body.subarray(i * 65536, (i + 1) * 65536));
    const res = await raw(stack.gatewayUrl!, '/api/proxy/svc/upload', {
      method: 'POST',
      headers: { ...bearer(user), 'content-type': 'application/octet-stream' },
      body: chunks,
    });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body.toString())).toEqual({
      bytes: TEN_MB,
      sha256: createHash('sha256').update(body).digest('hex'),
    });
  });

  it('streams a 10 MB download byte-exact without buffering it', async () => {
    const before = process.memoryUsage().arrayBuffers;
    const res = await fetch(`${api}/proxy/svc/download?bytes=${TEN_MB}`, { headers: bearer(user) });
    expect(res.status).toBe(200);
    const hash = createHash('sha256');
    let bytes = 0;
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      bytes += chunk.byteLength;
      hash.update(chunk);
    }
    expect(bytes).toBe(TEN_MB);
    expect(hash.digest('hex')).toBe(expectedDownload);
    // Loose bound: a buffered copy of the body would add 10 MB (twice, with the caller's).
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(40 * 1024 * 1024);
  });

  const hostile = HOSTILE_PATHS.filter((p) => !/%(zz|e0%a4%a$|c0)/.test(p));
  it(`refuses ${hostile.length} hostile paths with 400 ERR_PATH_TRAVERSAL, nothing downstream`, async () => {
    expect(hostile.length).toBeGreaterThanOrEqual(15);
    const before = down.hits.length;
    for (const path of hostile) {
      const res = await raw(stack.gatewayUrl!, `/api/proxy/svc${path}`, { headers: bearer(user) });
      expect({
        path,
        status: res.status,
        code: (JSON.parse(res.body.toString()) as { code: string }).code,
      }).toEqual({
        path,
        status: 400,
        code: 'ERR_PATH_TRAVERSAL',
      });
    }
    expect(down.hits.length).toBe(before);
  });

  it.each([
    {
      name: 'a caller no policy allows',
      path: '/api/proxy/svc/x',
      token: 'outsider',
      status: 403,
      code: 'ERR_POLICY_DENIED',
    },
    {
      name: 'an unknown resource',
      path: '/api/proxy/nope/x',
      token: 'user',
      status: 404,
      code: 'ERR_RESOURCE_NOT_FOUND',
    },
    {
      name: 'no credential',
      path: '/api/proxy/svc/x',
      token: undefined,
      status: 401,
      code: 'ERR_CREDENTIAL_MISSING',
    },
  ])('$name: $status $code, nothing downstream', async ({ path, token, status, code }) => {
    const before = down.hits.length;
    const headers = token === undefined ? {} : bearer(token === 'user' ? user : outsider);
    const res = await call(`${stack.gatewayUrl}${path}`, { headers });
    expect(res.status).toBe(status);
    expect(res.json.code).toBe(code);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(down.hits.length).toBe(before);
  });

  it('logs why a call was denied, never tells the caller', async () => {
    const res = await call(`${api}/proxy/svc/x`, {
      headers: { ...bearer(outsider), 'x-correlation-id': 'deny-1' },
    });
    expect(JSON.stringify(res.json)).not.toContain('NO_MATCHING_POLICY');
    expect(
      logger.entries.find((e) => e.event === 'proxy.denied' && e.fields.correlationId === 'deny-1')?.fields,
    ).toMatchObject({
      reasonCode: 'NO_MATCHING_POLICY',
    });
  });

  it('502 ERR_UPSTREAM_UNREACHABLE for a dead upstream', async () => {
    const res = await call(`${api}/proxy/dead/x`, { headers: bearer(user) });
    expect(res.status).toBe(502);
    expect(res.json.code).toBe('ERR_UPSTREAM_UNREACHABLE');
    expect(JSON.stringify(res.json)).not.toContain('ECONNREFUSED');
  });

  // 504 and the whole-exchange deadline: proxy-failures.test.ts, on an injected clock.

  it('413 on a declared Content-Length over PROXY_MAX_BODY_BYTES, before anything is sent', async () => {
    const before = down.hits.length;
    const res = await raw(stack.gatewayUrl!, '/api/proxy/svc/upload', {
      method: 'POST',
      headers: { ...bearer(user), 'content-length': String(MAX_BODY + 1) },
      body: [Buffer.alloc(1024)],
    });
    expect(res.status).toBe(413);
    expect(down.hits.length).toBe(before);
  });

  it('413 on a chunked body that crosses the limit while streaming (upstream request aborted)', async () => {
    const chunk = Buffer.alloc(1024 * 1024, 1);
    const res = await raw(stack.gatewayUrl!, '/api/proxy/svc/upload', {
      method: 'POST',
      headers: { ...bearer(user), 'transfer-encoding': 'chunked' },
      body: Array.from({ length: 13 }, () => chunk),
    });
    expect({ status: res.status, body: res.body.toString() }).toMatchObject({ status: 413 });
    expect(JSON.parse(res.body.toString())).toMatchObject({ code: 'ERR_PAYLOAD_TOO_LARGE' });
  });

  it('passes a redirect back as is, never following it', async () => {
    const before = down.hits.length;
    const res = await fetch(`${api}/proxy/svc/redirect`, { headers: bearer(user), redirect: 'manual' });
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('/elsewhere');
    expect(down.hits.length).toBe(before + 1);
  });

  it('functionKey: the downstream sees x-functions-key from the app setting', async () => {
    const before = down.hits.length;
    expect((await call(`${api}/proxy/fk/x`, { headers: bearer(user) })).status).toBe(200);
    expect(down.hits[before]!.headers['x-functions-key']).toBe('function-key-1');
  });

  it('functionKey without its app setting: 502 ERR_UPSTREAM_CREDENTIAL, nothing downstream', async () => {
    const before = down.hits.length;
    const res = await call(`${api}/proxy/fkmissing/x`, { headers: bearer(user) });
    expect(res.status).toBe(502);
    expect(res.json.code).toBe('ERR_UPSTREAM_CREDENTIAL');
    expect(JSON.stringify(res.json)).not.toContain('NOT_SET_KEY');
    expect(down.hits.length).toBe(before);
  });

  it('managedIdentity: Bearer token from the TokenCredential, cached across calls', async () => {
    const before = down.hits.length;
    await call(`${api}/proxy/mi/a`, { headers: bearer(user) });
    await call(`${api}/proxy/mi/b`, { headers: bearer(user) });
    expect(down.hits[before]!.headers.authorization).toBe('Bearer mi-token-1');
    expect(down.hits[before + 1]!.headers.authorization).toBe('Bearer mi-token-1');
    expect(mi.calls).toBe(1);
  });

  it('onBehalfOf: Bearer token from msal-node, exchanged for the caller’s own token', async () => {
    const before = down.hits.length;
    const res = await call(`${api}/proxy/obo/a`, { headers: bearer(user) });
    expect(res.status).toBe(200);
    expect(down.hits[before]!.headers.authorization).toMatch(/^Bearer obo-\d+$/);
    expect(tokenEndpoint.requests.at(-1)).toMatchObject({
      assertion: user,
      requested_token_use: 'on_behalf_of',
    });
  });

  describe('with a SAS credential', () => {
    let sas: string;
    beforeAll(async () => {
      const form = new URLSearchParams({
        grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
        subject_token: user,
        subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
        resource: 'svc/customers/42',
        scope: 'read',
      });
      const res = await call(`${api}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: form.toString(),
      });
      expect(res.status).toBe(200);
      sas = res.json.access_token as string;
    });
    const sasAuth = () => ({ authorization: `SharedAccessSignature ${sas}` });

    it('forwards inside its sr / sp', async () => {
      const res = await call(`${api}/proxy/svc/customers/42/orders`, { headers: sasAuth() });
      expect(res.status).toBe(200);
    });

    it.each([
      { name: 'another path', method: 'GET', path: '/api/proxy/svc/customers/420' },
      { name: 'another action', method: 'DELETE', path: '/api/proxy/svc/customers/42' },
      { name: 'another resource', method: 'GET', path: '/api/proxy/fk/customers/42' },
    ])('403 ERR_SAS_SCOPE outside it ($name), nothing downstream', async ({ method, path }) => {
      const before = down.hits.length;
      const res = await call(`${stack.gatewayUrl}${path}`, { method, headers: sasAuth() });
      expect(res.status).toBe(403);
      expect(res.json.code).toBe('ERR_SAS_SCOPE');
      expect(down.hits.length).toBe(before);
    });
  });

  it('the orders sample verifies the channel and x-gateway-principal: 200 through the gateway, 401 direct', async () => {
    const via = await call(`${api}/proxy/orders/customers/42/orders`, { headers: bearer(user) });
    expect(via.status).toBe(200);
    expect(via.json.caller).toMatchObject({
      oid: '11111111-1111-4111-8111-111111111111',
      roles: ['Proxy.User'],
      cred: 'entra',
    });
    // The statement is not echoed back: a caller never gets one to replay.
    expect(via.json.received).toMatchObject({ 'x-gateway-principal': true });
    const statement = stack.gateway!.statements.statementFor(
      await stack.gateway!.entra.verify(user),
      'orders',
      api,
    );
    // Without the channel credential, even a genuine statement is refused.
    const noKey = await call(`${orders.url}/api/orders/customers/42/orders`, {
      headers: { 'x-gateway-principal': statement },
    });
    expect({ status: noKey.status, code: noKey.json.code }).toEqual({
      status: 401,
      code: 'ERR_CHANNEL_CREDENTIAL',
    });
    const forged = await call(`${orders.url}/api/orders/customers/42/orders`, {
      headers: { 'x-functions-key': 'function-key-1', 'x-gateway-principal': 'forged.AAAA.BBBB' },
    });
    expect({ status: forged.status, code: forged.json.code }).toEqual({
      status: 401,
      code: 'ERR_PRINCIPAL_STATEMENT_INVALID',
    });
    expect((await call(`${orders.url}/api/orders/x`)).status).toBe(401);
  });

  it('an upstream host outside DOWNSTREAM_ALLOWED_HOSTS (narrowed since) is 502, never called', async () => {
    // An instance whose proxy checks a narrower list than the one the resources were saved under.
    const narrowed = await startGatewayInstance(stack, {
      logger,
      deps: { proxy: { logger, allowedHosts: ['*.example.net'] } },
    });
    try {
      const before = down.hits.length;
      const res = await call(`${narrowed.url}/api/proxy/svc/x`, { headers: bearer(user) });
      expect(res.status).toBe(502);
      expect(res.json.code).toBe('ERR_UPSTREAM_UNREACHABLE');
      expect(down.hits.length).toBe(before);
      expect(logger.events()).toContain('proxy.upstream_refused');
    } finally {
      await narrowed.close();
    }
  });
});
