/**
 * The proxy when the downstream misbehaves after it started answering, and when the caller sends
 * `Expect: 100-continue`. Real servers on loopback: a downstream that dies or stalls in the middle
 * of its body, one that never answers, and curl itself for the upload.
 *
 * The gateway's deadline of a call (the resource's `timeoutMs`, over the whole exchange) runs on
 * an injected clock: the tests move it and fire what is due, so nothing here depends on how fast
 * a busy machine is.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../../src/clock';
import type { Services } from '../../src/services';
import { startLocalStack, type LocalStack } from '../../src/host/local/local-stack';
import { MemoryLogger } from '../../src/logger';
import { call, jsonCall } from '../helpers/http';
import { startSecondGateway } from '../helpers/second-gateway';

const TIMEOUT_MS = 2_000;
const PARTIAL = Buffer.alloc(4096, 'p');

/** A downstream whose answer breaks on purpose; it keeps the sockets it saw. */
async function startBrokenDownstream() {
  /** Sockets that carried a request whose answer never finished, while they stay open. */
  const brokenOpen = new Set<Socket>();
  const arrived: string[] = [];
  const uploads: number[] = [];
  const server: Server = createServer((req, res) => {
    arrived.push(req.url!);
    const path = new URL(req.url!, 'http://x').pathname;
    if (path === '/upload') {
      let bytes = 0;
      req.on('data', (chunk: Buffer) => (bytes += chunk.length));
      req.on('end', () => {
        uploads.push(bytes);
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ bytes, expect: req.headers.expect ?? null }));
      });
      return;
    }
    req.resume();
    brokenOpen.add(req.socket);
    req.socket.once('close', () => brokenOpen.delete(req.socket));
    if (path === '/hang') return;
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    res.write(PARTIAL);
    if (path === '/die') setImmediate(() => req.socket.destroy());
    // `/stall`: headers and part of the body, then nothing more, ever.
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    arrived,
    uploads,
    brokenOpen: () => brokenOpen.size,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** How a caller's response ended: completely, or cut (reset / aborted) after `bytes`. */
interface Ending {
  readonly status: number;
  readonly bytes: number;
  readonly complete: boolean;
}

/** A GET through the gateway; resolves when the response ends or is cut, and reports which. */
function fetchEnding(base: string, path: string, token: string, onHeaders?: () => void): Promise<Ending> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${base}${path}`, {
      headers: { authorization: `Bearer ${token}` },
      agent: false,
    });
    req.on('response', (res: IncomingMessage) => {
      let bytes = 0;
      let complete = false;
      onHeaders?.();
      res.on('data', (chunk: Buffer) => (bytes += chunk.length));
      res.on('end', () => (complete = true));
      res.on('error', () => undefined); // "aborted": the cut is what we look for
      res.on('close', () => resolve({ status: res.statusCode!, bytes, complete }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('proxy: upstream failures after the status line, timeouts, Expect: 100-continue', () => {
  let stack: LocalStack;
  let down: Awaited<ReturnType<typeof startBrokenDownstream>>;
  let gateway: { gateway: Services; url: string; close(): Promise<void> };
  const clock = new ManualClock(Date.now());
  let user: string;

  beforeAll(async () => {
    stack = await startLocalStack({ port: 0, logger: new MemoryLogger(), seedDemo: false });
    down = await startBrokenDownstream();
    // A second instance whose proxy deadlines run on the manual clock (the gateway's own clock
    // stays real: token lifetimes are not what is tested here).
    gateway = await startSecondGateway(stack, {}, { proxy: { clock } });
    const admin = stack.idp!.mintToken({ roles: ['Gateway.Admin'] });
    user = stack.idp!.mintToken({ roles: ['Broken.User'] });
    const api = `${stack.gatewayUrl}/api`;
    for (const [path, body] of [
      [
        'resources/broken',
        { name: 'broken', upstream: down.url, auth: { type: 'none' }, timeoutMs: TIMEOUT_MS },
      ],
      [
        'policies/broken-users',
        {
          id: 'broken-users',
          effect: 'allow',
          resource: 'broken',
          actions: ['*'],
          principals: { roles: ['Broken.User'] },
        },
      ],
    ] as const) {
      expect((await call(`${api}/${path}`, jsonCall('PUT', admin, body))).status).toBe(201);
    }
    await gateway.gateway.state.refresher.refresh();
  });

  afterAll(async () => {
    await gateway?.close();
    await Promise.all([stack?.close(), down?.close()]);
  });

  const deadlines = () => gateway.gateway.proxy.deadlines;
  /** Moves the proxy's clock past the resource timeout and fires what is due. */
  const passTimeout = () => {
    clock.advance(TIMEOUT_MS);
    deadlines().check();
  };

  it('an upstream that dies mid-body cuts the caller at once (no clock moved)', async () => {
    const ending = await fetchEnding(gateway.url, '/api/proxy/broken/die', user);
    expect(ending).toEqual({ status: 200, bytes: PARTIAL.length, complete: false });
  });

  it('an upstream that stalls mid-body is cut when the resource timeout passes, not before', async () => {
    let headers = false;
    const pending = fetchEnding(gateway.url, '/api/proxy/broken/stall', user, () => (headers = true));
    await until(() => headers);
    clock.advance(TIMEOUT_MS - 1);
    deadlines().check();
    let settled = false;
    void pending.then(() => (settled = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(settled).toBe(false);
    passTimeout();
    expect(await pending).toEqual({ status: 200, bytes: PARTIAL.length, complete: false });
  });

  it('forty stalled calls hold no socket once their deadline passed, on either side', async () => {
    const before = down.arrived.length;
    let started = 0;
    const pending = Array.from({ length: 40 }, () =>
      fetchEnding(gateway.url, '/api/proxy/broken/stall', user, () => started++),
    );
    await until(() => started === 40 && down.arrived.length === before + 40);
    passTimeout();
    const endings = await Promise.all(pending);
    expect(endings.every((e) => e.status === 200 && !e.complete)).toBe(true);
    // The gateway released every upstream socket of a cut call (none is reused half-read).
    await until(() => down.brokenOpen() === 0);
  });

  it('504 ERR_UPSTREAM_TIMEOUT when no answer comes within timeoutMs, at the deadline', async () => {
    const before = down.arrived.length;
    const answer = call(`${gateway.url}/api/proxy/broken/hang`, {
      headers: { authorization: `Bearer ${user}` },
    });
    await until(() => down.arrived.length === before + 1);
    passTimeout();
    const res = await answer;
    expect({ status: res.status, code: res.json.code }).toEqual({
      status: 504,
      code: 'ERR_UPSTREAM_TIMEOUT',
    });
  });

  it('a call that finishes leaves no deadline behind', async () => {
    const res = await call(`${gateway.url}/api/proxy/broken/upload`, {
      method: 'POST',
      headers: { authorization: `Bearer ${user}` },
      body: 'x',
    });
    expect(res.status).toBe(200);
    // Moving past the timeout fires nothing: nothing was cut, nothing is left.
    passTimeout();
    expect(res.json).toEqual({ bytes: 1, expect: null });
  });

  describe('Expect: 100-continue', () => {
    let dir: string;
    const SIZE = 2 * 1024 * 1024 + 17;

    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'gw-expect-'));
      writeFileSync(join(dir, 'body.bin'), Buffer.alloc(SIZE, 'b'));
    });

    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    /** curl uploading the file: it sends `Expect: 100-continue` for bodies over 1 MiB. */
    function curl(url: string, token: string): Promise<{ code: number; out: string; err: string }> {
      return new Promise((resolve) => {
        const child = spawn('curl', [
          '-sS',
          '-v',
          '--data-binary',
          `@${join(dir, 'body.bin')}`,
          '-H',
          'content-type: application/octet-stream',
          '-H',
          `authorization: Bearer ${token}`,
          url,
        ]);
        let out = '';
        let err = '';
        child.stdout.on('data', (c: Buffer) => (out += c.toString()));
        child.stderr.on('data', (c: Buffer) => (err += c.toString()));
        child.on('close', (code) => resolve({ code: code ?? -1, out, err }));
      });
    }

    it('curl uploads 2 MiB through the proxy: 100 Continue, then the body reaches the upstream', async () => {
      const { code, out, err } = await curl(`${gateway.url}/api/proxy/broken/upload`, user);
      expect(code).toBe(0);
      expect(err).toMatch(/> Expect: 100-continue/i);
      expect(err).toMatch(/< HTTP\/1\.1 100 Continue/);
      expect(JSON.parse(out)).toEqual({ bytes: SIZE, expect: null });
    });

    it('a caller refused before its body is read never gets 100 Continue', async () => {
      const before = down.uploads.length;
      const { code, out, err } = await curl(`${gateway.url}/api/proxy/broken/upload`, 'not-a-token');
      expect(code).toBe(0);
      expect(err).not.toMatch(/< HTTP\/1\.1 100 Continue/);
      expect(JSON.parse(out)).toMatchObject({ status: 401, code: 'ERR_TOKEN_MALFORMED' });
      expect(down.uploads.length).toBe(before);
    });
  });
});

/** Waits for `condition` by yielding to the event loop (no timers); gives up after many turns. */
async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 100_000; i++) {
    if (condition()) return;
    await new Promise((resolve) => setImmediate(resolve));
  }
  throw new Error('condition never held');
}
