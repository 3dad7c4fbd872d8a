import { DEV_USER_OID } from '../../src/host/local/dev-identity-provider';
import { startLocalStack, type LocalStack } from '../../src/host/local/local-stack';
import { MemoryLogger } from '../../src/logger';
import { MemoryMetrics } from '../../src/observability/metrics';
import { KEY_1 } from '../helpers/gateway-stack';
import { authorize, call } from '../helpers/http';
import { startSecondGateway } from '../helpers/second-gateway';

describe('metrics', () => {
  let stack: LocalStack;
  beforeAll(async () => {
    // A fixed key ring: the orders sample verifies the second gateway's principal statements with it.
    stack = await startLocalStack({ env: { SAS_SIGNING_KEYS: KEY_1 }, port: 0, logger: new MemoryLogger() });
  });
  afterAll(() => stack?.close());

  it('count decisions by outcome, JWKS fetches and upstream latency, and observe the gauges', async () => {
    const metrics = new MemoryMetrics();
    const second = await startSecondGateway(stack, {}, { metrics });
    try {
      const reader = stack.idp!.mintToken({ roles: ['Orders.Reader'] });
      const own = `/customers/${DEV_USER_OID}/orders`;
      const api = `${second.url}/api`;
      await authorize(api, reader, { resource: 'orders', action: 'read', path: own });
      await authorize(api, reader, { resource: 'orders', action: 'delete', path: own });
      await authorize(api, 'not.a.token', { resource: 'orders', action: 'read', path: own });
      expect(
        (await call(`${api}/proxy/orders${own}`, { headers: { authorization: `Bearer ${reader}` } })).status,
      ).toBe(200);

      expect(Object.fromEntries(metrics.counts)).toMatchObject({
        'decision:authorize:allow:200': 1,
        'decision:authorize:deny:200': 1,
        'decision:authorize:deny:401': 1,
        'decision:proxy:allow:200': 1,
        'jwks:ok': 2, // the v2 and the v1 key sets, once each at warm-up
      });
      expect(metrics.latencies).toEqual([{ resource: 'orders', status: 200, ms: expect.any(Number) }]);
      expect(metrics.sources?.policyIndexAgeSeconds()).toBeGreaterThanOrEqual(0);
      expect(metrics.sources?.auditQueueDepth()).toBeGreaterThanOrEqual(0);
    } finally {
      await second.close();
    }
  });
});
