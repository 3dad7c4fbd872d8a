import type { Logger } from '../logger';
import { normalizeEtag } from '../http/etag';
import type { CosmosDocumentStore, StoredDocument } from './document-store';

/** The outcome of validating one stored document. */
export type ParseResult<T> = { ok: true; value: T } | { ok: false; error: string };

/**
 * How far back (in `_ts` seconds) every pull reaches behind the newest change it has seen.
 *
 * Why an overlap at all: `_ts` has one-second resolution, and a write by another instance can
 * become visible to this instance's query after a write with a later `_ts` (each physical
 * partition stamps its own writes, and a read of another session may lag). A pull that started
 * exactly at the newest `_ts` seen would skip such a write forever. Re-reading the last minute
 * costs a few already-held documents per pull, dropped by ETag; missing a revocation costs a
 * security promise.
 */
export const PULL_OVERLAP_SECONDS = 60;

/** One document as held: its live value, or a tombstone (`value` undefined), so a re-read is recognised. */
interface Entry<T> {
  readonly etag: string;
  readonly ts: number;
  readonly value: T | undefined;
}

/** A held document, with the version (ETag) it was read at. */
export interface VersionedValue<T> {
  readonly value: T;
  /** The document's `_etag`, without quotes: changes on every write. */
  readonly etag: string;
}

/**
 * An in-memory copy of one container, kept current by pulling `_ts`-based changes.
 *
 * The pull never skips a change it has not seen: its mark is the newest `_ts` among documents it
 * *pulled* (a write this instance made and applied at once never moves it, since writes of other
 * instances stamped earlier may not have been pulled yet), and every pull reaches
 * {@link PULL_OVERLAP_SECONDS} behind that mark. Documents already held at the same ETag are
 * dropped.
 *
 * Each stored document is validated on the way in. One that fails is skipped and logged, never
 * half-applied: if an earlier valid version is held, that version stays in force (dropping it
 * could silently remove a deny), and the failure is reported until a valid version replaces it.
 */
export class RefreshingCollection<T> {
  private entries = new Map<string, Entry<T>>();
  private readonly invalid = new Map<string, string>();
  /** The ETag each invalid document was refused at: the overlap re-reads it, and it is logged once. */
  private readonly invalidEtags = new Map<string, string>();
  /** Newest `_ts` among pulled (not locally applied) documents. */
  private mark = 0;
  private loadedOnce = false;

  constructor(
    readonly name: string,
    private readonly store: Pick<CosmosDocumentStore, 'readAll' | 'changedSince'>,
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

  /** The `_ts` the next pull starts from (for tests and health). */
  get pullsFrom(): number {
    return Math.max(0, this.mark - PULL_OVERLAP_SECONDS);
  }

  values(): T[] {
    const out: T[] = [];
    for (const entry of this.entries.values()) if (entry.value !== undefined) out.push(entry.value);
    return out;
  }

  /** Every live document with its ETag (the SAS verifier ties tokens to policy versions). */
  versioned(): VersionedValue<T>[] {
    const out: VersionedValue<T>[] = [];
    for (const { value, etag } of this.entries.values()) if (value !== undefined) out.push({ value, etag });
    return out;
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
    this.invalidEtags.clear();
    let mark = 0;
    for (const doc of docs) {
      mark = Math.max(mark, doc.ts);
      this.applyOne(doc, previous.get(doc.id));
    }
    this.mark = mark;
    this.loadedOnce = true;
    return true;
  }

  /** Pulls documents written since the mark, with the overlap. Returns true when anything changed. */
  async pull(): Promise<boolean> {
    if (!this.loadedOnce) return this.load();
    const docs = await this.store.changedSince(this.pullsFrom);
    let changed = false;
    let mark = this.mark;
    for (const doc of docs) {
      mark = Math.max(mark, doc.ts);
      changed = this.apply(doc) || changed;
    }
    this.mark = mark;
    this.forgetOldTombstones();
    return changed;
  }

  /** Drops tombstones far behind the pull window: no pull returns them again, and they would only grow. */
  private forgetOldTombstones(): void {
    const horizon = this.mark - 2 * PULL_OVERLAP_SECONDS;
    for (const [id, entry] of this.entries) {
      if (entry.value === undefined && entry.ts < horizon) this.entries.delete(id);
    }
  }

  /**
   * Applies one document: written by this instance (visible here at once) or pulled. Returns
   * true when it changed the content. Never moves the pull mark.
   */
  apply(doc: StoredDocument): boolean {
    const held = this.entries.get(doc.id);
    if (this.invalidEtags.get(doc.id) === normalizeEtag(doc.etag)) return false;
    // Only the ETag decides, never `_ts`: a failover can stamp a newer version with an older `_ts`,
    // and a session's reads are monotonic, so a pulled copy is never older than one held.
    if (held !== undefined && normalizeEtag(held.etag) === normalizeEtag(doc.etag)) return false;
    return this.applyOne(doc, held);
  }

  private applyOne(doc: StoredDocument, held: Entry<T> | undefined): boolean {
    if (doc.deleted) {
      this.invalid.delete(doc.id);
      this.invalidEtags.delete(doc.id);
      this.entries.set(doc.id, { etag: doc.etag, ts: doc.ts, value: undefined });
      return held?.value !== undefined;
    }
    const parsed = this.parse(doc);
    if (!parsed.ok) {
      this.invalid.set(doc.id, parsed.error);
      this.invalidEtags.set(doc.id, normalizeEtag(doc.etag));
      this.logger.log('error', 'store.document_invalid', {
        container: this.name,
        id: doc.id,
        error: parsed.error,
        keptPreviousVersion: held?.value !== undefined,
      });
      if (held) this.entries.set(doc.id, held);
      return false;
    }
    this.invalid.delete(doc.id);
    this.invalidEtags.delete(doc.id);
    this.entries.set(doc.id, { etag: doc.etag, ts: doc.ts, value: parsed.value });
    return true;
  }
}
