import { Readable } from 'node:stream';
import type { HttpResponseInit } from '@azure/functions';
import { serveRoutes, type LocalHttpServer, type LocalRoute } from '../../../src/host/local/http/server';
import { compileRouteTemplate, routeSegments } from '../../../src/host/local/http/route-template';
import { readJsonBody } from '../../../src/http/request-context';
import { jsonResponse } from '../../../src/http/responses';
import { MemoryLogger } from '../../../src/logger';
import { postChunked } from '../../helpers/http';

describe('compileRouteTemplate', () => {
  it.each([
    { template: 'health', path: 'health', params: {} },
    { template: 'health', path: 'HeAlTh', params: {} },
    { template: 'health', path: 'health/x', params: undefined },
    { template: 'policies/{id?}', path: 'policies', params: {} },
    { template: 'policies/{id?}', path: 'policies/p1', params: { id: 'p1' } },
    { template: 'policies/{id?}', path: 'policies/p1/x', params: undefined },
    { template: 'resources/{name}', path: 'resources', params: undefined },
    { template: 'proxy/{resource}/{*path}', path: 'proxy/orders', params: { resource: 'orders' } },
    {
      template: 'proxy/{resource}/{*path}',
      path: 'proxy/orders/a/b%2Fc',
      params: { resource: 'orders', path: 'a/b%2Fc' },
    },
    { template: 'items/{id:int}', path: 'items/12', params: { id: '12' } },
    { template: 'items/{id:int}', path: 'items/ab', params: undefined },
  ])('$template matches /api/$path: $params', ({ template, path, params }) => {
    expect(compileRouteTemplate(template).match(routeSegments(`/api/${path}`)!)).toEqual(params);
  });

  it.each(['a/{*rest}/b', 'a/{id?}/b', 'a/{id:nope}', 'a/x{id}'])('refuses %s', (template) => {
    expect(() => compileRouteTemplate(template)).toThrow();
  });

  it('decodes segments but keeps an encoded slash encoded', () => {
    expect(routeSegments('/api/a%20b/c%2fd/')).toEqual(['a b', 'c%2Fd']);
    expect(routeSegments('/other/a')).toBeUndefined();
    // Malformed percent-encoding is left as it came, as ASP.NET Core does: the route decides.
    expect(routeSegments('/api/%E0%A4%A/a%20b')).toEqual(['%E0%A4%A', 'a b']);
  });
});

describe('serveRoutes', () => {
  let server: LocalHttpServer;
  const logger = new MemoryLogger();
  const target = { label: 'target' };

  const routes: LocalRoute[] = [
    {
      name: 'echo',
      template: 'echo/{id?}',
      methods: ['GET', 'POST'],
      handle: async (request, context) =>
        jsonResponse(200, {
          target: target.label,
          function: context.functionName,
          invocationId: context.invocationId,
          params: request.params,
          method: request.method,
          query: Object.fromEntries(request.query),
          header: request.headers.get('x-test'),
          body: request.method === 'POST' ? await readJsonBody(request) : null,
        }),
    },
    {
      name: 'literal',
      template: 'echo/fixed',
      methods: ['GET'],
      handle: () => Promise.resolve({ status: 200, body: 'literal' }),
    },
    {
      name: 'json',
      template: 'json',
      methods: ['GET'],
      handle: () => Promise.resolve({ status: 201, jsonBody: { ok: true } }),
    },
    {
      name: 'cookies',
      template: 'cookies',
      methods: ['GET'],
      handle: () =>
        Promise.resolve({
          status: 200,
          headers: [
            ['set-cookie', 'a=1'],
            ['set-cookie', 'b=2'],
            ['x-multi', 'one'],
          ],
          cookies: [{ name: 'c', value: '3', httpOnly: true }],
        } as HttpResponseInit),
    },
    {
      name: 'stream',
      template: 'stream',
      methods: ['GET'],
      handle: () =>
        Promise.resolve({
          status: 200,
          body: Readable.toWeb(Readable.from([Buffer.from('chunk1,'), Buffer.from('chunk2')])),
        } as HttpResponseInit),
    },
    {
      name: 'empty',
      template: 'empty',
      methods: ['DELETE'],
      handle: () => Promise.resolve({ status: 204, body: 'ignored' }),
    },
    {
      name: 'broken',
      template: 'broken',
      methods: ['GET'],
      handle: () => Promise.reject(new Error('secret internals at /srv/app.js:12')),
    },
  ];

  beforeAll(async () => {
    server = await serveRoutes(routes, { port: 0, logger });
  });

  afterAll(() => server?.close());

  it('builds a real HttpRequest with params, query, headers and an InvocationContext', async () => {
    const res = await fetch(`${server.url}/api/ECHO/7?q=1&q=2`, { headers: { 'x-test': 'yes' } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({
      target: 'target',
      function: 'echo',
      params: { id: '7' },
      method: 'GET',
      query: { q: '2' },
      header: 'yes',
    });
    expect(body.invocationId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('prefers a literal segment over a parameter', async () => {
    const res = await fetch(`${server.url}/api/echo/fixed`);
    expect(await res.text()).toBe('literal');
  });

  it('streams the request body to the handler', async () => {
    const res = await fetch(`${server.url}/api/echo`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ a: 1 }),
    });
    expect(await res.json()).toMatchObject({ body: { a: 1 }, params: {} });
  });

  it('answers 413 to an oversized chunked body (no Content-Length) and keeps the process healthy', async () => {
    const status = await postChunked(`${server.url}/api/echo`, { 'content-type': 'application/json' });
    expect(status).toBe(413);
    expect((await fetch(`${server.url}/api/json`)).status).toBe(201);
  });

  it('writes jsonBody with the host semantics (content-type application/json)', async () => {
    const res = await fetch(`${server.url}/api/json`);
    expect(res.status).toBe(201);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(await res.json()).toEqual({ ok: true });
  });

  it('keeps repeated headers and cookies', async () => {
    const res = await fetch(`${server.url}/api/cookies`);
    expect(res.headers.getSetCookie()).toEqual(['a=1', 'b=2', 'c=3; HttpOnly']);
    expect(res.headers.get('x-multi')).toBe('one');
  });

  it('streams a ReadableStream body', async () => {
    expect(await (await fetch(`${server.url}/api/stream`)).text()).toBe('chunk1,chunk2');
  });

  it('sends no body with 204', async () => {
    const res = await fetch(`${server.url}/api/empty`, { method: 'DELETE' });
    expect(res.status).toBe(204);
    expect(await res.text()).toBe('');
  });

  it('turns a thrown handler error into a 500 problem without internals', async () => {
    const res = await fetch(`${server.url}/api/broken`, { headers: { 'x-correlation-id': 'c-1' } });
    expect(res.status).toBe(500);
    const text = await res.text();
    expect(text).not.toContain('secret internals');
    expect(JSON.parse(text)).toMatchObject({ code: 'ERR_INTERNAL', correlationId: 'c-1' });
    expect(logger.events()).toContain('local.handler.failed');
  });

  it.each([
    { method: 'GET', path: '/api/missing', status: 404, code: 'ERR_NOT_FOUND', allow: null },
    { method: 'PUT', path: '/api/echo/1', status: 405, code: 'ERR_METHOD_NOT_ALLOWED', allow: 'GET, POST' },
    { method: 'GET', path: '/api/%E0%A4%A', status: 404, code: 'ERR_NOT_FOUND', allow: null },
  ])('$method $path: $status $code', async ({ method, path, status, code, allow }) => {
    const res = await fetch(`${server.url}${path}`, { method });
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    const body = (await res.json()) as { code: string; correlationId: string };
    expect(body.code).toBe(code);
    expect(res.headers.get('x-correlation-id')).toBe(body.correlationId);
    expect(res.headers.get('allow')).toBe(allow);
  });
});
