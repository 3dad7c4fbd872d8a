import type { CosmosClient } from '@azure/cosmos';
import type { Clock } from '../clock';
import { GatewayError } from '../errors';
import type { Logger } from '../logger';
import { RevocationList } from '../revocation/revocation-list';
import { CONTAINERS, ensureContainers } from '../store/cosmos';
import { CosmosDocumentStore, guarded, type StoredDocument } from '../store/document-store';
import { RefreshingCollection, type ParseResult } from '../store/refreshing-collection';
import { StateRefresher } from '../store/state-refresher';
import { parsePolicy, parseResource, type Policy, type Resource, type ResourceRules } from '../policy/model';
import { compilePolicies, type PolicyIndex } from '../policy/policy-index';
import { policyVersionTag } from '../policy/policy-version';

/** What a decision reads: one consistent pair of compiled policies and resources. */
export interface PolicySnapshot {
  readonly index: PolicyIndex;
  readonly resources: ReadonlyMap<string, Resource>;
  /** Increases on every rebuild: handy for logs and tests. */
  readonly version: number;
}

export interface PolicyStateOptions {
  readonly client: CosmosClient;
  readonly databaseId: string;
  readonly resourceRules: ResourceRules;
  readonly refreshSeconds: number;
  /** `POLICY_MAX_STALENESS_SECONDS`. */
  readonly maxStalenessSeconds: number;
  readonly clock: Clock;
  readonly logger: Logger;
}

/** How long a tombstone stays before it is purged: far longer than any refresh interval. */
const TOMBSTONE_RETENTION_SECONDS = 7 * 24 * 3600;

/** A stored policy is the policy document itself, plus Cosmos system fields already stripped. */
function parseStoredPolicy(doc: StoredDocument): ParseResult<Policy> {
  const parsed = parsePolicy(doc.body);
  return parsed.ok ? parsed : { ok: false, error: parsed.error };
}

/** A stored resource carries its `name` as the Cosmos `id` too; the two must agree. */
function parseStoredResource(rules: ResourceRules) {
  return (doc: StoredDocument): ParseResult<Resource> => {
    const { id, ...body } = doc.body;
    if (id !== body.name) return { ok: false, error: 'name: must equal the document id' };
    const parsed = parseResource(body, rules);
    return parsed.ok ? parsed : { ok: false, error: parsed.error };
  };
}

/**
 * Every instance's in-memory copy of the policies and resources in Cosmos DB, compiled into an
 * index when they change (never per request) and swapped in as one snapshot, so a decision never
 * sees half of a change. Fails closed: until the first load succeeds, {@link snapshot} throws 503.
 */
export class PolicyState {
  readonly policyStore: CosmosDocumentStore;
  readonly resourceStore: CosmosDocumentStore;
  readonly policies: RefreshingCollection<Policy>;
  readonly resources: RefreshingCollection<Resource>;
  /** SAS revocations: refreshed by the same loop, indexed on their own (never recompile policies). */
  readonly revocations: RevocationList;
  readonly refresher: StateRefresher;
  private current: PolicySnapshot | undefined;
  private version = 0;

  constructor(private readonly options: PolicyStateOptions) {
    // Container references cost no I/O; `prepare` creates the containers on the first refresh.
    const database = options.client.database(options.databaseId);
    this.policyStore = new CosmosDocumentStore(database.container(CONTAINERS.policies));
    this.resourceStore = new CosmosDocumentStore(database.container(CONTAINERS.resources));
    this.policies = new RefreshingCollection('policies', this.policyStore, parseStoredPolicy, options.logger);
    this.resources = new RefreshingCollection(
      'resources',
      this.resourceStore,
      parseStoredResource(options.resourceRules),
      options.logger,
    );
    this.revocations = new RevocationList(
      new CosmosDocumentStore(database.container(CONTAINERS.revocations)),
      options.logger,
    );
    this.refresher = new StateRefresher({
      collections: [this.policies, this.resources, this.revocations],
      intervalSeconds: options.refreshSeconds,
      maxStalenessSeconds: options.maxStalenessSeconds,
      clock: options.clock,
      logger: options.logger,
      // Under the store's deadline too: a database that hangs must fail the refresh, not hold it.
      prepare: () => guarded(async () => void (await ensureContainers(options.client, options.databaseId))),
      onChange: () => this.rebuild(),
      housekeeping: () => this.purgeTombstones(),
    });
  }

  /** Loads everything, then keeps refreshing. Never throws. */
  start(): Promise<void> {
    return this.refresher.start();
  }

  stop(): void {
    this.refresher.stop();
  }

  /**
   * The current snapshot; 503 `ERR_POLICY_STORE_UNAVAILABLE` (fail closed) when policies never
   * loaded, or could not be confirmed current within `POLICY_MAX_STALENESS_SECONDS`: a revocation
   * or a policy change made meanwhile on another instance may be missing from it.
   */
  snapshot(): PolicySnapshot {
    if (this.current === undefined) throw new GatewayError('ERR_POLICY_STORE_UNAVAILABLE');
    if (this.refresher.stale()) {
      throw new GatewayError(
        'ERR_POLICY_STORE_UNAVAILABLE',
        'Policies could not be refreshed within POLICY_MAX_STALENESS_SECONDS; failing closed',
        { headers: { 'retry-after': String(this.options.refreshSeconds) } },
      );
    }
    return this.current;
  }

  /** Compiles a new snapshot from the collections and swaps it in (one reference assignment). */
  rebuild(): void {
    const versions = new Map<string, string>();
    const policies: Policy[] = [];
    for (const { value, etag } of this.policies.versioned()) {
      policies.push(value);
      versions.set(value.id, policyVersionTag(etag));
    }
    const index = compilePolicies(policies, versions);
    const resources = new Map(this.resources.values().map((r) => [r.name, r]));
    this.current = { index, resources, version: ++this.version };
    this.options.logger.log('info', 'policy.index_rebuilt', {
      version: this.version,
      policies: index.byId.size,
      resources: resources.size,
    });
  }

  /** Housekeeping: policy and resource tombstones, and revocations no token can need any more. */
  async purgeTombstones(): Promise<void> {
    const now = Math.floor(this.options.clock.now() / 1000);
    const before = now - TOMBSTONE_RETENTION_SECONDS;
    await Promise.all([
      this.policyStore.purgeTombstones(before),
      this.resourceStore.purgeTombstones(before),
      this.revocations.purgeExpired(now),
    ]);
  }
}
