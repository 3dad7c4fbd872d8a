import type { Logger } from '../logger';
import type { CosmosDocumentStore, StoredDocument } from './document-store';

/** The outcome of validating one stored document. */
export type ParseResult<T> = { ok: true; value: T } | { ok: false; error: string };

interface Entry<T> {
  readonly etag: string;
  readonly value: T;
}

/**
 * An in-memory copy of one container, kept current by pulling `_ts`-based changes.
 *
 * Each stored document is validated on the way in. One that fails is skipped and logged, never
 * half-applied: if an earlier valid version is held, that version stays in force (dropping it
 * could silently remove a deny), and the failure is reported until a valid version replaces it.
 */
export class RefreshingCollection<T> {
  private entries = new Map<string, Entry<T>>();
  private readonly invalid = new Map<string, string>();
  private lastTs = 0;
  private loadedOnce = false;

  constructor(
    readonly name: string,
    private readonly store: CosmosDocumentStore,
    private readonly parse: (doc: StoredDocument) => ParseResult<T>,
    private readonly logger: Logger,
  ) {}

  get loaded(): boolean {
    return this.loadedOnce;
  }

  /** Ids of stored documents currently skipped as invalid, with the reason. */
  get invalidDocuments(): ReadonlyMap<string, string> {
    return this.invalid;
  }

  values(): T[] {
    return [...this.entries.values()].map((e) => e.value);
  }

  get(id: string): T | undefined {
    return this.entries.get(id)?.value;
  }

  /** Loads the whole container, replacing what is held. Returns true (the content may have changed). */
  async load(): Promise<boolean> {
    const docs = await this.store.readAll();
    const previous = this.entries;
    this.entries = new Map();
    this.invalid.clear();
    for (const doc of docs) this.applyOne(doc, previous.get(doc.id));
    this.loadedOnce = true;
    return true;
  }

  /** Pulls documents written since the last one seen. Returns true when anything changed. */
  async pull(): Promise<boolean> {
    if (!this.loadedOnce) return this.load();
    const docs = await this.store.changedSince(this.lastTs);
    let changed = false;
    for (const doc of docs) changed = this.apply(doc) || changed;
    return changed;
  }

  /** Applies one document written by this instance (or pulled). Returns true when it changed the content. */
  apply(doc: StoredDocument): boolean {
    const held = this.entries.get(doc.id);
    if (held?.etag === doc.etag) {
      this.lastTs = Math.max(this.lastTs, doc.ts);
      return false;
    }
    return this.applyOne(doc, held);
  }

  private applyOne(doc: StoredDocument, held: Entry<T> | undefined): boolean {
    this.lastTs = Math.max(this.lastTs, doc.ts);
    if (doc.deleted) {
      this.invalid.delete(doc.id);
      return this.entries.delete(doc.id);
    }
    const parsed = this.parse(doc);
    if (!parsed.ok) {
      this.invalid.set(doc.id, parsed.error);
      this.logger.log('error', 'store.document_invalid', {
        container: this.name,
        id: doc.id,
        error: parsed.error,
        keptPreviousVersion: held !== undefined,
      });
      if (held) this.entries.set(doc.id, held);
      return false;
    }
    this.invalid.delete(doc.id);
    this.entries.set(doc.id, { etag: doc.etag, value: parsed.value });
    return true;
  }
}
