/**
 * The local host builds `HttpRequest` through an internal field of `@azure/functions`
 * (`nativeRequest`, the host's own streaming path; see src/host/local/http/local-request.ts).
 * That is safe only for the version it was written against: package.json pins it exactly, and
 * these tests fail on any other installed version or when the field is no longer read.
 */
import { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import { localHttpRequest } from '../../../src/host/local/http/local-request';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const pkg = require('../../../package.json') as { dependencies: Record<string, string> };
// eslint-disable-next-line @typescript-eslint/no-require-imports
const installed = (require('@azure/functions/package.json') as { version: string }).version;

describe('@azure/functions, whose internal request field the local host uses', () => {
  it('is pinned to one exact version, and that version is installed', () => {
    expect(pkg.dependencies['@azure/functions']).toMatch(/^\d+\.\d+\.\d+$/);
    expect(installed).toBe(pkg.dependencies['@azure/functions']);
  });

  it('reads the native request: url, method, headers and params come from it, the body only on demand', async () => {
    const headers = new Headers({ 'x-test': 'yes', 'content-type': 'text/plain' });
    const body = new IncomingMessage(new Socket());
    body.push('hello');
    body.push(null);
    let continued = 0;
    const request = localHttpRequest(
      'http://127.0.0.1/api/echo/7?q=1',
      'POST',
      headers,
      { id: '7' },
      body,
      () => continued++,
    );
    expect(request.url).toBe('http://127.0.0.1/api/echo/7?q=1');
    expect(request.method).toBe('POST');
    expect(request.headers.get('x-test')).toBe('yes');
    expect(request.params).toEqual({ id: '7' });
    expect(request.query.get('q')).toBe('1');
    expect(continued).toBe(0);
    expect(await request.text()).toBe('hello');
    expect(continued).toBe(1);
  });
});
