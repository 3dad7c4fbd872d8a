/**
 * A value built once on first use and shared, whose failed build is retried with backoff instead
 * of being kept forever: what the Functions worker needs for its services. Why: a gateway whose
 * start failed (a Key Vault reference not resolved yet, a setting fixed since) must recover
 * without a restart, yet a misconfigured one must not rebuild on every request.
 */
import type { Clock } from '../clock';

/** Backoff between failed attempts: doubling from `firstMs`, at most `maxMs`. */
export interface RetryPolicy {
  readonly firstMs: number;
  readonly maxMs: number;
}

export const START_RETRY: RetryPolicy = { firstMs: 1_000, maxMs: 60_000 };

/**
 * Returns a getter: the first call starts `start`; while an attempt is in flight or succeeded,
 * every call shares it; after a failure, calls get that failure until the backoff passed, then
 * the next call starts a new attempt.
 *
 * @example
 * ```ts
 * const services = retryingStart(() => buildAndStart(process.env), systemClock);
 * const s = await services(); // rejects while failing, recovers once the cause is gone
 * ```
 */
export function retryingStart<T>(
  start: () => Promise<T>,
  clock: Clock,
  policy: RetryPolicy = START_RETRY,
): () => Promise<T> {
  let current: Promise<T> | undefined;
  let failures = 0;
  let retryAt = 0;
  let failed = false;
  return () => {
    if (current === undefined || (failed && clock.now() >= retryAt)) {
      failed = false;
      const attempt = start();
      current = attempt;
      attempt.then(
        () => {
          failures = 0;
        },
        () => {
          if (current !== attempt) return;
          failed = true;
          retryAt = clock.now() + Math.min(policy.firstMs * 2 ** failures, policy.maxMs);
          failures += 1;
        },
      );
    }
    return current;
  };
}
