import type { Container, CosmosClient } from '@azure/cosmos';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../../src/clock';
import { startEmbeddedCosmos, type EmbeddedCosmos } from '../../src/host/local/embedded-cosmos';
import { MemoryLogger } from '../../src/logger';
import { createCosmosClient, ensureContainers } from '../../src/store/cosmos';
import { CosmosDocumentStore, etagHeader, type StoredDocument } from '../../src/store/document-store';
import { RefreshingCollection, type ParseResult } from '../../src/store/refreshing-collection';
import { StateRefresher } from '../../src/store/state-refresher';
import { codeOf } from '../helpers/errors';

/** A toy document kind: `{ value: number }`, anything else is invalid. */
function parse(doc: StoredDocument): ParseResult<number> {
  const value = doc.body.value;
  return typeof value === 'number' ? { ok: true, value } : { ok: false, error: 'value: expected a number' };
}

describe('Cosmos document store on the embedded server', () => {
  let cosmos: EmbeddedCosmos;
  let client: CosmosClient;
  let container: Container;
  let store: CosmosDocumentStore;

  beforeAll(async () => {
    cosmos = await startEmbeddedCosmos({ certDir: mkdtempSync(join(tmpdir(), 'gw-cert-')) });
    client = await createCosmosClient(
      { endpoint: cosmos.endpoint, key: cosmos.key, database: 'store-test' },
      { agent: cosmos.agent },
    );
    container = (await ensureContainers(client, 'store-test')).policies;
    store = new CosmosDocumentStore(container);
  });

  afterAll(async () => {
    client.dispose();
    await cosmos.close();
  });

  it('creates (201 semantics), replaces (200) and changes the ETag on every write', async () => {
    const first = await store.put('a', { value: 1 });
    expect(first.created).toBe(true);
    const second = await store.put('a', { value: 2 });
    expect(second.created).toBe(false);
    expect(etagHeader(second.doc)).not.toBe(etagHeader(first.doc));
    expect(etagHeader(second.doc)).toMatch(/^".+"$/);
    expect((await store.get('a'))?.body).toEqual({ id: 'a', value: 2 });
  });

  it('honours If-Match: current ETag and * pass, stale ETag and absent document are 412', async () => {
    const { doc } = await store.put('b', { value: 1 });
    expect(await codeOf(store.put('b', { value: 2 }, { ifMatch: '"not-the-etag"' }))).toBe(
      'ERR_PRECONDITION_FAILED',
    );
    const ok = await store.put('b', { value: 2 }, { ifMatch: etagHeader(doc) });
    expect(ok.doc.body.value).toBe(2);
    expect(await codeOf(store.put('b', { value: 3 }, { ifMatch: etagHeader(doc) }))).toBe(
      'ERR_PRECONDITION_FAILED',
    );
    await store.put('b', { value: 3 }, { ifMatch: '*' });
    expect(await codeOf(store.put('nope', { value: 1 }, { ifMatch: '*' }))).toBe('ERR_PRECONDITION_FAILED');
    expect(await codeOf(store.remove('b', 0, { ifMatch: '"stale"' }))).toBe('ERR_PRECONDITION_FAILED');
  });

  it('soft-deletes into a tombstone, recreates over it, and purges old tombstones', async () => {
    await store.put('c', { value: 1 });
    const tombstone = await store.remove('c', 123);
    expect(tombstone?.deleted).toBe(true);
    expect(tombstone?.body).toEqual({ id: 'c', deleted: true, deletedAt: 123 });
    expect(await store.remove('c', 124)).toBeUndefined();
    const again = await store.put('c', { value: 5 });
    expect(again.created).toBe(true);
    expect(again.doc.deleted).toBe(false);
    await store.remove('c', 125);
    expect(await store.purgeTombstones(tombstone!.ts + 10_000)).toBeGreaterThanOrEqual(1);
    expect(await store.get('c')).toBeUndefined();
  });

  it('keeps collections current by _ts pulls, skipping invalid documents without dropping the last good one', async () => {
    const logger = new MemoryLogger();
    const ids = new CosmosDocumentStore((await ensureContainers(client, 'collection-test')).resources);
    const reader = new RefreshingCollection('resources', ids, parse, logger);
    await ids.put('x', { value: 1 });
    await reader.pull();
    expect(reader.get('x')).toBe(1);

    await ids.put('y', { value: 2 });
    await ids.put('x', { value: 'not a number' });
    expect(await reader.pull()).toBe(true);
    expect(reader.get('y')).toBe(2);
    expect(reader.get('x')).toBe(1); // last good version kept
    expect([...reader.invalidDocuments.keys()]).toEqual(['x']);
    expect(logger.events()).toContain('store.document_invalid');

    await ids.remove('y', 0);
    await ids.put('x', { value: 3 });
    await reader.pull();
    expect(reader.get('y')).toBeUndefined();
    expect(reader.get('x')).toBe(3);
    expect(reader.invalidDocuments.size).toBe(0);
    expect(await reader.pull()).toBe(false); // nothing new
  });

  /** A refresher of one collection: 10 s interval, 30 s staleness bound. */
  const refresherOf = (
    collection: RefreshingCollection<number>,
    clock: ManualClock,
    onChange: () => unknown = () => undefined,
  ) =>
    new StateRefresher({
      collections: [collection],
      intervalSeconds: 10,
      maxStalenessSeconds: 30,
      clock,
      logger: new MemoryLogger(),
      onChange: () => void onChange(),
    });

  it('reports down before the first load, degraded with the last good state when Cosmos fails, and down (stale) past POLICY_MAX_STALENESS_SECONDS', async () => {
    const clock = new ManualClock();
    const docs = new CosmosDocumentStore((await ensureContainers(client, 'refresher-test')).policies);
    await docs.put('p', { value: 7 });
    let failing = false;
    const flaky = {
      readAll: () => (failing ? Promise.reject(new Error('ECONNREFUSED')) : docs.readAll()),
      changedSince: (ts: number) =>
        failing ? Promise.reject(new Error('ECONNREFUSED')) : docs.changedSince(ts),
    } as unknown as CosmosDocumentStore;
    const collection = new RefreshingCollection('policies', flaky, parse, new MemoryLogger());
    let rebuilds = 0;
    const refresher = refresherOf(collection, clock, () => rebuilds++);
    failing = true;
    expect(refresher.health().status).toBe('down');
    await refresher.refresh();
    expect(refresher.health().status).toBe('down');

    failing = false;
    await refresher.refresh();
    expect(refresher.health()).toMatchObject({ status: 'ok', ageSeconds: 0 });
    expect(rebuilds).toBe(1);

    failing = true;
    clock.advance(30_000);
    await refresher.refresh();
    expect(refresher.health()).toMatchObject({ status: 'degraded', ageSeconds: 30, maxStalenessSeconds: 30 });
    expect(refresher.stale()).toBe(false);
    expect(collection.get('p')).toBe(7);

    // One millisecond past the bound: decided on no more.
    clock.advance(1);
    expect(refresher.stale()).toBe(true);
    expect(refresher.health()).toMatchObject({ status: 'down', ageSeconds: 30 });

    // The next refresh that succeeds lifts it at once.
    failing = false;
    await refresher.refresh();
    expect(refresher.stale()).toBe(false);
    expect(refresher.health()).toMatchObject({ status: 'ok', ageSeconds: 0 });
  });

  it('reports a refresh that is late (hanging, not failing) as degraded after two intervals', async () => {
    const clock = new ManualClock();
    const docs = new CosmosDocumentStore((await ensureContainers(client, 'refresher-test')).policies);
    const collection = new RefreshingCollection('policies', docs, parse, new MemoryLogger());
    const refresher = refresherOf(collection, clock);
    await refresher.refresh();
    clock.advance(20_000);
    expect(refresher.health().status).toBe('ok');
    clock.advance(1);
    expect(refresher.health()).toMatchObject({ status: 'degraded', ageSeconds: 20 });
  });
});
