/**
 * Scale-out on one machine: a second `npm start` (the built dist/, as a user runs it) with its own
 * `PORT` and the first one's database, identity provider and SAS keys, exactly as the first one's
 * banner prints the command. It starts beside the first (no embedded part's fixed port stops it),
 * and the two serve one state: a token, a policy and a SAS token from either work on both.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { DEV_IDP_PORT, DEV_USER_OID } from '../../src/host/local/dev-identity-provider';
import { ensureBuilt, ROOT } from '../helpers/dist';
import { call, jsonCall } from '../helpers/http';

const MAIN_JS = join(ROOT, 'dist/src/host/local/main.js');

interface Started {
  readonly child: ChildProcess;
  readonly out: () => string;
  readonly exited: Promise<number | null>;
}

function start(env: Record<string, string>): Started {
  const child = spawn(process.execPath, [MAIN_JS], {
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: 'error', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, out: () => out, exited };
}

/** Waits for the banner by yielding to the event loop between reads of the output. */
async function banner(started: Started): Promise<string> {
  for (let i = 0; i < 2_000_000; i++) {
    const out = started.out();
    if (/Ctrl-C stops everything/.test(out)) return out;
    if (started.child.exitCode !== null) throw new Error(`npm start exited: ${out}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
  throw new Error('no banner');
}

describe('a second local stack on the first one’s database (from dist/)', () => {
  let first: Started;
  let second: Started;
  let api1: string;
  let api2: string;
  let token: string;
  let holder: Server | undefined;

  beforeAll(async () => {
    ensureBuilt();
    // The dev identity provider's port taken, as by another stack: the first one's moves.
    holder = await new Promise<Server | undefined>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(undefined)); // taken already: it moves all the same
      server.listen(DEV_IDP_PORT, '127.0.0.1', () => resolve(server));
    });
    first = start({ PORT: '0' });
    const out1 = await banner(first);
    api1 = /gateway\s+(http:\/\/127\.0\.0\.1:\d+\/api)/.exec(out1)![1]!;
    token = /export TOKEN=(\S+)/.exec(out1)![1]!;
    // The banner's own line for a second instance, with its PORT made free for the test.
    const line = /^(PORT=\S+ COSMOS_ENDPOINT=.*) npm start$/m.exec(out1)![1]!;
    const env: Record<string, string> = {};
    for (const pair of line.split(' ')) {
      const eq = pair.indexOf('=');
      env[pair.slice(0, eq)] = pair.slice(eq + 1);
    }
    second = start({ ...env, PORT: '0' });
    api2 = /gateway\s+(http:\/\/127\.0\.0\.1:\d+\/api)/.exec(await banner(second))![1]!;
  }, 120_000);

  afterAll(async () => {
    for (const s of [second, first]) {
      if (s && s.child.exitCode === null) s.child.kill('SIGTERM');
      await s?.exited;
    }
    await new Promise<void>((resolve) => (holder ? holder.close(() => resolve()) : resolve()));
  });

  it('npm run token and the CLI name the identity provider each gateway trusts, wherever it moved', async () => {
    expect(first.out()).toMatch(/identity provider\s+https:\/\/127\.0\.0\.1:(?!7072\b)\d+\s+embedded/);
    const body = { resource: 'orders', action: 'read', path: `/customers/${DEV_USER_OID}/orders` };
    for (const api of [api1, api2]) {
      const gateway = api.replace(/\/api$/, '');
      const minted = spawnSync(
        process.execPath,
        [
          join(ROOT, 'dist/src/host/local/token-cli.js'),
          '--role',
          'Orders.Reader',
          '--oid',
          DEV_USER_OID,
          '--gateway',
          gateway,
        ],
        { cwd: ROOT, encoding: 'utf8', env: { ...process.env, ENTRA_AUTHORITY: '', ENTRA_TENANT_ID: '' } },
      );
      expect(minted.status).toBe(0);
      const res = await call(`${api}/authorize`, jsonCall('POST', minted.stdout.trim(), body));
      expect({ api, status: res.status, allowed: res.json.allowed }).toEqual({
        api,
        status: 200,
        allowed: true,
      });
      // The CLI's own admin token (no --token on loopback) follows the same provider.
      const cli = spawnSync(
        process.execPath,
        [join(ROOT, 'dist/src/cli/main.js'), 'get', 'policies', '--url', gateway],
        {
          cwd: ROOT,
          encoding: 'utf8',
          env: { ...process.env, ENTRA_AUTHORITY: '', ENTRA_TENANT_ID: '', GATEWAY_TOKEN: '' },
        },
      );
      expect({ api, status: cli.status, err: cli.stderr }).toEqual({ api, status: 0, err: '' });
    }
  });

  it('starts, embeds nothing it was pointed at, and is healthy', async () => {
    expect(second.out()).toMatch(/Cosmos DB\s+https:\/\/127\.0\.0\.1:\d+\s+from COSMOS_ENDPOINT/);
    expect(second.out()).toMatch(/identity provider\s+https:\/\/127\.0\.0\.1:\d+\s+from ENTRA_AUTHORITY/);
    for (const api of [api1, api2]) {
      const health = await call(`${api}/health`);
      expect({ api, status: health.status, state: health.json.status }).toEqual({
        api,
        status: 200,
        state: 'healthy',
      });
    }
  });

  it("serves the first one's policies to the first one's tokens", async () => {
    const body = { resource: 'orders', action: 'read', path: `/customers/${DEV_USER_OID}/orders` };
    for (const api of [api1, api2]) {
      const res = await call(`${api}/authorize`, jsonCall('POST', token, body));
      expect({ api, status: res.status }).toEqual({ api, status: 200 });
    }
  });

  it('a SAS token issued by one is honoured by the other (one key ring)', async () => {
    const oid = DEV_USER_OID; // the banner token's user
    const form = new URLSearchParams({
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      subject_token: token,
      resource: `orders/customers/${oid}`,
      scope: 'read',
    });
    const issued = await call(`${api1}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: form.toString(),
    });
    expect(issued.status).toBe(200);
    const sas = issued.json.access_token as string;
    const used = await call(`${api2}/proxy/orders/customers/${oid}/orders`, {
      headers: { authorization: `SharedAccessSignature ${sas}` },
    });
    expect(used.status).toBe(200);
  });
});
