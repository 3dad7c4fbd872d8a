/**
 * Where the `jti` of every accepted DPoP proof is remembered until the proof is too old anyway
 * (RFC 9449 section 11.1), so that a proof is accepted once. Shared by every instance: a proof
 * captured on its way to one instance must not pass on another (the Cosmos DB store,
 * src/dpop/cosmos-replay-store.ts, behind this instance's memory).
 */
import { createHash } from 'node:crypto';

export interface ReplayStore {
  /**
   * Records a proof as used until `expiresAt` (unix seconds). False when it was used before: a
   * replay. Throws when the store cannot tell (the caller fails closed).
   */
  firstUse(key: string, expiresAt: number): Promise<boolean>;
}

/** The store's key of a proof: the key's thumbprint and the proof's `jti`, hashed to a safe id. */
export function replayKey(jkt: string, jti: string): string {
  return createHash('sha256').update(`${jkt} ${jti}`).digest('base64url');
}

/**
 * One instance's memory: what a proof used on this instance meets, without a round trip. Bounded:
 * expired entries are swept when it is full, and past the bound the oldest are forgotten (the
 * shared store behind it still remembers them).
 */
export class MemoryReplayStore implements ReplayStore {
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly clock: { now(): number },
    private readonly maxEntries = 100_000,
  ) {}

  /** Synchronous form: true the first time. */
  remember(key: string, expiresAt: number): boolean {
    const now = this.clock.now() / 1000;
    const until = this.seen.get(key);
    if (until !== undefined && until > now) return false;
    if (this.seen.size >= this.maxEntries) this.sweep(now);
    this.seen.set(key, expiresAt);
    return true;
  }

  firstUse(key: string, expiresAt: number): Promise<boolean> {
    return Promise.resolve(this.remember(key, expiresAt));
  }

  private sweep(now: number): void {
    for (const [key, until] of this.seen) if (until <= now) this.seen.delete(key);
    // Still full: forget the oldest insertions (Map keeps insertion order).
    for (const key of this.seen.keys()) {
      if (this.seen.size < this.maxEntries) break;
      this.seen.delete(key);
    }
  }
}

/** This instance's memory in front of the shared store: a replay to the same instance costs no round trip. */
export class LayeredReplayStore implements ReplayStore {
  constructor(
    private readonly local: MemoryReplayStore,
    private readonly shared: ReplayStore,
  ) {}

  async firstUse(key: string, expiresAt: number): Promise<boolean> {
    if (!this.local.remember(key, expiresAt)) return false;
    return this.shared.firstUse(key, expiresAt);
  }
}
