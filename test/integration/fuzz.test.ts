import fc from 'fast-check';
import { parsePolicy } from '../../src/policy/model';
import { startLocalStack, type LocalStack } from '../../src/host/local/local-stack';
import { MemoryLogger } from '../../src/logger';
import { call, jsonCall } from '../helpers/http';

/**
 * Property-based fuzzing of the gateway's parsers through real HTTP: whatever arrives, the answer
 * is never a 5xx, the process never crashes, and nothing hostile is ever allowed.
 */
describe('fuzzing the parsers over HTTP', () => {
  let stack: LocalStack;
  let api: string;
  let admin: string;
  let reader: string;

  beforeAll(async () => {
    stack = await startLocalStack({ env: {}, port: 0, logger: new MemoryLogger() });
    api = `${stack.gatewayUrl}/api`;
    admin = stack.idp!.mintToken({ roles: ['Gateway.Admin'] });
    reader = stack.idp!.mintToken({ roles: ['Orders.Reader'] });
  });

  afterAll(() => stack?.close());

  const RUNS = { numRuns: 150 };

  /** Header values fetch can send: visible ASCII and spaces, no CR/LF. */
  const headerValue = fc.string({
    unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
    maxLength: 300,
  });

  /** A real token with one character changed, truncated, or extended. */
  const mangledToken = fc
    .tuple(fc.nat(), fc.constantFrom('flip', 'cut', 'append', 'dot'))
    .map(([n, how]) => {
      const i = n % reader.length;
      if (how === 'flip') return reader.slice(0, i) + (reader[i] === 'A' ? 'B' : 'A') + reader.slice(i + 1);
      if (how === 'cut') return reader.slice(0, i);
      if (how === 'append') return `${reader}${reader.slice(0, i % 20)}`;
      return reader.replaceAll('.', i % 2 ? '..' : '');
    })
    .filter((t) => t !== reader);

  it('Authorization header: always 401 problem+json, never a decision', async () => {
    const scheme = fc.constantFrom('Bearer ', 'bearer ', 'SharedAccessSignature ', 'Basic ', '', 'Bearer  ');
    await fc.assert(
      fc.asyncProperty(scheme, fc.oneof(headerValue, mangledToken), async (prefix, value) => {
        const res = await call(
          `${api}/authorize`,
          jsonCall(
            'POST',
            undefined,
            { resource: 'orders', action: 'read', path: '/' },
            { authorization: prefix + value },
          ),
        );
        expect(res.status).toBe(401);
        expect(res.headers.get('content-type')).toBe('application/problem+json');
        expect(res.headers.get('www-authenticate')).toBeTruthy();
        expect(JSON.stringify(res.json)).not.toContain(value.length > 8 ? value : '\u0000');
      }),
      RUNS,
    );
  });

  it('decision body: 200 or 400, never an allow for a caller whose roles grant nothing', async () => {
    const nobody = stack.idp!.mintToken({ roles: ['Nobody'] });
    const body = fc.oneof(
      fc.jsonValue(),
      fc.record(
        {
          resource: fc.oneof(fc.constant('orders'), fc.string()),
          action: fc.oneof(fc.constantFrom('read', 'create', 'write', 'delete'), fc.string()),
          path: fc.oneof(
            fc.string(),
            fc.constantFrom('/', '/customers/1', '/../', '/%2e%2e/x', '//', '/a\\b'),
          ),
          principal: fc.jsonValue(),
        },
        { requiredKeys: [] },
      ),
    );
    await fc.assert(
      fc.asyncProperty(body, async (b) => {
        const res = await call(`${api}/authorize`, jsonCall('POST', nobody, JSON.stringify(b)));
        expect([200, 400, 403]).toContain(res.status);
        if (res.status === 200) expect(res.json.allowed).toBe(false);
      }),
      RUNS,
    );
  });

  it('policy JSON: never a 5xx; what is accepted is a valid policy and reads back the same', async () => {
    const policyLike = fc.record(
      {
        id: fc.constant('fuzz'),
        effect: fc.oneof(fc.constantFrom('allow', 'deny'), fc.string()),
        resource: fc.oneof(fc.constantFrom('orders', '*'), fc.string()),
        paths: fc.array(
          fc.oneof(fc.constantFrom('/**', '/a/*', '/{claims.oid}/**', '/a/../b', '//'), fc.string()),
          { maxLength: 3 },
        ),
        actions: fc.array(fc.oneof(fc.constantFrom('read', 'create', '*'), fc.string()), { maxLength: 3 }),
        principals: fc.oneof(fc.constant({ roles: ['R'] }), fc.jsonValue()),
        conditions: fc.array(fc.jsonValue(), { maxLength: 2 }),
        enabled: fc.oneof(fc.boolean(), fc.jsonValue()),
        extra: fc.jsonValue(),
      },
      { requiredKeys: ['id'] },
    );
    await fc.assert(
      fc.asyncProperty(fc.oneof(policyLike, fc.jsonValue()), async (doc) => {
        const res = await call(`${api}/policies/fuzz`, jsonCall('PUT', admin, JSON.stringify(doc)));
        expect(res.status).toBeLessThan(500);
        if (res.status === 200 || res.status === 201) {
          expect(parsePolicy(doc).ok).toBe(true);
          const read = await call(`${api}/policies/fuzz`, jsonCall('GET', admin));
          expect(read.json).toEqual(res.json);
        } else {
          expect(res.json.code).toMatch(/^ERR_/);
        }
      }),
      RUNS,
    );
    await call(`${api}/policies/fuzz`, jsonCall('DELETE', admin));
  });
});
