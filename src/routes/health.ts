/**
 * `GET /api/health`: 200 when configuration, Cosmos DB, policies and the identity provider are
 * usable; 503 naming what is down; `degraded` while the gateway serves from caches.
 */
import { jsonResponse } from '../http/responses';
import type { Route } from '../pipeline/operation';
import type { Services } from '../services';
import type { CheckResult } from '../store/cosmos-health';

type Deps = Pick<Services, 'cosmosHealth' | 'state' | 'entra' | 'auditLog'>;

/**
 * The audit trail's state: `degraded` while records wait on a failing store or some were
 * dropped (a gap in the trail); requests are never refused for it.
 */
function auditHealth(
  deps: Pick<Services, 'auditLog'>,
): CheckResult & { queued: number; dropped: number; written: number; failedWrites: number } {
  const { queued, dropped, written, failedWrites } = deps.auditLog.stats;
  const counts = { queued, dropped, written, failedWrites };
  const backlog = queued > 1000 || (failedWrites > 0 && queued > 0);
  if (dropped > 0 || backlog) {
    return {
      status: 'degraded',
      detail: dropped > 0 ? 'Audit records were dropped' : 'Audit writes are failing; records are buffered',
      ...counts,
    };
  }
  return { status: 'ok', ...counts };
}

export const health: Route<Deps> = {
  name: 'health',
  template: 'health',
  methods: ['GET'],
  // Health probes come from the platform and must never be throttled.
  throttled: false,
  async run(deps) {
    const checks = {
      config: { status: 'ok' as const },
      cosmos: await deps.cosmosHealth.check(),
      policies: deps.state.refresher.health(),
      identityProvider: deps.entra.health(),
      audit: auditHealth(deps),
    };
    const failing = Object.entries(checks)
      .filter(([, c]) => c.status === 'down')
      .map(([name]) => name);
    const degraded = Object.values(checks).some((c) => c.status === 'degraded');
    const status = failing.length > 0 ? 'unhealthy' : degraded ? 'degraded' : 'healthy';
    return jsonResponse(failing.length > 0 ? 503 : 200, { status, failing, checks });
  },
};
