import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describedOperations } from '../../src/openapi/openapi-document';

/** samples/gateway.http: every request it makes is a route the OpenAPI document describes. */
describe('samples/gateway.http', () => {
  const text = readFileSync(join(__dirname, '../../samples/gateway.http'), 'utf8');
  const requests = [...text.matchAll(/^(GET|POST|PUT|PATCH|DELETE|HEAD) \{\{gateway\}\}(\S*)$/gm)].map(
    (m) => ({
      method: m[1]!,
      path: `/api${m[2]!.split('?')[0]!.replace(/\{\{\w+\}\}/g, 'x')}`,
    }),
  );
  const operations = describedOperations().map((o) => ({
    method: o.method,
    pattern: new RegExp(
      `^${o.path
        .replace(/\./g, '\\.')
        .replace('{path}', '.*')
        .replace(/\{\w+\}/g, '[^/]+')}$`,
    ),
  }));

  it('holds the main flows', () => {
    expect(requests.length).toBeGreaterThanOrEqual(10);
  });

  it.each(requests.map((r) => [`${r.method} ${r.path}`, r] as const))(
    '%s is a described route',
    (_name, request) => {
      expect(operations.some((o) => o.method === request.method && o.pattern.test(request.path))).toBe(true);
    },
  );
});
