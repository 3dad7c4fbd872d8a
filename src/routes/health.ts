/**
 * `GET /api/health`: 200 when configuration, Cosmos DB, policies and the identity provider are
 * usable; 503 naming what is down; `degraded` while the gateway serves from caches.
 */
import { jsonResponse } from '../http/responses';
import type { Route } from '../pipeline/operation';
import type { Services } from '../services';

type Deps = Pick<Services, 'cosmosHealth' | 'state' | 'entra' | 'auditLog' | 'quotas'>;

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
      audit: deps.auditLog.health(),
      quotas: deps.quotas.health(),
    };
    const failing = Object.entries(checks)
      .filter(([, c]) => c.status === 'down')
      .map(([name]) => name);
    const degraded = Object.values(checks).some((c) => c.status === 'degraded');
    const status = failing.length > 0 ? 'unhealthy' : degraded ? 'degraded' : 'healthy';
    return jsonResponse(failing.length > 0 ? 503 : 200, { status, failing, checks });
  },
};
