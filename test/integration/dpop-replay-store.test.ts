/**
 * The shared DPoP replay store (src/dpop/cosmos-replay-store.ts) writes to Cosmos DB over its REST API
 * by hand, for speed. The oracle is the @azure/cosmos SDK itself: both write one item to a
 * recording server, with an account key and with an Entra token credential, and the requests
 * must agree (path, partition key, API version, and an authorization the SDK's own rule
 * produces). Then the store against the embedded Cosmos DB: first use, replay, and failures.
 */
import type { AccessToken, TokenCredential } from '@azure/core-auth';
import { CosmosClient } from '@azure/cosmos';
import { createHmac } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import { Agent, createServer, type Server } from 'node:https';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemClock } from '../../src/clock';
import { CosmosReplayStore } from '../../src/dpop/cosmos-replay-store';
import { startEmbeddedCosmos, type EmbeddedCosmos } from '../../src/host/local/embedded-cosmos';
import { ensureLocalCertificate } from '../../src/host/local/local-certificate';
import { CONTAINERS, createCosmosClient, ensureContainers } from '../../src/store/cosmos';

const KEY = Buffer.alloc(64, 7).toString('base64');

interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/**
 * A stand-in account over HTTPS (the SDK sends Entra tokens only over TLS) with the local CA,
 * that records every request and answers what an item create needs.
 */
async function recordingAccount(): Promise<{
  url: string;
  ca: string;
  seen: Seen[];
  close(): Promise<void>;
}> {
  const seen: Seen[] = [];
  const tls = await ensureLocalCertificate(mkdtempSync(join(tmpdir(), 'gw-cert-')));
  const server: Server = createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      res.setHeader('content-type', 'application/json');
      if (req.method === 'GET' && /^\/dbs\/[^/]+\/colls\/[^/]+\/?$/.test(req.url!)) {
        res.end(
          JSON.stringify({
            id: CONTAINERS.dpopProofs,
            _rid: 'AAAA',
            partitionKey: { paths: ['/id'], kind: 'Hash', version: 2 },
          }),
        );
      } else if (req.method === 'GET') {
        res.end(JSON.stringify({ id: 'account', writableLocations: [], readableLocations: [] }));
      } else {
        res.statusCode = 201;
        res.end(body);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    ca: tls.ca,
    seen,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** A token credential that hands out a fixed token and records the scopes asked for. */
function fixedCredential(scopes: string[]): TokenCredential {
  return {
    getToken: (scope: string | string[]): Promise<AccessToken> => {
      scopes.push(...(Array.isArray(scope) ? scope : [scope]));
      return Promise.resolve({ token: 'entra-token-123', expiresOnTimestamp: Date.now() + 3_600_000 });
    },
  };
}

/** The item create the SDK and the store each sent. */
async function createsOf(
  auth: 'key' | 'aad',
): Promise<{ sdk: Seen; store: Seen; scopes: { sdk: string[]; store: string[] } }> {
  const account = await recordingAccount();
  const scopes = { sdk: [] as string[], store: [] as string[] };
  try {
    const sdk = new CosmosClient({
      endpoint: account.url,
      agent: new Agent({ ca: account.ca }),
      connectionPolicy: { enableEndpointDiscovery: false },
      ...(auth === 'key' ? { key: KEY } : { aadCredentials: fixedCredential(scopes.sdk) }),
    });
    await sdk.database('gateway').container(CONTAINERS.dpopProofs).items.create({ id: 'proof-1', ttl: 120 });
    sdk.dispose();
    const store = new CosmosReplayStore({
      endpoint: account.url,
      database: 'gateway',
      container: CONTAINERS.dpopProofs,
      auth:
        auth === 'key' ? { key: KEY } : { credential: () => Promise.resolve(fixedCredential(scopes.store)) },
      clock: systemClock,
      ca: account.ca,
    });
    expect(await store.firstUse('proof-2', Date.now() / 1000 + 120)).toBe(true);
    await store.close();
    const creates = account.seen.filter((r) => r.method === 'POST');
    expect(creates).toHaveLength(2);
    return { sdk: creates[0]!, store: creates[1]!, scopes };
  } finally {
    await account.close();
  }
}

/** The REST API's key signature of a create, as the store computes it: checked against the SDK's. */
function keySignature(link: string, date: string): string {
  const sig = createHmac('sha256', Buffer.from(KEY, 'base64'))
    .update(`post\ndocs\n${link}\n${date.toLowerCase()}\n\n`)
    .digest('base64');
  return encodeURIComponent(`type=master&ver=1.0&sig=${sig}`);
}

describe('the shared replay store speaks Cosmos DB as the SDK does', () => {
  it.each(['key', 'aad'] as const)('sends the same create as @azure/cosmos (%s auth)', async (auth) => {
    const { sdk, store, scopes } = await createsOf(auth);
    expect(store.url).toBe(sdk.url);
    expect(store.url).toBe('/dbs/gateway/colls/dpop-proofs/docs');
    expect(store.headers['x-ms-documentdb-partitionkey']).toBe('["proof-2"]');
    expect(sdk.headers['x-ms-documentdb-partitionkey']).toBe('["proof-1"]');
    expect(store.headers['x-ms-version']).toBe(sdk.headers['x-ms-version']);
    expect(store.headers.prefer).toBe('return=minimal'); // no document back: only the status is read
    expect(JSON.parse(store.body)).toMatchObject({ id: 'proof-2', ttl: expect.any(Number) });
    if (auth === 'key') {
      // The SDK's own signature is the store's rule applied to the SDK's date: one rule.
      const link = 'dbs/gateway/colls/dpop-proofs';
      expect(sdk.headers.authorization).toBe(keySignature(link, sdk.headers['x-ms-date'] as string));
      expect(store.headers.authorization).toBe(keySignature(link, store.headers['x-ms-date'] as string));
    } else {
      expect(store.headers.authorization).toBe(sdk.headers.authorization);
      expect(store.headers.authorization).toBe('type=aad&ver=1.0&sig=entra-token-123');
      expect(scopes.store).toEqual(scopes.sdk.slice(0, 1));
    }
  });
});

describe('the shared replay store on the embedded Cosmos DB', () => {
  let cosmos: EmbeddedCosmos;
  let store: CosmosReplayStore;
  /** A store on the embedded account, in `database` (default: the test's). */
  const storeOn = (database = 'replay-test') =>
    new CosmosReplayStore({
      endpoint: cosmos.endpoint,
      database,
      container: CONTAINERS.dpopProofs,
      auth: { key: cosmos.key },
      clock: systemClock,
      ca: cosmos.ca,
    });

  beforeAll(async () => {
    cosmos = await startEmbeddedCosmos({ certDir: mkdtempSync(join(tmpdir(), 'gw-cert-')) });
    const client = await createCosmosClient(
      { endpoint: cosmos.endpoint, key: cosmos.key, database: 'replay-test' },
      { agent: cosmos.agent },
    );
    await ensureContainers(client, 'replay-test');
    client.dispose();
    store = storeOn();
  });

  afterAll(async () => {
    await store.close();
    await cosmos.close();
  });

  it('accepts a proof once, on any store that shares the container', async () => {
    const other = storeOn();
    try {
      const expiresAt = Date.now() / 1000 + 120;
      expect(await store.firstUse('k-1', expiresAt)).toBe(true);
      expect(await store.firstUse('k-1', expiresAt)).toBe(false);
      expect(await other.firstUse('k-1', expiresAt)).toBe(false);
      expect(await other.firstUse('k-2', expiresAt)).toBe(true);
    } finally {
      await other.close();
    }
  });

  it('throws (the caller fails closed) when the account accepts the connection and never answers', async () => {
    const sockets: Socket[] = [];
    const silent = createNetServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const hung = new CosmosReplayStore({
      endpoint: `http://127.0.0.1:${(silent.address() as AddressInfo).port}/`,
      database: 'gateway',
      container: CONTAINERS.dpopProofs,
      auth: { key: cosmos.key },
      clock: systemClock,
      timeoutMs: 200,
    });
    try {
      await expect(hung.firstUse('k-4', Date.now() / 1000 + 120)).rejects.toThrow(/timeout/i);
    } finally {
      for (const socket of sockets) socket.destroy();
      await hung.close();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it('throws (the caller fails closed) when the container does not exist', async () => {
    const lost = storeOn('no-such-database');
    try {
      await expect(lost.firstUse('k-3', Date.now() / 1000 + 120)).rejects.toMatchObject({
        code: 404,
        message: expect.stringMatching(/Cosmos DB answered 404/),
      });
    } finally {
      await lost.close();
    }
  });
});
