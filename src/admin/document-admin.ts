import type { HttpResponseInit } from '@azure/functions';
import { GatewayError } from '../errors';
import { jsonResponse } from '../http/responses';
import { etagHeader, type CosmosDocumentStore, type StoredDocument } from '../store/document-store';
import type { ParseResult, RefreshingCollection } from '../store/refreshing-collection';

/** How one kind of admin-managed document (policies, resources) is validated and stored. */
export interface DocumentKind<T> {
  /** Plural noun used in messages: `policy`, `resource`. */
  readonly noun: string;
  /** The body field that carries the document's id (`id` for policies, `name` for resources). */
  readonly idField: string;
  /** Validates an id taken from the route. */
  readonly idPattern: RegExp;
  readonly store: CosmosDocumentStore;
  readonly collection: RefreshingCollection<T>;
  /** Validates a body; the error names the field at fault. */
  validate(body: unknown): ParseResult<T> & { field?: string };
  /** Called after this instance wrote a document, so it sees the change at once. */
  onLocalChange(): void;
}

/** The document as clients see it: the stored body without the gateway's partition `id` for resources. */
function publicBody(kind: DocumentKind<unknown>, doc: StoredDocument): Record<string, unknown> {
  if (kind.idField === 'id') return doc.body;
  const { id: _id, ...rest } = doc.body;
  return rest;
}

function checkId(kind: DocumentKind<unknown>, id: string | undefined): string {
  if (id === undefined || !kind.idPattern.test(id)) {
    throw new GatewayError('ERR_VALIDATION', `${kind.idField}: not a valid ${kind.noun} ${kind.idField}`, {
      extensions: { field: kind.idField },
    });
  }
  return id;
}

/**
 * The admin API over one document kind: list, read (with ETag), create-or-replace (201/200,
 * `If-Match` honoured, 412 on a stale ETag) and soft delete. Reads go to Cosmos DB, not to the
 * cache, so an admin always sees (and gets the ETag of) what is stored.
 */
export class DocumentAdmin<T> {
  constructor(private readonly kind: DocumentKind<T>) {}

  async list(): Promise<HttpResponseInit> {
    const docs = await this.kind.store.readAll();
    const items = docs
      .filter((d) => !d.deleted)
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .map((d) => publicBody(this.kind, d));
    return jsonResponse(200, { items, count: items.length });
  }

  async get(rawId: string | undefined): Promise<HttpResponseInit> {
    const id = checkId(this.kind, rawId);
    const doc = await this.kind.store.get(id);
    if (!doc || doc.deleted) throw new GatewayError('ERR_NOT_FOUND', `No ${this.kind.noun} "${id}"`);
    return jsonResponse(200, publicBody(this.kind, doc), { etag: etagHeader(doc) });
  }

  async put(rawId: string | undefined, body: unknown, ifMatch: string | null): Promise<HttpResponseInit> {
    const id = checkId(this.kind, rawId);
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new GatewayError('ERR_VALIDATION', '(body): expected a JSON object', {
        extensions: { field: null },
      });
    }
    const withId: Record<string, unknown> = { ...(body as Record<string, unknown>) };
    const field = this.kind.idField;
    if (withId[field] === undefined) withId[field] = id;
    if (withId[field] !== id) {
      throw new GatewayError('ERR_VALIDATION', `${field}: must equal the ${field} in the route ("${id}")`, {
        extensions: { field },
      });
    }
    const parsed = this.kind.validate(withId);
    if (!parsed.ok) {
      throw new GatewayError('ERR_VALIDATION', parsed.error, { extensions: { field: parsed.field ?? null } });
    }
    // Store the validated document (defaults applied), so every instance reads the same thing.
    const { doc, created } = await this.kind.store.put(id, parsed.value as Record<string, unknown>, {
      ifMatch: ifMatch ?? undefined,
    });
    if (this.kind.collection.apply(doc)) this.kind.onLocalChange();
    return jsonResponse(created ? 201 : 200, publicBody(this.kind, doc), { etag: etagHeader(doc) });
  }

  async remove(
    rawId: string | undefined,
    ifMatch: string | null,
    nowSeconds: number,
  ): Promise<HttpResponseInit> {
    const id = checkId(this.kind, rawId);
    const tombstone = await this.kind.store.remove(id, nowSeconds, { ifMatch: ifMatch ?? undefined });
    if (!tombstone) throw new GatewayError('ERR_NOT_FOUND', `No ${this.kind.noun} "${id}"`);
    if (this.kind.collection.apply(tombstone)) this.kind.onLocalChange();
    return { status: 204, headers: { 'cache-control': 'no-store' } };
  }
}
