/**
 * No audit record lost and counted as written: the gateway's own AuditLog and REST page writer
 * against the embedded Cosmos DB, with creates that fail part-way through a batch. "Written" must
 * mean stored: every row the log counts as written is read back from the database, exactly once.
 */
import type { Container, CosmosClient } from '@azure/cosmos';
import fc from 'fast-check';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditLog, type AuditSink } from '../../src/audit/audit-log';
import type { AuditInput } from '../../src/audit/audit-record';
import { restAuditWriter } from '../../src/audit/cosmos-audit-store';
import { ManualClock, systemClock } from '../../src/clock';
import { startEmbeddedCosmos, type EmbeddedCosmos } from '../../src/host/local/embedded-cosmos';
import { MemoryLogger } from '../../src/logger';
import { CONTAINERS, createCosmosClient, ensureContainers } from '../../src/store/cosmos';
import { CosmosDocuments } from '../../src/store/cosmos-documents';
import { auditInput } from '../helpers/audit';

const DATABASE = 'audit-no-loss';

const input = (correlationId: string, oid: string): AuditInput => auditInput({ correlationId, oid });

/** What a create does: store and answer, fail before sending, or store and lose the answer. */
type CreateFate = 'ok' | 'refused' | 'answer-lost';

/**
 * The real REST writer whose creates meet the given fates in turn (then succeed): a connection
 * refused before the page was sent, or a page stored whose answer never came back.
 */
function faultyWriter(documents: CosmosDocuments, fates: CreateFate[]): AuditSink {
  const create: CosmosDocuments['create'] = async (container, pk, document) => {
    const fate = fates.shift() ?? 'ok';
    if (fate === 'refused') throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    const created = await documents.create(container, pk, document);
    if (fate === 'answer-lost')
      throw Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' });
    return created;
  };
  return { write: restAuditWriter({ create }, CONTAINERS.audit) };
}

/** Every stored row's correlation id, with repeats: pages are read whole. */
async function storedCorrelationIds(audit: Container): Promise<string[]> {
  const { resources } = await audit.items.query<{ rows: unknown[][] }>('SELECT c.rows FROM c').fetchAll();
  return resources.flatMap((page) => page.rows.map((row) => String(row[2])));
}

describe('audit trail: partial failures lose nothing (embedded Cosmos DB, the REST page writer)', () => {
  let cosmos: EmbeddedCosmos;
  let client: CosmosClient;
  let documents: CosmosDocuments;
  let audit: Container;

  beforeAll(async () => {
    cosmos = await startEmbeddedCosmos({ certDir: mkdtempSync(join(tmpdir(), 'gw-cert-')) });
    client = await createCosmosClient(
      { endpoint: cosmos.endpoint, key: cosmos.key, database: DATABASE },
      { agent: cosmos.agent },
    );
    audit = (await ensureContainers(client, DATABASE)).audit;
    documents = new CosmosDocuments({
      endpoint: cosmos.endpoint,
      database: DATABASE,
      auth: { key: cosmos.key },
      clock: systemClock,
      ca: cosmos.ca,
    });
  });

  afterAll(async () => {
    await documents.close();
    client.dispose();
    await cosmos.close();
  });

  it('stores every record after a batch failed part-way and the queue grew before the retry', async () => {
    const run = 'partial';
    const fates: CreateFate[] = ['ok', 'refused'];
    const log = new AuditLog({
      sink: faultyWriter(documents, fates),
      clock: new ManualClock(Date.UTC(2026, 11, 6, 12)),
      logger: new MemoryLogger(),
    });
    // Five records in two partitions: the first page is stored, the second is refused.
    for (let i = 0; i < 5; i++) log.record(input(`${run}-${i}`, i % 2 === 0 ? 'alice' : 'bob'));
    await expect(log.flush()).resolves.toBe(false);
    // Ten more arrive before the retry, in the same partitions.
    for (let i = 5; i < 15; i++) log.record(input(`${run}-${i}`, i % 2 === 0 ? 'alice' : 'bob'));
    await expect(log.flush()).resolves.toBe(true);

    expect(log.stats).toMatchObject({ queued: 0, written: 15, dropped: 0, discarded: 0 });
    const stored = (await storedCorrelationIds(audit)).filter((id) => id.startsWith(`${run}-`));
    expect(stored.sort()).toEqual(Array.from({ length: 15 }, (_, i) => `${run}-${i}`).sort());
  });

  it('property: whatever creates fail or lose their answer, and whenever records arrive, every record counted as written is stored exactly once', async () => {
    let runNo = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            records: fc.integer({ min: 0, max: 30 }),
            fates: fc.array(fc.constantFrom<CreateFate>('ok', 'refused', 'answer-lost'), { maxLength: 4 }),
          }),
          { minLength: 1, maxLength: 5 },
        ),
        fc.integer({ min: 1, max: 12 }),
        async (steps, batchSize) => {
          const run = `p${runNo++}`;
          const fates: CreateFate[] = [];
          const log = new AuditLog({
            sink: faultyWriter(documents, fates),
            clock: new ManualClock(Date.UTC(2026, 11, 6, 12)),
            logger: new MemoryLogger(),
            batchSize,
          });
          let n = 0;
          for (const step of steps) {
            for (let i = 0; i < step.records; i++, n++) log.record(input(`${run}-${n}`, `user-${n % 5}`));
            fates.push(...step.fates);
            await log.flush();
          }
          fates.length = 0;
          await expect(log.flush()).resolves.toBe(true);
          const stored = (await storedCorrelationIds(audit)).filter((id) => id.startsWith(`${run}-`));
          expect(log.stats.written).toBe(n);
          expect(stored.sort()).toEqual(Array.from({ length: n }, (_, i) => `${run}-${i}`).sort());
        },
      ),
      {
        numRuns: 60,
        // Shrunk from the failure this property found in the writer that retried the queue's head.
        examples: [
          [
            [
              { records: 2, fates: ['refused'] },
              { records: 3, fates: [] },
            ],
            5,
          ],
        ],
      },
    );
  }, 120_000);
});
