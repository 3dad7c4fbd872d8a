import { startLocalStack, type LocalStack } from '../../src/host/local/local-stack';
import { MemoryLogger } from '../../src/logger';
import { call, jsonCall } from '../helpers/http';

describe('rate limits', () => {
  let stack: LocalStack | undefined;
  afterEach(() => stack?.close());

  const ask = (token: string | undefined) =>
    call(
      `${stack!.gatewayUrl}/api/authorize`,
      jsonCall('POST', token, { resource: 'orders', action: 'read', path: '/' }),
    );

  it('limits each caller to its rate (burst twice that) with 429 and Retry-After; others keep flowing', async () => {
    stack = await startLocalStack({
      env: { RATE_LIMIT_PRINCIPAL_PER_SECOND: '1' },
      port: 0,
      logger: new MemoryLogger(),
    });
    const alice = stack.idp!.mintToken({ oid: 'a1a1a1a1-0000-4000-8000-000000000001' });
    const bob = stack.idp!.mintToken({ oid: 'b0b0b0b0-0000-4000-8000-000000000002' });
    expect([(await ask(alice)).status, (await ask(alice)).status]).toEqual([200, 200]);
    const limited = await ask(alice);
    expect([limited.status, limited.json.code]).toEqual([429, 'ERR_RATE_LIMITED']);
    expect(limited.headers.get('retry-after')).toBe('1');
    expect(limited.headers.get('content-type')).toBe('application/problem+json');
    expect((await ask(bob)).status).toBe(200);
  });

  it('limits each client IP, before any credential check, and never throttles health probes', async () => {
    // No demo seeding: its own admin calls come from the same IP.
    stack = await startLocalStack({
      env: { RATE_LIMIT_IP_PER_SECOND: '1' },
      port: 0,
      logger: new MemoryLogger(),
      seedDemo: false,
    });
    expect([(await ask(undefined)).status, (await ask(undefined)).status]).toEqual([401, 401]);
    const limited = await ask(undefined);
    expect([limited.status, limited.json.code]).toEqual([429, 'ERR_RATE_LIMITED']);
    for (let i = 0; i < 5; i++) expect((await call(`${stack.gatewayUrl}/api/health`)).status).toBe(200);
  });
});
