/**
 * Every answer an integration suite reads with `fetch` from a documented gateway operation is
 * checked against the OpenAPI document (test/helpers/openapi-conformance.ts): a test that got an
 * answer the document does not describe fails, whatever the test itself asserted. So the document
 * cannot drift from what the gateway answers across the whole suite, not only in openapi.test.ts.
 *
 * `OPENAPI_CONFORMANCE_LOG=<file>` appends one line per checked answer (`METHOD path status`), to
 * see which operations and statuses the suite reaches.
 */
import { appendFileSync } from 'node:fs';
import { conformanceProblems, operationOf } from '../helpers/openapi-conformance';

const integration = /[\\/]test[\\/]integration[\\/]/.test(expect.getState().testPath ?? '');

/** Where a test that sends an undescribed answer on purpose finds the fetch that checks nothing. */
export const UNCHECKED_FETCH = Symbol.for('openapi-conformance.unchecked-fetch');

if (integration) {
  const realFetch = globalThis.fetch;
  (globalThis as Record<symbol, unknown>)[UNCHECKED_FETCH] = realFetch;
  const pending: Promise<string[]>[] = [];
  const log = process.env.OPENAPI_CONFORMANCE_LOG;

  globalThis.fetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const response = await realFetch(input, init);
    const request = input instanceof Request ? input : undefined;
    const method = (init?.method ?? request?.method ?? 'GET').toUpperCase();
    const url = new URL(request ? request.url : input instanceof URL ? input.href : input);
    if (url.pathname.startsWith('/api/') && operationOf(method, url.pathname) !== undefined) {
      // Read from a copy, and only when a schema applies: the test still reads (or streams) its own.
      const copy = response.clone();
      const answer = {
        method,
        path: url.pathname,
        status: response.status,
        contentType: response.headers.get('content-type'),
        body: () => copy.text(),
      };
      pending.push(
        conformanceProblems(answer).finally(() => {
          void copy.body?.cancel().catch(() => undefined);
          if (log) appendFileSync(log, `${method} ${url.pathname} ${response.status}\n`);
        }),
      );
    }
    return response;
  };

  /** The problems of the answers seen since the last call. */
  const settle = async (): Promise<string[]> => (await Promise.all(pending.splice(0))).flat();

  afterEach(async () => {
    const problems = await settle();
    if (problems.length > 0)
      throw new Error(`answers that do not fit the OpenAPI document:\n${problems.join('\n')}`);
  });

  afterAll(async () => {
    const problems = await settle();
    globalThis.fetch = realFetch;
    if (problems.length > 0)
      throw new Error(`answers that do not fit the OpenAPI document:\n${problems.join('\n')}`);
  });
}
