import type { CosmosClient } from '@azure/cosmos';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  auditRecordOf,
  toAuditRow,
  type AuditInput,
  type AuditRecord,
  type AuditRow,
} from '../../src/audit/audit-record';
import { systemClock } from '../../src/clock';
import { CosmosAuditStore, restAuditWriter } from '../../src/audit/cosmos-audit-store';
import { isGatewayError } from '../../src/errors';
import { startEmbeddedCosmos, type EmbeddedCosmos } from '../../src/host/local/embedded-cosmos';
import { CONTAINERS, createCosmosClient, ensureContainers } from '../../src/store/cosmos';
import { CosmosDocuments } from '../../src/store/cosmos-documents';
import { auditInput } from '../helpers/audit';

const T0 = Date.UTC(2026, 10, 20, 10);
const HOUR = 3_600_000;

const input = (oid: string, n: number): AuditInput =>
  auditInput({ correlationId: `${oid}-${n}`, oid, credential: 'sas', latencyMs: 2 });

describe('Cosmos audit store on the embedded server', () => {
  let cosmos: EmbeddedCosmos;
  let client: CosmosClient;
  let store: CosmosAuditStore;
  const rows: AuditRow[] = [];
  let written: AuditRecord[] = [];

  beforeAll(async () => {
    cosmos = await startEmbeddedCosmos({ certDir: mkdtempSync(join(tmpdir(), 'gw-cert-')) });
    client = await createCosmosClient(
      { endpoint: cosmos.endpoint, key: cosmos.key, database: 'audit-test' },
      { agent: cosmos.agent },
    );
    store = new CosmosAuditStore((await ensureContainers(client, 'audit-test')).audit);
    // Three days, two users, several records in the same millisecond (paging must not lose or repeat them).
    for (let day = 0; day < 3; day++) {
      for (let n = 0; n < 5; n++) {
        const at = T0 + day * 24 * HOUR + (n < 3 ? 0 : n * HOUR);
        rows.push(toAuditRow(input('alice', day * 10 + n), at), toAuditRow(input('bob', day * 10 + n), at));
      }
    }
    written = rows.map(auditRecordOf);
    // Written as the gateway's writer thread writes them: pages, one REST create each.
    const documents = new CosmosDocuments({
      endpoint: cosmos.endpoint,
      database: 'audit-test',
      auth: { key: cosmos.key },
      clock: systemClock,
      ca: cosmos.ca,
    });
    const write = restAuditWriter(documents, CONTAINERS.audit);
    try {
      await write(rows);
      await write(rows); // a retried batch (always the same rows: AuditLog) stores nothing twice
    } finally {
      await documents.close();
    }
  });

  afterAll(async () => {
    client.dispose();
    await cosmos.close();
  });

  async function all(query: { oid?: string; fromMs: number; toMs: number }, limit: number) {
    const seen: AuditRecord[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await store.query({ ...query, limit, cursor });
      expect(page.items.length).toBeLessThanOrEqual(limit);
      seen.push(...page.items);
      cursor = page.next;
      pages++;
    } while (cursor !== undefined && pages < 100);
    return { seen, pages };
  }

  it.each([1, 2, 4, 100])(
    'pages one user over three days without loss or repeats (limit %i)',
    async (limit) => {
      const { seen } = await all({ oid: 'alice', fromMs: T0 - HOUR, toMs: T0 + 72 * HOUR }, limit);
      const ids = seen.map((r) => r.correlationId);
      expect(new Set(ids).size).toBe(ids.length);
      expect(ids.sort()).toEqual(
        written
          .filter((r) => r.oid === 'alice')
          .map((r) => r.correlationId)
          .sort(),
      );
      expect(seen.every((r) => !('_etag' in r))).toBe(true);
    },
  );

  it('answers "what happened on day D" from that day only', async () => {
    const { seen } = await all({ fromMs: T0 + 24 * HOUR - HOUR, toMs: T0 + 48 * HOUR - HOUR }, 3);
    expect(seen).toHaveLength(10);
    expect(new Set(seen.map((r) => r.time.slice(0, 10)))).toEqual(new Set(['2026-11-21']));
  });

  it('reads one partition per day for a user, every bucket of a day otherwise', () => {
    expect(CosmosAuditStore.partitions({ oid: 'alice', fromMs: T0, toMs: T0 + 48 * HOUR })).toHaveLength(3);
    expect(CosmosAuditStore.partitions({ fromMs: T0, toMs: T0 + HOUR })).toHaveLength(16);
  });

  it.each([
    'not-base64!',
    Buffer.from('{"p":"x"}').toString('base64url'),
    Buffer.from('[]').toString('base64url'),
  ])('refuses a forged cursor %p with 400', async (cursor) => {
    const err = await store.query({ fromMs: T0, toMs: T0 + HOUR, limit: 1, cursor }).catch((e: unknown) => e);
    expect(isGatewayError(err, 'ERR_VALIDATION')).toBe(true);
  });
});
