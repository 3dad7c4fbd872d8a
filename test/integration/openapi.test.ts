/**
 * The OpenAPI document against the gateway itself: it describes exactly the route table, a
 * standard validator accepts it (test/esm/openapi.test.mjs), and real answers of the running
 * gateway, successes and refusals on every route, fit it: status, content type and body schema.
 */
import { DEV_USER_OID } from '../../src/host/local/dev-identity-provider';
import { describedOperations } from '../../src/openapi/openapi-document';
import { ROUTES } from '../../src/routes';
import { runEsmTests } from '../helpers/dist';
import { KEY_1, SasTestStack, tokenForm } from '../helpers/gateway-stack';
import { conformanceProblems, operationOf } from '../helpers/openapi-conformance';
import { UNCHECKED_FETCH } from '../setup/openapi-conformance';

/** The OpenAPI paths of a route template: `policies/{id?}` is two, `{*path}` a plain parameter. */
function pathsOf(template: string): string[] {
  const full = `/api/${template}`.replace('{*path}', '{path}');
  const optional = /\/\{(\w+)\?\}$/.exec(full);
  return optional ? [full.slice(0, optional.index), full.replace('?}', '}')] : [full];
}

describe('GET /api/openapi.json', () => {
  it('describes exactly the route table: every route and method, nothing else', () => {
    const fromRoutes = ROUTES.flatMap((r) =>
      pathsOf(r.template).flatMap((path) => r.methods.map((method) => `${method} ${path}`)),
    );
    const described = describedOperations().map((o) => `${o.method} ${o.path}`);
    // An admin collection path takes GET only; its item path takes all three.
    const expected = fromRoutes.filter((op) => !/^(PUT|DELETE) \/api\/(policies|resources)$/.test(op));
    expect(described.sort()).toEqual(expected.sort());
  });

  it('is valid OpenAPI 3.1 to a standard validator (ESM, run by node --test)', () => {
    runEsmTests('openapi.test.mjs', 2);
  });

  it('checks every answer of the integration suites: their fetch goes through the checker', () => {
    const unchecked = (globalThis as Record<symbol, typeof fetch>)[UNCHECKED_FETCH];
    expect(typeof unchecked).toBe('function');
    expect(globalThis.fetch).not.toBe(unchecked);
  });

  describe('answers of the running gateway fit it', () => {
    let env: SasTestStack;

    beforeAll(async () => {
      env = await SasTestStack.start({ SAS_SIGNING_KEYS: KEY_1 });
    }, 60_000);

    afterAll(() => env?.close());

    /** Checks one real answer against the document; returns what does not fit. */
    async function check(method: string, path: string, init: RequestInit = {}): Promise<string[]> {
      // Unchecked by test/setup/openapi-conformance.ts: the last test sends an undescribed answer.
      const unchecked = (globalThis as Record<symbol, typeof fetch>)[UNCHECKED_FETCH]!;
      const res = await unchecked(`${env.stack.gatewayUrl}${path}`, { method, ...init });
      return conformanceProblems({
        method,
        path: path.split('?')[0]!,
        status: res.status,
        contentType: res.headers.get('content-type'),
        body: () => res.text(),
      });
    }

    it('on every route, successes and refusals', async () => {
      const admin = { authorization: `Bearer ${env.adminToken()}`, 'content-type': 'application/json' };
      const reader = env.mint({ oid: DEV_USER_OID, roles: ['Orders.Reader'] });
      const form = { 'content-type': 'application/x-www-form-urlencoded' };
      const ownOrders = `/customers/${DEV_USER_OID}/orders`;
      const decide = JSON.stringify({ resource: 'orders', action: 'read', path: ownOrders });
      const policy = { id: 'openapi-check', effect: 'deny', resource: 'orders', actions: ['delete'] };
      const problems = (
        await Promise.all([
          check('GET', '/api/health'),
          check('POST', '/api/authorize', {
            headers: { authorization: `Bearer ${reader}`, 'content-type': 'application/json' },
            body: decide,
          }),
          check('POST', '/api/authorize', { headers: { 'content-type': 'application/json' }, body: decide }),
          check('POST', '/api/authorize', {
            headers: { authorization: `Bearer ${reader}`, 'content-type': 'application/json' },
            body: '{"resource":1}',
          }),
          check('POST', '/api/authorize', {
            headers: { authorization: `Bearer ${reader}`, 'content-type': 'text/plain' },
            body: decide,
          }),
          check('POST', '/api/token', {
            headers: form,
            body: tokenForm({
              subject_token: reader,
              resource: `orders${ownOrders.replace('/orders', '')}`,
              scope: 'read',
            }),
          }),
          check('POST', '/api/token', {
            headers: form,
            body: tokenForm({ subject_token: reader, resource: 'orders', scope: 'delete' }),
          }),
          check('POST', '/api/token', {
            headers: form,
            body: tokenForm({ subject_token: 'x.y.z', resource: 'orders', scope: 'read' }),
          }),
          check('POST', '/api/token', {
            headers: { 'content-type': 'application/json' },
            body: '{"resource":"orders","scope":"read"}',
          }),
          check('GET', '/api/policies', { headers: admin }),
          check('GET', '/api/policies', { headers: { authorization: `Bearer ${reader}` } }),
          check('PUT', `/api/policies/${policy.id}`, { headers: admin, body: JSON.stringify(policy) }),
          check('PUT', '/api/policies/bad', { headers: admin, body: '{"effect":"maybe"}' }),
          check('GET', '/api/policies/no-such-policy', { headers: admin }),
          check('GET', '/api/resources/orders', { headers: admin }),
          check('POST', '/api/revocations', { headers: admin, body: JSON.stringify({ oid: DEV_USER_OID }) }),
          check('POST', '/api/revocations', { headers: admin, body: '{"sid":"short"}' }),
          check('GET', '/api/audit?limit=5', { headers: admin }),
          check('GET', '/api/audit?limit=0', { headers: admin }),
          check('GET', `/api/proxy/orders${ownOrders}`, { headers: { authorization: `Bearer ${reader}` } }),
          check('GET', '/api/proxy/nope/x', { headers: { authorization: `Bearer ${reader}` } }),
          check('GET', '/api/proxy/orders/customers/..%2f..', {
            headers: { authorization: `Bearer ${reader}` },
          }),
          check('DELETE', `/api/proxy/orders${ownOrders}`, {
            headers: { authorization: `Bearer ${reader}` },
          }),
          check('GET', '/api/.well-known/jwks.json'),
          check('GET', '/api/.well-known/openid-configuration'),
          check('GET', '/api/.well-known/oauth-authorization-server'),
          check('GET', '/api/openapi.json'),
        ])
      ).flat();
      expect(problems).toEqual([]);
      await env.admin('DELETE', `policies/${policy.id}`);
    });

    it('the check itself fails on an answer the document does not describe', async () => {
      const problem = await check('GET', '/api/policies', {
        headers: { authorization: `Bearer ${env.mint({ roles: [] })}` },
      });
      // 401 for a token with neither roles nor scopes: described; an undescribed status would be reported.
      expect(problem).toEqual([]);
      const responses = operationOf('GET', '/api/health')!.responses;
      const saved = responses['200'];
      delete responses['200'];
      try {
        expect(await check('GET', '/api/health')).toEqual([
          'GET /api/health 200: the status is not described',
        ]);
      } finally {
        responses['200'] = saved!;
      }
    });
  });
});
