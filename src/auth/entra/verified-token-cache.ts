/**
 * Principals of tokens that passed full verification, by SHA-256 of the token, until the
 * token's `exp`. A mobile app resends the same token for up to an hour: a hit costs a hash and a
 * map lookup instead of an RS256 verify.
 *
 * Why it is safe: the key is a hash of the entire token (signature included), so only the very
 * same bytes hit; expiry is checked against the clock on every hit; failures are never stored,
 * so a token that failed once is verified afresh every time.
 */
import { hash } from 'node:crypto';
import type { Principal } from '../principal';

/** A bounded map of verified principals; the oldest entry is evicted first when full. */
export class VerifiedTokenCache {
  private readonly entries = new Map<string, Principal>();

  constructor(private readonly maxEntries: number) {}

  /**
   * The cache key of a token. `crypto.hash` is the one-shot form of `createHash`: same digest,
   * half the cost (1.1 µs instead of 2.1 for an Entra token), and it runs on every Bearer call.
   */
  static keyOf(token: string): string {
    return hash('sha256', token, 'base64');
  }

  /** The principal of a verified, unexpired token; expired entries are dropped, never served. */
  get(key: string, nowSeconds: number): Principal | undefined {
    const principal = this.entries.get(key);
    if (principal === undefined) return undefined;
    if (nowSeconds >= principal.expiresAt) {
      this.entries.delete(key);
      return undefined;
    }
    return principal;
  }

  /** Remembers a verified principal until its `expiresAt`. */
  set(key: string, principal: Principal, nowSeconds: number): void {
    if (this.maxEntries <= 0 || nowSeconds >= principal.expiresAt) return;
    this.entries.delete(key);
    while (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done) break;
      this.entries.delete(oldest.value);
    }
    this.entries.set(key, principal);
  }

  /** Forgets everything (e.g. when the IdP withdraws a signing key). */
  clear(): void {
    this.entries.clear();
  }

  get size(): number {
    return this.entries.size;
  }
}
