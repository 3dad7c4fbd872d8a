import { Pool } from 'undici';

/**
 * Defaults of the upstream connection pools, in one visible place.
 *
 * - `connections`: the most sockets one gateway instance opens to one upstream origin. Bounded so
 *   a burst cannot exhaust the downstream's (or the Functions sandbox's) socket limit; requests
 *   above it wait in the pool's queue.
 * - `keepAliveTimeoutMs`: idle sockets are closed after this, below the ~4 min idle timeout of
 *   Azure's front ends, so a reused socket is never one the other side already dropped.
 * - `connectTimeoutMs`: a connect that takes longer is "unreachable" (502), independent of the
 *   resource's `timeoutMs`, which bounds the wait for the answer.
 */
export const UPSTREAM_POOL_DEFAULTS = {
  connections: 128,
  keepAliveTimeoutMs: 30_000,
  connectTimeoutMs: 10_000,
} as const;

export type UpstreamPoolOptions = Partial<typeof UPSTREAM_POOL_DEFAULTS>;

/** One keep-alive undici `Pool` per upstream origin, created on first use, all closed by {@link close}. */
export class UpstreamPools {
  private readonly pools = new Map<string, Pool>();
  private closed = false;
  private readonly options: typeof UPSTREAM_POOL_DEFAULTS;

  constructor(options: UpstreamPoolOptions = {}) {
    this.options = { ...UPSTREAM_POOL_DEFAULTS, ...options };
  }

  /** The pool of `origin` (`https://func-orders.azurewebsites.net`). */
  for(origin: string): Pool {
    let pool = this.pools.get(origin);
    if (pool === undefined) {
      if (this.closed) throw new Error('upstream pools are closed');
      pool = new Pool(origin, {
        connections: this.options.connections,
        keepAliveTimeout: this.options.keepAliveTimeoutMs,
        keepAliveMaxTimeout: this.options.keepAliveTimeoutMs,
        connectTimeout: this.options.connectTimeoutMs,
        pipelining: 1,
      });
      this.pools.set(origin, pool);
    }
    return pool;
  }

  /** Closes every pool: in-flight requests finish, idle sockets close. */
  async close(): Promise<void> {
    this.closed = true;
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map((pool) => pool.close().catch(() => pool.destroy())));
  }
}
