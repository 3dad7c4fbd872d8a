import type { Container, ItemDefinition, SqlQuerySpec } from '@azure/cosmos';
import { GatewayError } from '../errors';
import { normalizeEtag } from '../http/etag';

/** A document as it comes out of Cosmos DB: the body plus the system fields the gateway uses. */
export interface StoredDocument {
  readonly id: string;
  readonly etag: string;
  /** Cosmos DB `_ts`: seconds since the epoch of the last write. */
  readonly ts: number;
  /** True for a tombstone: a soft delete every instance's refresh sees before it is purged. */
  readonly deleted: boolean;
  /** The document without Cosmos system fields (`_rid`, `_self`, `_etag`, `_ts`, `_attachments`). */
  readonly body: Record<string, unknown>;
}

export interface WriteConditions {
  /** An ETag from a previous read (quoted or not), or `*` for "must exist". */
  readonly ifMatch?: string | undefined;
}

const SYSTEM_FIELDS = new Set(['_rid', '_self', '_etag', '_ts', '_attachments', '_lsn']);

/** The HTTP `ETag` header value of a stored document. */
export function etagHeader(doc: StoredDocument): string {
  return `"${normalizeEtag(doc.etag)}"`;
}

function toStored(item: ItemDefinition): StoredDocument {
  const body: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(item)) if (!SYSTEM_FIELDS.has(key)) body[key] = value;
  return {
    id: String(item.id),
    etag: String(item._etag),
    ts: Number(item._ts),
    deleted: item.deleted === true,
    body,
  };
}

function statusOf(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

/**
 * Longest one store operation may take (an admin read, a write with the read before it, a pull of
 * changes), from its first request to its last answer: past it the call fails instead of holding
 * its caller for as long as Cosmos DB hangs (the SDK's own request timeout is a minute, retried).
 * 5 s, as the DPoP replay store's writes: well inside a client's usual 30 s limit, and far above
 * a healthy account's answer (milliseconds).
 */
export const STORE_CALL_TIMEOUT_MS = 5_000;

/** Errors that prove a write never reached Cosmos DB: nothing can have been applied. */
const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

function errorCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e !== undefined && e !== null && depth < 4; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/** What a guarded call is given: the deadline's signal for the SDK, and where it is. */
export interface CallScope {
  readonly abortSignal: AbortSignal;
  /** Set once the write is sent: from then on a failure may leave it applied. */
  writing: boolean;
}

/**
 * Runs a Cosmos DB call under one deadline, turning anything that is not already a GatewayError
 * (connection refused, timeouts, 5xx) into a 503 with the original as cause: never a 500 for an
 * outage. The deadline holds whatever the SDK does with its signal: the call is raced against
 * it. A write past the deadline may still land, so it is reported as such.
 */
export async function guarded<T>(
  call: (scope: CallScope) => Promise<T>,
  timeoutMs: number = STORE_CALL_TIMEOUT_MS,
): Promise<T> {
  // A timer cleared when the call ends (not AbortSignal.timeout, whose timer, signal and
  // listeners live on for the whole timeout after a call that took milliseconds).
  const controller = new AbortController();
  const scope: CallScope = { abortSignal: controller.signal, writing: false };
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const err = new Error(`Cosmos DB did not answer within ${timeoutMs} ms`);
      controller.abort(err);
      reject(err);
    }, timeoutMs);
    timer.unref();
  });
  try {
    return await Promise.race([call(scope), expired]);
  } catch (err) {
    if (err instanceof GatewayError) throw err;
    if (scope.writing) throw writeFailure(err);
    throw new GatewayError('ERR_STORE_UNAVAILABLE', undefined, { cause: err });
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A failed write as the client must see it: refused by Cosmos DB with a status (or never sent) is
 * `ERR_STORE_UNAVAILABLE`, nothing changed; otherwise (no answer in time, the connection lost
 * after the request went out, a 5xx) the write may have been applied, and the client is told to
 * read before retrying: `ERR_STORE_OUTCOME_UNKNOWN`.
 */
function writeFailure(err: unknown): GatewayError {
  if (err instanceof GatewayError) return err;
  const status = statusOf(err);
  const code = errorCode(err);
  const notApplied =
    (status !== undefined && status >= 400 && status < 500 && status !== 408) ||
    (code !== undefined && NOT_SENT_CODES.has(code));
  return notApplied
    ? new GatewayError('ERR_STORE_UNAVAILABLE', undefined, { cause: err })
    : new GatewayError('ERR_STORE_OUTCOME_UNKNOWN', undefined, { cause: err });
}

/**
 * The ETag a write is conditioned on, checked by Cosmos DB itself (never by comparing here, which
 * two instances racing with one ETag would both pass): the client's `If-Match` in the spelling
 * the store uses (quoted like `current`, or bare), or, without one or for `*`, the ETag just read,
 * so that a concurrent writer makes this a 412 rather than a lost update.
 */
function writeCondition(ifMatch: string | undefined, current: StoredDocument): string {
  if (ifMatch === undefined || ifMatch.trim() === '*') return current.etag;
  const bare = normalizeEtag(ifMatch.trim());
  return current.etag.startsWith('"') ? `"${bare}"` : bare;
}

const stale = () => new GatewayError('ERR_PRECONDITION_FAILED', 'The document changed since it was read');

/**
 * One Cosmos DB container of small documents partitioned by `/id`: point reads and writes by
 * id, whole-container loads, and `_ts`-based change queries.
 *
 * Why `_ts` queries and not the change feed: the embedded server has no change feed, and these
 * containers hold hundreds to thousands of small documents that every instance keeps in memory
 * anyway. Why soft deletes: a query by `_ts` cannot see a document that is gone, so a delete
 * writes a tombstone that every instance's refresh picks up, and tombstones are purged later.
 * Queries filter by the partition key in SQL too, since the embedded server ignores the
 * partitionKey option.
 */
export class CosmosDocumentStore {
  constructor(
    readonly container: Container,
    private readonly timeoutMs: number = STORE_CALL_TIMEOUT_MS,
  ) {}

  /** Every document, tombstones included. */
  readAll(): Promise<StoredDocument[]> {
    return guarded(async (scope) => {
      const { resources } = await this.container.items
        .query<ItemDefinition>('SELECT * FROM c', { abortSignal: scope.abortSignal })
        .fetchAll();
      return resources.map(toStored);
    }, this.timeoutMs);
  }

  /**
   * Documents written at or after `sinceTs` (seconds). `>=`, not `>`: `_ts` has one-second
   * resolution, so a write in the same second as the last one seen must still be picked up;
   * callers drop what they already hold by ETag.
   */
  changedSince(sinceTs: number): Promise<StoredDocument[]> {
    return guarded(async (scope) => {
      const { resources } = await this.container.items
        .query<ItemDefinition>(
          {
            query: 'SELECT * FROM c WHERE c._ts >= @since',
            parameters: [{ name: '@since', value: sinceTs }],
          },
          { abortSignal: scope.abortSignal },
        )
        .fetchAll();
      return resources.map(toStored);
    }, this.timeoutMs);
  }

  /** The document with `id`, tombstone included; undefined when absent. */
  get(id: string): Promise<StoredDocument | undefined> {
    return guarded((scope) => this.read(id, scope), this.timeoutMs);
  }

  private async read(id: string, scope: CallScope): Promise<StoredDocument | undefined> {
    try {
      const { resource } = await this.container
        .item(id, id)
        .read<ItemDefinition>({ abortSignal: scope.abortSignal });
      return resource ? toStored(resource) : undefined;
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw err;
    }
  }

  /**
   * Creates or replaces the document `id` (PUT semantics). With `ifMatch`, the current live
   * document must carry that ETag (or exist, for `*`), checked by Cosmos DB atomically: 412
   * otherwise. Of two writers racing with one ETag, exactly one wins.
   */
  put(
    id: string,
    body: Record<string, unknown>,
    conditions: WriteConditions = {},
  ): Promise<{ doc: StoredDocument; created: boolean }> {
    return guarded(async (scope) => {
      const current = await this.read(id, scope);
      const live = current && !current.deleted ? current : undefined;
      const item = { ...body, id };
      if (conditions.ifMatch !== undefined && !live) throw stale();
      // Past the deadline the caller was already told nothing changed: never send it then.
      scope.abortSignal.throwIfAborted();
      try {
        scope.writing = true;
        if (current) {
          const condition = writeCondition(conditions.ifMatch, current);
          const { resource } = await this.container.item(id, id).replace<ItemDefinition>(item, {
            accessCondition: { type: 'IfMatch', condition },
            abortSignal: scope.abortSignal,
          });
          return { doc: toStored(resource as ItemDefinition), created: !live };
        }
        const { resource } = await this.container.items.create<ItemDefinition>(item, {
          abortSignal: scope.abortSignal,
        });
        return { doc: toStored(resource as ItemDefinition), created: true };
      } catch (err) {
        const status = statusOf(err);
        if (status === 412 || status === 409) throw stale();
        throw writeFailure(err);
      }
    }, this.timeoutMs);
  }

  /** Soft-deletes `id`: replaces it with a tombstone. Undefined when there was no live document. */
  remove(
    id: string,
    nowSeconds: number,
    conditions: WriteConditions = {},
  ): Promise<StoredDocument | undefined> {
    return guarded(async (scope) => {
      const current = await this.read(id, scope);
      if (!current || current.deleted) {
        if (conditions.ifMatch !== undefined) throw stale();
        return undefined;
      }
      scope.abortSignal.throwIfAborted();
      try {
        scope.writing = true;
        const { resource } = await this.container.item(id, id).replace<ItemDefinition>(
          { id, deleted: true, deletedAt: nowSeconds },
          {
            accessCondition: { type: 'IfMatch', condition: writeCondition(conditions.ifMatch, current) },
            abortSignal: scope.abortSignal,
          },
        );
        return toStored(resource as ItemDefinition);
      } catch (err) {
        if (statusOf(err) === 412) throw stale();
        throw writeFailure(err);
      }
    }, this.timeoutMs);
  }

  /** Hard-deletes tombstones written before `beforeTs`; returns how many. Safe to run on every instance. */
  purgeTombstones(beforeTs: number): Promise<number> {
    return this.purge({
      query: 'SELECT c.id FROM c WHERE c.deleted = true AND c._ts < @before',
      parameters: [{ name: '@before', value: beforeTs }],
    });
  }

  /**
   * Hard-deletes the documents whose ids `select` returns (`SELECT c.id FROM c WHERE ...`);
   * returns how many. Safe to run on every instance: one another instance purged first is skipped.
   */
  async purge(select: SqlQuerySpec): Promise<number> {
    const ids = await guarded(async (scope) => {
      const { resources } = await this.container.items
        .query<{ id: string }>(select, { abortSignal: scope.abortSignal })
        .fetchAll();
      return resources;
    }, this.timeoutMs);
    let purged = 0;
    for (const { id } of ids) {
      try {
        // Housekeeping, not a request: each delete has a deadline of its own.
        await guarded(
          (scope) => this.container.item(id, id).delete({ abortSignal: scope.abortSignal }),
          this.timeoutMs,
        );
        purged++;
      } catch (err) {
        // Purged first by another instance.
        if (statusOf((err as { cause?: unknown }).cause) !== 404) throw err;
      }
    }
    return purged;
  }
}
