import {
  authenticationClientId,
  MemoryMetrics,
  OpenTelemetryMetrics,
} from '../../../src/observability/metrics';

describe('authenticationClientId', () => {
  it.each([
    [
      'ClientId=5e7d1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b;Authorization=AAD',
      '5e7d1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b',
    ],
    [
      'Authorization=AAD;ClientId=5e7d1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b',
      '5e7d1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b',
    ],
    ['Authorization=AAD', undefined],
    ['ClientId=5e7d1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b', undefined],
    ['ClientId=not-a-guid;Authorization=AAD', undefined],
    [undefined, undefined],
  ])('%p → %p', (value, expected) => {
    expect(authenticationClientId(value)).toBe(expected);
  });
});

describe('metrics', () => {
  it('OpenTelemetry metrics are safe without a registered SDK', () => {
    const m = new OpenTelemetryMetrics();
    expect(() => {
      m.decision('proxy', 'allow', 200);
      m.jwksRefresh('ok');
      m.upstreamLatency('orders', 200, 3.5);
      m.observe({ policyIndexAgeSeconds: () => 1, auditQueueDepth: () => 0, auditDropped: () => 0 });
    }).not.toThrow();
  });

  it('memory metrics count by operation, outcome and status', () => {
    const m = new MemoryMetrics();
    m.decision('authorize', 'deny', 200);
    m.decision('authorize', 'deny', 200);
    expect(m.counts.get('decision:authorize:deny:200')).toBe(2);
  });
});
