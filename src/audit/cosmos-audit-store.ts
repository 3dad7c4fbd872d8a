import type { Container } from '@azure/cosmos';
import { GatewayError } from '../errors';
import type { AuditSink } from './audit-log';
import { AUDIT_BUCKETS, auditBucket, auditDay, type AuditRecord } from './audit-record';

/** Parallel creates per batch: enough to keep up, few enough not to throttle a serverless account. */
const WRITE_CONCURRENCY = 8;
const DAY_MS = 86_400_000;

export interface AuditQuery {
  readonly oid?: string | undefined;
  readonly fromMs: number;
  readonly toMs: number;
  readonly limit: number;
  /** From a previous page's `next`. */
  readonly cursor?: string | undefined;
}

export interface AuditPage {
  readonly items: readonly AuditRecord[];
  /** Pass back as `cursor` for the next page; absent on the last page. */
  readonly next?: string;
}

/** Where a page stopped: the partition, and the last `ts` with the ids already returned at it. */
interface Cursor {
  readonly p: number;
  readonly ts: number;
  readonly ids: readonly string[];
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
      c.ids.every((id) => typeof id === 'string')
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

/**
 * The audit container. Records are partitioned by `<day>:<bucket>` (see auditPartition), so a
 * query reads only the partitions it needs: one per day for a user (their bucket), every bucket
 * of each day otherwise. Each partition query filters by `pk` in SQL (the embedded server
 * ignores the partitionKey option) and pages by `ts` (no composite index needed).
 */
export class CosmosAuditStore implements AuditSink {
  constructor(readonly container: Container) {}

  async write(records: readonly AuditRecord[]): Promise<void> {
    for (let i = 0; i < records.length; i += WRITE_CONCURRENCY) {
      await Promise.all(
        records.slice(i, i + WRITE_CONCURRENCY).map(async (record) => {
          try {
            await this.container.items.create(record);
          } catch (err) {
            // A retried batch may hold records written before the failure: ids make that idempotent.
            if ((err as { code?: unknown }).code !== 409) throw err;
          }
        }),
      );
    }
  }

  /** The partitions a query reads, in time order. */
  static partitions(query: Pick<AuditQuery, 'oid' | 'fromMs' | 'toMs'>): string[] {
    const keys: string[] = [];
    const first = Date.parse(auditDay(query.fromMs));
    for (let day = first; day <= query.toMs; day += DAY_MS) {
      const d = auditDay(day);
      if (query.oid !== undefined) keys.push(`${d}:${auditBucket(query.oid)}`);
      else for (let b = 0; b < AUDIT_BUCKETS; b++) keys.push(`${d}:${b}`);
    }
    return keys;
  }

  async query(query: AuditQuery): Promise<AuditPage> {
    const partitions = CosmosAuditStore.partitions(query);
    let cursor: Cursor = query.cursor ? decodeCursor(query.cursor) : { p: 0, ts: query.fromMs, ids: [] };
    const items: AuditRecord[] = [];
    while (cursor.p < partitions.length && items.length < query.limit) {
      const want = query.limit - items.length;
      const skip = new Set(cursor.ids);
      const { resources } = await this.container.items
        .query<AuditRecord>({
          query:
            `SELECT TOP @top * FROM c WHERE c.pk = @pk AND c.ts >= @from AND c.ts <= @to` +
            (query.oid === undefined ? '' : ' AND c.oid = @oid') +
            ' ORDER BY c.ts',
          parameters: [
            { name: '@top', value: want + skip.size },
            { name: '@pk', value: partitions[cursor.p]! },
            { name: '@from', value: Math.max(cursor.ts, query.fromMs) },
            { name: '@to', value: query.toMs },
            ...(query.oid === undefined ? [] : [{ name: '@oid', value: query.oid }]),
          ],
        })
        .fetchAll();
      const fresh = resources.filter((r) => !skip.has(r.id)).slice(0, want);
      items.push(...fresh.map(withoutSystemFields));
      const last = fresh.at(-1);
      if (fresh.length < want) {
        cursor = { p: cursor.p + 1, ts: query.fromMs, ids: [] }; // this partition is exhausted
      } else if (last) {
        const sameTs = fresh.filter((r) => r.ts === last.ts).map((r) => r.id);
        cursor = {
          p: cursor.p,
          ts: last.ts,
          ids: last.ts === cursor.ts ? [...cursor.ids, ...sameTs] : sameTs,
        };
      }
    }
    return cursor.p < partitions.length ? { items, next: encodeCursor(cursor) } : { items };
  }
}

function withoutSystemFields(record: AuditRecord): AuditRecord {
  const { _rid, _self, _etag, _attachments, _ts, ...rest } = record as AuditRecord & Record<string, unknown>;
  void [_rid, _self, _etag, _attachments, _ts];
  return rest;
}
