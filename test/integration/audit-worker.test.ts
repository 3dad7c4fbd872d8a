/**
 * The audit writer's thread (src/audit/audit-worker-sink.ts) against the embedded Cosmos DB:
 * from the sources (as jest and the local stack from ts run it) and from the compiled `dist/`
 * (as `npm start` and the Function App run it). Rows go in from this thread, pages come out of
 * the database, read back by the request thread's own store.
 */
import type { CosmosClient } from '@azure/cosmos';
import { mkdtempSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { threadId } from 'node:worker_threads';
import { auditRecordOf, toAuditRow, type AuditInput } from '../../src/audit/audit-record';
import { AuditWorkerSink } from '../../src/audit/audit-worker-sink';
import { CosmosAuditStore } from '../../src/audit/cosmos-audit-store';
import { startEmbeddedCosmos, type EmbeddedCosmos } from '../../src/host/local/embedded-cosmos';
import { CONTAINERS, createCosmosClient, ensureContainers } from '../../src/store/cosmos';
import { ensureBuilt, ROOT } from '../helpers/dist';
import { auditInput } from '../helpers/audit';

const T0 = Date.UTC(2026, 10, 20, 10);
const DATABASE = 'audit-worker-test';

const input = (n: number): AuditInput =>
  auditInput({ correlationId: `c-${n}`, oid: `user-${n % 3}`, policies: ['p'] });

describe('the audit writer thread', () => {
  let cosmos: EmbeddedCosmos;
  let client: CosmosClient;
  let store: CosmosAuditStore;

  beforeAll(async () => {
    ensureBuilt();
    cosmos = await startEmbeddedCosmos({ certDir: mkdtempSync(join(tmpdir(), 'gw-cert-')) });
    client = await createCosmosClient(
      { endpoint: cosmos.endpoint, key: cosmos.key, database: DATABASE },
      { agent: cosmos.agent },
    );
    store = new CosmosAuditStore((await ensureContainers(client, DATABASE)).audit);
  }, 180_000);

  afterAll(async () => {
    client.dispose();
    await cosmos.close();
  });

  const builds: [string, () => Promise<typeof AuditWorkerSink>][] = [
    ['from the sources', () => Promise.resolve(AuditWorkerSink)],
    [
      'from dist/',
      () =>
        Promise.resolve(
          (
            createRequire(__filename)(join(ROOT, 'dist/src/audit/audit-worker-sink.js')) as {
              AuditWorkerSink: typeof AuditWorkerSink;
            }
          ).AuditWorkerSink,
        ),
    ],
  ];

  it.each(builds)('%s stores every row on its own thread, idempotently on a retry', async (_from, load) => {
    const Sink = await load();
    const sink = new Sink({
      cosmos: { endpoint: cosmos.endpoint, key: cosmos.key, database: DATABASE },
      container: CONTAINERS.audit,
      ca: cosmos.ca,
    });
    const day = T0 + (_from === 'from dist/' ? 86_400_000 : 0);
    const rows = Array.from({ length: 450 }, (_, n) => toAuditRow(input(n), day + n));
    try {
      expect(sink.threadId).toBeUndefined(); // started by the first write, not before
      await sink.write(rows.slice(0, 300));
      await sink.write(rows.slice(0, 300)); // a retried batch: its pages are found, not stored twice
      await sink.write(rows.slice(300));
      expect(sink.threadId).toEqual(expect.any(Number));
      expect(sink.threadId).not.toBe(threadId);
    } finally {
      await sink.close();
    }
    expect(sink.threadId).toBeUndefined();
    const found = await store.query({ fromMs: day, toMs: day + 1000, limit: 1000 });
    const ids = found.items.map((r) => r.id).sort();
    expect(ids).toEqual(rows.map((r) => r[0]).sort());
    const first = found.items.find((r) => r.id === rows[0]![0]);
    expect(first).toEqual({ ...auditRecordOf(rows[0]!), pk: first!.pk });
  });

  it('fails a write with the database error (404: no such database), and the thread lives on', async () => {
    const sink = new AuditWorkerSink({
      cosmos: { endpoint: cosmos.endpoint, key: cosmos.key, database: 'no-such-database' },
      container: CONTAINERS.audit,
      ca: cosmos.ca,
    });
    try {
      await expect(sink.write([toAuditRow(input(1), T0)])).rejects.toMatchObject({ code: 404 });
      expect(sink.threadId).toEqual(expect.any(Number)); // the thread lives on after a failed write
    } finally {
      await sink.close();
    }
  });

  it('fails the writes in flight when its thread dies, and starts a new thread for the next write', async () => {
    const sink = new AuditWorkerSink({
      cosmos: { endpoint: cosmos.endpoint, key: cosmos.key, database: DATABASE },
      container: CONTAINERS.audit,
      ca: cosmos.ca,
    });
    try {
      const inFlight = sink.write([toAuditRow(input(1), T0 + 5 * 86_400_000)]);
      const dying = sink.threadId;
      await sink.close(); // the thread ends with the write unanswered
      await expect(inFlight).rejects.toThrow(/audit writer thread stopped/);
      const row = toAuditRow(input(2), T0 + 5 * 86_400_000);
      await sink.write([row]);
      expect(sink.threadId).not.toBe(dying);
      const found = await store.query({ fromMs: row[1], toMs: row[1], limit: 10 });
      expect(found.items.map((r) => r.id)).toContain(row[0]);
    } finally {
      await sink.close();
    }
  });
});
