/**
 * Every instance's in-memory copy of the revocations, kept current by the policy state's
 * refresher (one refresh loop serves policies, resources and revocations), and the check the
 * SAS verifier runs on every token: two hash lookups, no I/O.
 */
import type { Logger } from '../logger';
import type { CosmosDocumentStore, StoredDocument } from '../store/document-store';
import { RefreshingCollection } from '../store/refreshing-collection';
import type { Refreshable } from '../store/state-refresher';
import { parseStoredRevocation, type Revocation } from './revocation';

/** No upper-case letter: the oid is already in the form the index keeps. */
const LOWER = /^[^A-Z]*$/;

/** Why a token is revoked, or undefined. */
export type RevocationMatch = { readonly by: 'sid' } | { readonly by: 'oid'; readonly before: number };

/**
 * The revocations, indexed by `sid` and by `oid`. It is a {@link Refreshable}: the refresher
 * pulls it with the other collections. Its pull reports "no change" to the refresher because it
 * rebuilds its own index itself: a revocation never recompiles the policy index.
 */
export class RevocationList implements Refreshable {
  readonly name = 'revocations';
  private readonly collection: RefreshingCollection<Revocation>;
  private sids: ReadonlySet<string> = new Set();
  private oids: ReadonlyMap<string, number> = new Map();

  constructor(
    readonly store: CosmosDocumentStore,
    logger: Logger,
  ) {
    this.collection = new RefreshingCollection('revocations', store, parseStoredRevocation, logger);
  }

  get loaded(): boolean {
    return this.collection.loaded;
  }

  get invalidDocuments(): ReadonlyMap<string, string> {
    return this.collection.invalidDocuments;
  }

  async pull(): Promise<boolean> {
    if (await this.collection.pull()) this.rebuild();
    return false;
  }

  /** Applies a record this instance just wrote: visible here at once. */
  apply(doc: StoredDocument): void {
    if (this.collection.apply(doc)) this.rebuild();
  }

  /** The stored record with this id, as held in memory. */
  get(id: string): Revocation | undefined {
    return this.collection.get(id);
  }

  /**
   * Whether a token with this `sid`, `oid` and `st` is revoked. `st <= before`, not `<`: both are
   * whole seconds, so a token issued earlier in the second of `before` must be caught (one issued
   * later in that second is caught too: failing closed, it only has to be exchanged again).
   */
  match(sid: string, oid: string, st: number): RevocationMatch | undefined {
    if (this.sids.has(sid)) return { by: 'sid' };
    if (this.oids.size === 0) return undefined;
    const before = this.oids.get(LOWER.test(oid) ? oid : oid.toLowerCase());
    if (before !== undefined && st <= before) return { by: 'oid', before };
    return undefined;
  }

  private rebuild(): void {
    const sids = new Set<string>();
    const oids = new Map<string, number>();
    for (const r of this.collection.values()) {
      if (r.kind === 'sid') sids.add(r.sid);
      else oids.set(r.oid, Math.max(r.before, oids.get(r.oid) ?? 0));
    }
    this.sids = sids;
    this.oids = oids;
  }

  /**
   * Hard-deletes records past `purgeAfter` (no token they affect can still be valid). Safe on
   * every instance. Why not tombstones: an expired record matches nothing that verifies anyway.
   */
  purgeExpired(now: number): Promise<number> {
    return this.store.purge({
      query: 'SELECT c.id FROM c WHERE c.purgeAfter < @now',
      parameters: [{ name: '@now', value: now }],
    });
  }
}
