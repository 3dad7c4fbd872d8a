import type { Container } from '@azure/cosmos';
import { createHash } from 'node:crypto';
import { GatewayError } from '../errors';
import type { CosmosDocuments } from '../store/cosmos-documents';
import { guarded } from '../store/document-store';
import {
  AUDIT_BUCKETS,
  AUDIT_COLUMNS,
  auditBucket,
  auditDay,
  auditPartitionKey,
  auditRowPartition,
  type AuditRecord,
  type AuditRow,
} from './audit-record';

const DAY_MS = 86_400_000;
/** Records per stored document: ~0.3 KB each keeps a page far below Cosmos DB's 2 MB item limit. */
export const RECORDS_PER_PAGE = 200;
/** Page writes in flight per flush. */
const WRITES_IN_FLIGHT = 2;
/** Pages one query round trip reads, at least; more for a large `limit` (up to {@link MAX_PAGES_PER_READ}). */
const PAGES_PER_READ = 20;
const MAX_PAGES_PER_READ = 100;

/**
 * One stored document of the audit container: the records of one partition from one flush, as
 * rows under `columns`.
 *
 * Why pages and not one document per record: every Cosmos DB write has a fixed cost (a signed
 * request, a round trip, indexing); measured here, 200 single-record creates took 576 ms and two
 * 100-record pages 7 ms. At thousands of decisions a second, one write per decision would be most
 * of the gateway's work and would overflow the audit queue. Only `pk`, `minTs` and `maxTs` need
 * indexing (infra/modules/cosmos.bicep indexes nothing else).
 *
 * Why rows: a write's request units grow with the document's size, and so do the time to
 * serialize, send and store it. Rows leave out the member names repeated in every record and
 * what the page already says: 339 bytes a record instead of 545. `columns` keeps each page
 * readable on its own, whatever columns later versions add.
 */
interface AuditPage {
  readonly id: string;
  readonly pk: string;
  readonly minTs: number;
  readonly maxTs: number;
  readonly count: number;
  readonly columns: readonly string[];
  readonly rows: readonly (readonly unknown[])[];
}

/**
 * A page's id names its whole content: a hash of its rows' ids, in order. Why: a create that
 * answers 409 ("a document with this id exists") then means exactly "these rows are stored".
 * Named by its first row alone, a page retried with more rows than the stored one (a batch that
 * grew between two attempts) answered 409 and its extra rows were counted as written, never stored.
 */
export function auditPageId(rows: readonly AuditRow[]): string {
  const hash = createHash('sha256');
  for (const row of rows) hash.update(row[0]).update(',');
  return hash.digest('base64url');
}

/** The page of rows of one partition (at most {@link RECORDS_PER_PAGE}). */
function toAuditPage(pk: string, rows: readonly AuditRow[]): AuditPage {
  let minTs = Infinity;
  let maxTs = -Infinity;
  for (const row of rows) {
    if (row[1] < minTs) minTs = row[1];
    if (row[1] > maxTs) maxTs = row[1];
  }
  return { id: auditPageId(rows), pk, minTs, maxTs, count: rows.length, columns: AUDIT_COLUMNS, rows };
}

/** The records of a stored page. */
export function auditRecordsOf(page: Pick<AuditPage, 'pk' | 'columns' | 'rows'>): AuditRecord[] {
  return page.rows.map((row) => {
    const record: Record<string, unknown> = { pk: page.pk };
    page.columns.forEach((column, i) => (record[column] = row[i]));
    record.time = new Date(record.ts as number).toISOString();
    return record as unknown as AuditRecord;
  });
}

export interface AuditQuery {
  readonly oid?: string | undefined;
  readonly fromMs: number;
  readonly toMs: number;
  readonly limit: number;
  /** From a previous page's `next`. */
  readonly cursor?: string | undefined;
}

export interface AuditQueryResult {
  readonly items: readonly AuditRecord[];
  /** Pass back as `cursor` for the next page; absent on the last page. */
  readonly next?: string;
}

/**
 * Where a query stopped: partition `p`; pages are read in (`minTs`, `id`) order, `ts` is the
 * `minTs` reached, `ids` the pages at that `minTs` already read whole, and `skip` how many
 * matching records of page `at` were already returned.
 */
interface Cursor {
  readonly p: number;
  readonly ts: number;
  readonly ids: readonly string[];
  readonly at?: string;
  readonly skip?: number;
}

function encodeCursor(cursor: Cursor): string {
  return Buffer.from(JSON.stringify(cursor)).toString('base64url');
}

function decodeCursor(text: string): Cursor {
  try {
    const c = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as Partial<Cursor>;
    if (
      Number.isInteger(c.p) &&
      (c.p as number) >= 0 &&
      typeof c.ts === 'number' &&
      Array.isArray(c.ids) &&
      c.ids.length <= 1000 &&
      c.ids.every((id) => typeof id === 'string') &&
      (c.at === undefined || typeof c.at === 'string') &&
      (c.skip === undefined || (Number.isInteger(c.skip) && c.skip >= 0))
    ) {
      return c as Cursor;
    }
  } catch {
    // fall through
  }
  throw new GatewayError('ERR_VALIDATION', 'cursor: not a cursor this API returned', {
    extensions: { field: 'cursor' },
  });
}

const byTimeThenId = (a: AuditPage, b: AuditPage) =>
  a.minTs - b.minTs || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/**
 * Writes rows as pages, one per partition per {@link RECORDS_PER_PAGE} rows, with `create` (true:
 * stored; false: a page with its id already was, which a retry of the same rows finds). A page's
 * id names its rows ({@link auditPageId}), so a retried flush (after a partial failure) finds the
 * pages already written instead of duplicating them, and never takes other rows for stored.
 */
async function writeAuditPages(
  rows: readonly AuditRow[],
  create: (page: AuditPage) => Promise<boolean>,
): Promise<void> {
  const byPartition = new Map<string, AuditRow[]>();
  for (const row of rows) {
    const pk = auditRowPartition(row);
    const list = byPartition.get(pk);
    if (list) list.push(row);
    else byPartition.set(pk, [row]);
  }
  const chunks: { pk: string; rows: readonly AuditRow[] }[] = [];
  for (const [pk, list] of byPartition) {
    for (let i = 0; i < list.length; i += RECORDS_PER_PAGE)
      chunks.push({ pk, rows: list.slice(i, i + RECORDS_PER_PAGE) });
  }
  // Two pages in flight, each built just before it is sent: a flush of many partitions uses
  // two connections and spreads its request units over the flush instead of asking for all
  // of them at once (a burst that provisioned or serverless throughput answers with 429s).
  let next = 0;
  const writer = async (): Promise<void> => {
    while (next < chunks.length) {
      const chunk = chunks[next++]!;
      await create(toAuditPage(chunk.pk, chunk.rows));
    }
  };
  await Promise.all(Array.from({ length: Math.min(WRITES_IN_FLIGHT, chunks.length) }, writer));
}

/**
 * How the gateway stores rows: as pages ({@link writeAuditPages}), each one REST create in
 * `container` (src/store/cosmos-documents.ts). The writer thread runs it; tests write with it too.
 */
export function restAuditWriter(
  documents: Pick<CosmosDocuments, 'create'>,
  container: string,
): (rows: readonly AuditRow[]) => Promise<void> {
  return (rows) =>
    writeAuditPages(rows, (page) => documents.create(container, page.pk, JSON.stringify(page)));
}

/**
 * The audit container. Records are partitioned by `<day>:<bucket>` (see auditPartition) and
 * stored in pages, one per partition per flush, so a query reads only the partitions it needs
 * (one per day for a user, every bucket of each day otherwise) and only the pages whose time
 * range meets the query's. Each query filters by `pk` in SQL (the embedded server ignores the
 * partitionKey option) and orders by `minTs` alone (no composite index needed).
 */
export class CosmosAuditStore {
  /** Queries sent and pages they returned: what a window cost (the replay bench reports it). */
  readonly reads = { queries: 0, pages: 0 };

  constructor(readonly container: Container) {}

  /** The partitions a query reads, in time order. */
  static partitions(query: Pick<AuditQuery, 'oid' | 'fromMs' | 'toMs'>): string[] {
    const keys: string[] = [];
    const first = Date.parse(auditDay(query.fromMs));
    for (let day = first; day <= query.toMs; day += DAY_MS) {
      const d = auditDay(day);
      if (query.oid !== undefined) keys.push(auditPartitionKey(d, auditBucket(query.oid)));
      else for (let b = 0; b < AUDIT_BUCKETS; b++) keys.push(auditPartitionKey(d, b));
    }
    return keys;
  }

  /** Up to `limit` matching records, page by page through the partitions. */
  async query(query: AuditQuery): Promise<AuditQueryResult> {
    const partitions = CosmosAuditStore.partitions(query);
    let cursor: Cursor = query.cursor ? decodeCursor(query.cursor) : { p: 0, ts: 0, ids: [] };
    const items: AuditRecord[] = [];
    const matches = (r: AuditRecord) =>
      r.ts >= query.fromMs && r.ts <= query.toMs && (query.oid === undefined || r.oid === query.oid);

    while (cursor.p < partitions.length && items.length < query.limit) {
      const wanted = Math.ceil((query.limit - items.length) / RECORDS_PER_PAGE) + 1;
      const top = Math.min(MAX_PAGES_PER_READ, Math.max(PAGES_PER_READ, wanted)) + cursor.ids.length;
      // One store call a round trip, each with the store's deadline (503 past it, never a hang).
      const resources = await guarded(async (scope) => {
        const answer = await this.container.items
          .query<AuditPage>(
            {
              query:
                'SELECT TOP @top * FROM c WHERE c.pk = @pk AND c.maxTs >= @from AND c.minTs <= @to' +
                ' AND c.minTs >= @after ORDER BY c.minTs',
              parameters: [
                { name: '@top', value: top },
                { name: '@pk', value: partitions[cursor.p]! },
                { name: '@from', value: query.fromMs },
                { name: '@to', value: query.toMs },
                { name: '@after', value: cursor.ts },
              ],
            },
            { abortSignal: scope.abortSignal },
          )
          .fetchAll();
        return answer.resources;
      });
      this.reads.queries++;
      this.reads.pages += resources.length;
      const done = new Set(cursor.ids);
      const pages = resources.filter((page) => !done.has(page.id)).sort(byTimeThenId);
      for (const page of pages) {
        const found = auditRecordsOf(page).filter(matches);
        const skip = cursor.at === page.id ? (cursor.skip ?? 0) : 0;
        const taken = found.slice(skip, skip + query.limit - items.length);
        items.push(...taken);
        const ids = cursor.ts === page.minTs ? [...cursor.ids] : [];
        if (skip + taken.length < found.length) {
          cursor = { p: cursor.p, ts: page.minTs, ids, at: page.id, skip: skip + taken.length };
          return { items, next: encodeCursor(cursor) };
        }
        cursor = { p: cursor.p, ts: page.minTs, ids: [...ids, page.id] };
      }
      // Fewer pages than asked for: this partition is exhausted.
      if (resources.length < top) cursor = { p: cursor.p + 1, ts: 0, ids: [] };
    }
    return cursor.p < partitions.length ? { items, next: encodeCursor(cursor) } : { items };
  }
}
