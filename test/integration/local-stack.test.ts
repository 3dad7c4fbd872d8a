import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { ConfigError } from '../../src/config/load-config';
import { startLocalStack, type LocalStack } from '../../src/host/local/local-stack';
import { formatBanner } from '../../src/host/local/main';
import { MemoryLogger } from '../../src/logger';
import type { Principal } from '../../src/auth/principal';
import { postChunked } from '../helpers/http';
import { principalWith } from '../helpers/principal';

/** Environment with none of the gateway's settings: every external part runs embedded. */
const BARE_ENV = {};

interface Answer {
  status: number;
  headers: Headers;
  json: Record<string, unknown>;
}

async function call(url: string, init: RequestInit = {}): Promise<Answer> {
  const res = await fetch(url, init);
  const text = await res.text();
  return {
    status: res.status,
    headers: res.headers,
    json: text ? (JSON.parse(text) as Record<string, unknown>) : {},
  };
}

describe('local stack, every part embedded', () => {
  let stack: LocalStack;
  let api: string;
  let token: string;

  beforeAll(async () => {
    stack = await startLocalStack({ env: BARE_ENV, port: 0, logger: new MemoryLogger() });
    api = `${stack.gatewayUrl}/api`;
    token = stack.idp!.mintToken({ roles: ['Orders.Reader'] });
  });

  afterAll(() => stack?.close());

  it('reports which parts are embedded and the effective settings', () => {
    expect(stack.embedded).toEqual({ cosmos: true, identityProvider: true, orders: true });
    expect(stack.env.ENTRA_AUTHORITY).toBe(stack.idp!.authority);
    expect(stack.env.ENTRA_AUDIENCES).toBe(`${stack.idp!.clientId},${stack.idp!.audience}`);
    expect(stack.env.COSMOS_ENDPOINT).toBe(stack.cosmos!.endpoint);
    expect(stack.env.COSMOS_ENDPOINT).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
  });

  it('GET /api/health answers 200 with a correlation id', async () => {
    const res = await call(`${api}/health`);
    expect(res.json).toMatchObject({ status: 'healthy' });
    // Without REDIS_URL quotas are counted per instance, and health says so (the banner too).
    expect((res.json.checks as Record<string, unknown>).quotas).toEqual({
      status: 'ok',
      store: 'memory',
      failures: 0,
    });
    expect(formatBanner(stack)).toContain(
      'quotas             counted per instance, in memory (set REDIS_URL',
    );
    expect(res.status).toBe(200);
    expect(res.headers.get('x-correlation-id')).toBeTruthy();
  });

  it('keeps a well-formed caller correlation id', async () => {
    const res = await call(`${api}/HEALTH`, { headers: { 'x-correlation-id': 'abc-123' } });
    expect(res.headers.get('x-correlation-id')).toBe('abc-123');
  });

  it('POST /api/authorize with a dev token answers 200 with a deny decision', async () => {
    const res = await call(`${api}/authorize`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ resource: 'orders', action: 'read', path: '/customers/42' }),
    });
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ allowed: false, decision: 'deny' });
    expect(res.headers.get('x-correlation-id')).toBeTruthy();
  });

  it('accepts a v1 token (audience = App ID URI) too', async () => {
    const res = await call(`${api}/authorize`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${stack.idp!.mintToken({ version: '1.0' })}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ resource: 'orders', action: 'read' }),
    });
    expect(res.status).toBe(200);
  });

  const authorizeBody = JSON.stringify({ resource: 'orders', action: 'read', path: '/customers/42' });
  it.each([
    {
      name: 'no credential',
      headers: { 'content-type': 'application/json' },
      body: authorizeBody,
      status: 401,
      code: undefined as string | undefined,
    },
    {
      name: 'malformed JSON',
      headers: { 'content-type': 'application/json' },
      body: '{"resource":',
      status: 400,
      code: 'ERR_BAD_REQUEST',
    },
    {
      name: 'wrong content type',
      headers: { 'content-type': 'text/plain' },
      body: authorizeBody,
      status: 415,
      code: 'ERR_UNSUPPORTED_MEDIA_TYPE',
    },
    {
      name: 'body over 64 KiB',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ resource: 'orders', action: 'read', path: 'x'.repeat(70 * 1024) }),
      status: 413,
      code: 'ERR_PAYLOAD_TOO_LARGE',
    },
  ])('POST /api/authorize, $name: $status problem+json', async ({ name, headers, body, status, code }) => {
    const auth: Record<string, string> = name === 'no credential' ? {} : { authorization: `Bearer ${token}` };
    const res = await call(`${api}/authorize`, { method: 'POST', headers: { ...headers, ...auth }, body });
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(res.headers.get('x-correlation-id')).toBe(res.json.correlationId);
    if (code) expect(res.json.code).toBe(code);
    if (status === 401) expect(res.headers.get('www-authenticate')).toMatch(/^Bearer /);
  });

  it('answers 413 to an oversized chunked body without buffering it', async () => {
    const status = await postChunked(`${api}/authorize`, {
      authorization: `Bearer ${token}`,
      'content-type': 'application/json',
    });
    expect(status).toBe(413);
  });

  it.each([
    { method: 'GET', path: '/nope', status: 404, code: 'ERR_NOT_FOUND', allow: null },
    { method: 'GET', path: '/../health', status: 404, code: 'ERR_NOT_FOUND', allow: null },
    { method: 'GET', path: '/authorize', status: 405, code: 'ERR_METHOD_NOT_ALLOWED', allow: 'POST' },
    { method: 'DELETE', path: '/health', status: 405, code: 'ERR_METHOD_NOT_ALLOWED', allow: 'GET' },
  ])('$method /api$path: $status $code', async ({ method, path, status, code, allow }) => {
    const res = await call(`${api}${path}`, { method });
    expect(res.status).toBe(status);
    expect(res.json.code).toBe(code);
    expect(res.headers.get('x-correlation-id')).toBe(res.json.correlationId);
    expect(res.headers.get('allow')).toBe(allow);
  });

  it('answers 404 outside the /api prefix', async () => {
    const res = await call(`${stack.gatewayUrl}/health`);
    expect(res.status).toBe(404);
  });

  /** A statement signed by the stack gateway's statement key for `orders`, as the proxy sends it. */
  const caller: Principal = principalWith({ scopes: ['s'], expiresAt: Math.floor(Date.now() / 1000) + 3600 });
  const statement = () => stack.gateway!.statements.statementFor(caller, 'orders', `${stack.gatewayUrl}/api`);
  /** The channel credential the gateway sends the sample (its function key). */
  const channel = () => ({ 'x-functions-key': stack.ordersKey });

  it('serves the sample downstream, which refuses calls without the channel credential or the statement', async () => {
    const refused = await call(`${stack.orders.url}/api/orders/customers/42/orders`);
    expect(refused.status).toBe(401);
    const withoutStatement = await call(`${stack.orders.url}/api/orders/customers/42/orders`, {
      headers: channel(),
    });
    expect(withoutStatement.json.code).toBe('ERR_PRINCIPAL_STATEMENT_INVALID');
    const withoutChannel = await call(`${stack.orders.url}/api/orders/customers/42/orders`, {
      headers: { 'x-gateway-principal': statement() },
    });
    expect(withoutChannel.json.code).toBe('ERR_CHANNEL_CREDENTIAL');
    const signed = statement();
    const res = await call(`${stack.orders.url}/api/orders/customers/42/orders?x=1`, {
      headers: { 'x-correlation-id': 'corr-1', 'x-gateway-principal': signed, ...channel() },
    });
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({
      service: 'orders',
      method: 'GET',
      path: '/customers/42/orders',
      query: { x: '1' },
      received: { 'x-correlation-id': 'corr-1', 'x-gateway-principal': true, 'x-functions-key': true },
      caller: { oid: 'o', tid: 't', azp: 'a', cred: 'entra' },
    });
    expect(res.json.orders).toHaveLength(2);
    expect(res.headers.get('x-correlation-id')).toBe('corr-1');
  });

  it('streams a request body through to the sample downstream', async () => {
    const res = await call(`${stack.orders.url}/api/orders/anything`, {
      method: 'POST',
      body: 'hello',
      headers: { 'x-gateway-principal': statement(), ...channel() },
    });
    expect(res.json).toMatchObject({ method: 'POST', path: '/anything' });
  });
});

describe('local stack with settings from the environment', () => {
  it.each([
    { env: { ENTRA_CLOCK_SKEW_SECONDS: 'abc' }, setting: 'ENTRA_CLOCK_SKEW_SECONDS' },
    { env: { COSMOS_ENDPOINT: 'http://cosmos.example.com' }, setting: 'COSMOS_ENDPOINT' },
    { env: { ENTRA_AUTHORITY: 'http://127.0.0.1:9' }, setting: 'ENTRA_TENANT_ID' },
    { env: { SAS_SIGNING_KEYS: 'k=c2hvcnQ=' }, setting: 'SAS_SIGNING_KEYS' },
    { env: { PORT: '70000' }, setting: 'PORT' },
  ])(
    'rejects $env with a ConfigError naming $setting, before starting anything',
    async ({ env, setting }) => {
      const logger = new MemoryLogger();
      const failure = await startLocalStack({ env, logger }).then(
        (stack) => stack.close().then(() => undefined),
        (err: unknown) => err,
      );
      expect(failure).toBeInstanceOf(ConfigError);
      expect((failure as ConfigError).setting).toBe(setting);
      expect((failure as ConfigError).message).not.toContain('\n');
      expect(logger.entries).toEqual([]);
    },
  );

  const mainJs = join(__dirname, '..', '..', 'dist', 'src', 'host', 'local', 'main.js');
  // CI builds before testing; a plain `jest` run without a build skips this one.
  (existsSync(mainJs) ? it : it.skip)(
    'main.js prints one "configuration error" line and exits 1',
    async () => {
      const child = spawn(process.execPath, [mainJs], {
        env: { PATH: process.env.PATH, ENTRA_CLOCK_SKEW_SECONDS: 'abc' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.stdout.resume();
      const [code] = (await once(child, 'exit')) as [number | null];
      expect(code).toBe(1);
      expect(stderr).toMatch(/^configuration error: ENTRA_CLOCK_SKEW_SECONDS: .+\n$/);
    },
  );

  describe('with COSMOS_ENDPOINT pointing at a dead port', () => {
    let stack: LocalStack;
    let dead: Server;

    beforeAll(async () => {
      // Find a loopback port nothing listens on: bind one, then free it.
      dead = createServer();
      await new Promise<void>((resolve) => dead.listen(0, '127.0.0.1', resolve));
      const { port } = dead.address() as AddressInfo;
      await new Promise<void>((resolve) => dead.close(() => resolve()));
      stack = await startLocalStack({
        env: { COSMOS_ENDPOINT: `https://127.0.0.1:${port}`, COSMOS_KEY: 'ZHVtbXk=' },
        port: 0,
        logger: new MemoryLogger(),
      });
    });

    afterAll(() => stack?.close());

    it('still listens, and /api/health answers 503 naming cosmos', async () => {
      expect(stack.embedded.cosmos).toBe(false);
      const res = await call(`${stack.gatewayUrl}/api/health`);
      expect(res.status).toBe(503);
      expect(res.json.failing).toContain('cosmos');
      expect(res.headers.get('x-correlation-id')).toBeTruthy();
    });
  });
});
