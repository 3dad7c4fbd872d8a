/**
 * Graceful shutdown under load (issue #7): what SIGTERM does (`stack.close()`, see
 * src/host/local/main.ts) must let requests in flight finish with their real status, refuse new
 * connections, and write every audit record to Cosmos DB before Cosmos DB stops.
 */
import { spawn } from 'node:child_process';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { startEmbeddedCosmos } from '../../src/host/local/embedded-cosmos';
import { startLocalStack, type LocalStack } from '../../src/host/local/local-stack';
import { MemoryLogger } from '../../src/logger';
import { ensureBuilt, ROOT } from '../helpers/dist';
import { KEY_1 } from '../helpers/gateway-stack';
import { putDocuments } from '../helpers/http';

const SLOW_MS = 300;
const IN_FLIGHT = 8;

/** A downstream that answers every request after SLOW_MS, and counts what reached it. */
async function startSlowDownstream(): Promise<{
  upstream: string;
  hits: () => number;
  close(): Promise<void>;
}> {
  let hits = 0;
  const server: Server = createServer((req, res) => {
    hits++;
    req.resume();
    setTimeout(() => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ path: req.url }));
    }, SLOW_MS);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    upstream: `http://127.0.0.1:${port}/api`,
    hits: () => hits,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** A GET on its own connection (no pool): status and body, or the socket error. */
function get(
  url: string,
  authorization: string,
): Promise<{ status: number; body: string } | { error: string }> {
  return new Promise((resolve) => {
    const req = httpRequest(url, { headers: { authorization }, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', (err) => resolve({ error: err.message }));
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }));
    req.end();
  });
}

/** Whether a new TCP connection to the port is accepted. */
function connects(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function until(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Adds resource `slow` (that downstream) and a policy letting Orders.Reader read it. */
async function addSlowResource(api: string, adminToken: string, upstream: string): Promise<void> {
  await putDocuments(api, adminToken, {
    resources: [{ name: 'slow', upstream, auth: { type: 'none' }, timeoutMs: 5000 }],
    policies: [
      {
        id: 'slow-read',
        effect: 'allow',
        resource: 'slow',
        actions: ['read'],
        principals: { roles: ['Orders.Reader'] },
      },
    ],
  });
}

describe('shutdown with requests in flight (in process)', () => {
  let stack: LocalStack | undefined;
  let downstream: Awaited<ReturnType<typeof startSlowDownstream>>;

  beforeAll(async () => {
    downstream = await startSlowDownstream();
    stack = await startLocalStack({ env: { SAS_SIGNING_KEYS: KEY_1 }, port: 0, logger: new MemoryLogger() });
    const admin = stack.idp!.mintToken({ roles: ['Gateway.Admin'] });
    await addSlowResource(`${stack.gatewayUrl}/api`, admin, downstream.upstream);
  });

  afterAll(async () => {
    await stack?.close();
    await downstream.close();
  });

  it('finishes every request in flight, refuses new connections, and writes the audit before Cosmos DB stops', async () => {
    const live = stack!;
    const gateway = live.gateway!;
    const port = Number(new URL(live.gatewayUrl!).port);
    const reader = `Bearer ${live.idp!.mintToken({ roles: ['Orders.Reader'] })}`;
    await gateway.auditLog.flush();
    const before = gateway.auditLog.stats;

    const hitsBefore = downstream.hits();
    const inFlight = Array.from({ length: IN_FLIGHT }, (_, i) =>
      get(`${live.gatewayUrl}/api/proxy/slow/items/${i}`, reader),
    );
    // Every request has reached the downstream: all are in flight in the gateway.
    await until(() => downstream.hits() - hitsBefore === IN_FLIGHT, 'the requests to reach the downstream');

    const closing = live.close();
    stack = undefined;
    expect(await connects(port)).toBe(false);

    const answers = await Promise.all(inFlight);
    await closing;
    expect(answers).toEqual(
      Array.from({ length: IN_FLIGHT }, (_, i) => ({
        status: 200,
        body: JSON.stringify({ path: `/api/items/${i}` }),
      })),
    );
    // Every record of those requests went to the Cosmos DB sink (no failed write, nothing left):
    // gateway.close() flushed before the client was disposed and Cosmos DB stopped.
    const after = gateway.auditLog.stats;
    expect(after.queued).toBe(0);
    expect(after.dropped).toBe(before.dropped);
    expect(after.failedWrites).toBe(before.failedWrites);
    expect(after.written - before.written).toBeGreaterThanOrEqual(IN_FLIGHT);
  });
});

const MAIN_JS = join(ROOT, 'dist/src/host/local/main.js');

describe('SIGTERM to `npm start` (child process, from dist/)', () => {
  // Built first, never skipped: a missing build fails here, and ports another stack holds are
  // replaced by free ones (PORT=0; the embedded parts fall back), so this always runs.
  beforeAll(() => ensureBuilt(), 120_000);

  it('exits 0 after the request in flight completed', async () => {
    const downstream = await startSlowDownstream();
    const child = spawn(process.execPath, [MAIN_JS], {
      cwd: ROOT,
      env: { ...process.env, LOG_LEVEL: 'error', PORT: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
      child.stderr.on('data', () => undefined);
      await until(() => /export TOKEN=(\S+)/.test(out), 'the ready banner', 30_000);
      const token = /export TOKEN=(\S+)/.exec(out)![1]!; // roles Gateway.Admin and Orders.Reader
      const api = /gateway\s+(http:\/\/127\.0\.0\.1:\d+\/api)/.exec(out)![1]!;
      await addSlowResource(api, token, downstream.upstream);

      const answer = get(`${api}/proxy/slow/items/1`, `Bearer ${token}`);
      await until(() => downstream.hits() === 1, 'the request to reach the downstream');
      child.kill('SIGTERM');
      expect(await answer).toEqual({ status: 200, body: JSON.stringify({ path: '/api/items/1' }) });
      expect(await exited).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
      await downstream.close();
    }
  }, 60_000);
});

describe('SIGTERM while Cosmos DB refuses (child process, from dist/)', () => {
  beforeAll(() => ensureBuilt(), 120_000);

  it('retries the queued audit records for the grace period, then logs and counts each one it could not write, and exits', async () => {
    // The database apart, so that it can be frozen and then killed under the gateway.
    const cosmos = await startEmbeddedCosmos({ isolated: true });
    const child = spawn(process.execPath, [MAIN_JS], {
      cwd: ROOT,
      env: { ...process.env, LOG_LEVEL: 'warn', PORT: '0', COSMOS_ENDPOINT: cosmos.endpoint },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      let out = '';
      let err = '';
      child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
      await until(() => /export TOKEN=(\S+)/.test(out), 'the ready banner', 30_000);
      const token = /export TOKEN=(\S+)/.exec(out)![1]!;
      const api = /gateway\s+(http:\/\/127\.0\.0\.1:\d+\/api)/.exec(out)![1]!;
      const queued = async () => {
        const res = await fetch(`${api}/health`);
        return ((await res.json()) as { checks: { audit: { queued: number } } }).checks.audit.queued;
      };
      // Everything so far stored; then the database freezes and 20 decisions are queued.
      for (let i = 0; (await queued()) > 0; i++) {
        if (i > 100) throw new Error('the audit queue never drained');
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      process.kill(cosmos.pid, 'SIGSTOP');
      for (let i = 0; i < 20; i++) {
        const res = await fetch(`${api}/authorize`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ resource: 'orders', action: 'read', path: '/customers/42' }),
        });
        expect(res.status).toBe(200);
      }
      // Now it refuses every connection, and the gateway is told to stop.
      process.kill(cosmos.pid, 'SIGKILL');
      const stopping = Date.now();
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      // The 4 s grace, and what the rest of the stop takes.
      expect(Date.now() - stopping).toBeLessThan(10_000);
      const discarded = err
        .split('\n')
        .filter((line) => line.includes('"audit.discarded"'))
        .map((line) => JSON.parse(line) as { level: string; records: number; graceMs: number });
      expect(discarded).toEqual([expect.objectContaining({ level: 'error', records: 20, graceMs: 4000 })]);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
      await cosmos.close().catch(() => undefined);
    }
  }, 90_000);
});
