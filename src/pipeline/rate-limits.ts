import { GatewayError } from '../errors';
import type { RateDecision } from '../ratelimit/rate-limiter';

/** Throws 429 `ERR_RATE_LIMITED` with `Retry-After` when a limiter refused. */
export function enforce(decision: RateDecision, who: string): void {
  if (decision.allowed) return;
  throw new GatewayError(
    'ERR_RATE_LIMITED',
    `Too many requests from ${who}; retry after ${decision.retryAfterSeconds} s`,
    { headers: { 'retry-after': String(decision.retryAfterSeconds) } },
  );
}
