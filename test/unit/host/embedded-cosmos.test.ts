import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CosmosClient } from '@azure/cosmos';
import { startEmbeddedCosmos, type EmbeddedCosmos } from '../../../src/host/local/embedded-cosmos';
import { ensureLocalCertificate } from '../../../src/host/local/local-certificate';
import { systemClock } from '../../../src/clock';
import { createCosmosClient } from '../../../src/store/cosmos';
import { CosmosDocuments } from '../../../src/store/cosmos-documents';

describe('embedded Cosmos DB', () => {
  let certDir: string;
  let cosmos: EmbeddedCosmos;
  let client: CosmosClient;

  beforeAll(async () => {
    certDir = await mkdtemp(join(tmpdir(), 'embedded-cosmos-'));
    cosmos = await startEmbeddedCosmos({ certDir });
    expect(cosmos.pid).toBe(process.pid);
    client = await createCosmosClient(
      { endpoint: cosmos.endpoint, key: cosmos.key, database: 'gateway' },
      { agent: cosmos.agent },
    );
  });

  afterAll(async () => {
    client?.dispose();
    await cosmos?.close();
    await rm(certDir, { recursive: true, force: true });
  });

  it('serves the real @azure/cosmos SDK over verified TLS: database, container, CRUD and query', async () => {
    const { database } = await client.databases.createIfNotExists({ id: 'gateway' });
    const { container } = await database.containers.createIfNotExists({
      id: 'things',
      partitionKey: { paths: ['/pk'] },
    });
    const { resource: created } = await container.items.create({ id: 'a', pk: 'p', n: 1 });
    expect(created?._etag).toBeDefined();
    const { resource: read } = await container.item('a', 'p').read<{ n: number }>();
    expect(read?.n).toBe(1);
    const { resource: replaced } = await container.item('a', 'p').replace({ id: 'a', pk: 'p', n: 2 });
    expect(replaced?._etag).not.toBe(created?._etag);
    await container.items.upsert({ id: 'b', pk: 'p', n: 3 });
    const { resources } = await container.items
      .query<{ id: string }>({
        query: 'SELECT * FROM c WHERE c.n > @n',
        parameters: [{ name: '@n', value: 1 }],
      })
      .fetchAll();
    expect(resources.map((r) => r.id).sort()).toEqual(['a', 'b']);
    await container.item('a', 'p').delete();
    const { statusCode } = await container.item('a', 'p').read();
    expect(statusCode).toBe(404);
  });

  it('reuses the persisted certificate authority while it is valid', async () => {
    const again = await ensureLocalCertificate(certDir);
    expect(again.ca).toBe(cosmos.ca);
  });

  it('is refused by a client that does not trust the local CA', async () => {
    const res = await fetch(`${cosmos.endpoint}/`).then(
      () => 'connected',
      (err: Error) => String((err.cause as { code?: string } | undefined)?.code),
    );
    expect(res).toMatch(/SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER/);
  });
});

describe('embedded Cosmos DB, one per test (in a child process or this one)', () => {
  let certDir: string;

  beforeAll(async () => {
    certDir = await mkdtemp(join(tmpdir(), 'embedded-cosmos-isolated-'));
  });

  afterAll(async () => {
    await rm(certDir, { recursive: true, force: true });
  });

  it('serves the SDK from another process, and is gone once closed', async () => {
    const cosmos = await startEmbeddedCosmos({ certDir, isolated: true });
    const client = await createCosmosClient(
      { endpoint: cosmos.endpoint, key: cosmos.key, database: 'gateway' },
      { agent: cosmos.agent },
    );
    try {
      const { database } = await client.databases.createIfNotExists({ id: 'gateway' });
      const { container } = await database.containers.createIfNotExists({
        id: 'things',
        partitionKey: { paths: ['/id'] },
      });
      await container.items.create({ id: 'a', n: 1 });
      const { resource } = await container.item('a', 'a').read<{ n: number }>();
      expect(resource?.n).toBe(1);
      expect(cosmos.pid).not.toBe(process.pid);
      // Ctrl-C reaches the whole process group: the database outlives it until its parent lets go.
      process.kill(cosmos.pid, 'SIGINT');
      process.kill(cosmos.pid, 'SIGTERM');
      await container.items.create({ id: 'b', n: 2 });
      const { resource: again } = await container.item('b', 'b').read<{ n: number }>();
      expect(again?.n).toBe(2);
    } finally {
      client.dispose();
      await cosmos.close();
    }
    const after = await fetch(`${cosmos.endpoint}/`).then(
      () => 'connected',
      (err: Error) => String((err.cause as { code?: string } | undefined)?.code),
    );
    expect(after).toBe('ECONNREFUSED');
    const gone = (() => {
      try {
        process.kill(cosmos.pid, 0);
        return 'running';
      } catch (err) {
        return (err as NodeJS.ErrnoException).code;
      }
    })();
    expect(gone).toBe('ESRCH');
  });

  it('fails to start with the child’s reason when the port is taken', async () => {
    const first = await startEmbeddedCosmos({ certDir, isolated: true });
    try {
      const port = Number(new URL(first.endpoint).port);
      await expect(startEmbeddedCosmos({ certDir, isolated: true, port })).rejects.toThrow(/EADDRINUSE/);
    } finally {
      await first.close();
    }
  });

  // Cosmos DB answers a create whose database or container does not exist with 404 NotFound; the
  // library alone threw there and answered 500. Writers over the REST API see the status itself.
  it.each([
    ['inline', false],
    ['isolated', true],
  ])('%s: a create into a missing database or container is 404', async (_mode, isolated) => {
    const cosmos = await startEmbeddedCosmos({ certDir, isolated });
    const client = await createCosmosClient(
      { endpoint: cosmos.endpoint, key: cosmos.key, database: 'gateway' },
      { agent: cosmos.agent },
    );
    const documentsIn = (database: string) =>
      new CosmosDocuments({
        endpoint: cosmos.endpoint,
        database,
        auth: { key: cosmos.key },
        clock: systemClock,
        ca: cosmos.ca,
      });
    const documents = documentsIn('gateway');
    const elsewhere = documentsIn('no-such-database');
    try {
      const { database } = await client.databases.createIfNotExists({ id: 'gateway' });
      await database.containers.createIfNotExists({ id: 'things', partitionKey: { paths: ['/id'] } });
      await expect(documents.create('things', 'a', '{"id":"a"}')).resolves.toBe(true);
      await expect(documents.create('things', 'a', '{"id":"a"}')).resolves.toBe(false);
      await expect(documents.create('no-such-container', 'a', '{"id":"a"}')).rejects.toMatchObject({
        code: 404,
      });
      await expect(elsewhere.create('things', 'a', '{"id":"a"}')).rejects.toMatchObject({ code: 404 });
    } finally {
      await documents.close();
      await elsewhere.close();
      client.dispose();
      await cosmos.close();
    }
  });
});
