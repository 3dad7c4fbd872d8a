import type { Clock } from '../clock';

/** A bearer token and when it stops being usable (ms since the epoch). */
export interface CachedAccessToken {
  readonly token: string;
  readonly expiresOnTimestamp: number;
}

/**
 * Why refresh 5 minutes early: a token handed to a downstream must outlive the call (a slow
 * upload can take minutes), and Entra itself refreshes managed identity tokens about this early.
 */
export const TOKEN_REFRESH_MARGIN_MS = 5 * 60 * 1000;

/**
 * One access token per key, reused until {@link TOKEN_REFRESH_MARGIN_MS} before its expiry, with
 * single-flight fetching: a burst of calls after expiry asks the token service once. A failed
 * fetch is not cached, so the next call tries again.
 */
export class AccessTokenCache {
  private readonly tokens = new Map<string, CachedAccessToken>();
  private readonly pending = new Map<string, Promise<CachedAccessToken>>();

  constructor(private readonly clock: Clock) {}

  /** The cached token for `key`, or the result of `fetch` (shared by concurrent callers). */
  get(key: string, fetch: () => Promise<CachedAccessToken>): Promise<string> {
    const cached = this.tokens.get(key);
    if (cached !== undefined && cached.expiresOnTimestamp - TOKEN_REFRESH_MARGIN_MS > this.clock.now()) {
      return Promise.resolve(cached.token);
    }
    let inFlight = this.pending.get(key);
    if (inFlight === undefined) {
      inFlight = fetch()
        .then((token) => {
          this.tokens.set(key, token);
          return token;
        })
        .finally(() => this.pending.delete(key));
      this.pending.set(key, inFlight);
    }
    return inFlight.then((t) => t.token);
  }
}
