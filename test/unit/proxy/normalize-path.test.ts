import { isGatewayError } from '../../../src/errors';
import { normalizeProxyUrl, normalizeResourcePath } from '../../../src/proxy/normalize-path';
import { rawPathResolvesDots } from '../../../src/host/local/http/route-template';
import { HOSTILE_PATHS } from '../../helpers/hostile-paths';

describe('normalizeResourcePath', () => {
  it.each(HOSTILE_PATHS)('refuses %s with 400 ERR_PATH_TRAVERSAL', (path) => {
    let caught: unknown;
    try {
      normalizeResourcePath(path, '');
    } catch (err) {
      caught = err;
    }
    expect(isGatewayError(caught, 'ERR_PATH_TRAVERSAL')).toBe(true);
    expect((caught as { status: number }).status).toBe(400);
  });

  it.each([
    { path: '', segments: [], forwardPath: '' },
    { path: '/', segments: [], forwardPath: '/' },
    { path: '/customers/42', segments: ['customers', '42'], forwardPath: '/customers/42' },
    { path: '/customers/42/', segments: ['customers', '42'], forwardPath: '/customers/42/' },
    { path: '/a%20b/c', segments: ['a b', 'c'], forwardPath: '/a%20b/c' },
    { path: '/caf%C3%A9', segments: ['café'], forwardPath: '/caf%C3%A9' },
    { path: '/a..b/.c', segments: ['a..b', '.c'], forwardPath: '/a..b/.c' },
    { path: "/x:y@z!$&'()*+,=", segments: ["x:y@z!$&'()*+,="], forwardPath: "/x:y@z!$&'()*+,=" },
  ])('accepts $path', ({ path, segments, forwardPath }) => {
    expect(normalizeResourcePath(path, 'q=1')).toEqual({ segments, forwardPath, query: 'q=1' });
  });
});

describe('normalizeProxyUrl', () => {
  it.each([
    {
      url: 'http://gw/api/proxy/orders/customers/42?x=1&y=%2F',
      resource: 'orders',
      forwardPath: '/customers/42',
      query: 'x=1&y=%2F',
    },
    { url: 'https://gw:8443/API/Proxy/orders', resource: 'orders', forwardPath: '', query: '' },
    { url: '/api/proxy/orders/a#frag', resource: 'orders', forwardPath: '/a', query: '' },
    { url: 'http://gw/api/proxy/orders/a?b#c', resource: 'orders', forwardPath: '/a', query: 'b' },
  ])('$url', ({ url, resource, forwardPath, query }) => {
    const result = normalizeProxyUrl(url);
    expect(result.resource).toBe(resource);
    expect(result.path.forwardPath).toBe(forwardPath);
    expect(result.path.query).toBe(query);
  });

  it.each([
    'http://gw/api/proxy/%2e%2e/x',
    'http://gw/api/proxy/or%2fders/x',
    'http://gw/api/proxy/orders/%2e%2e',
  ])('refuses %s', (url) => {
    expect(() => normalizeProxyUrl(url)).toThrow(/escapes the resource/);
  });

  it('refuses a URL outside the proxy route', () => {
    expect(() => normalizeProxyUrl('http://gw/api/health')).toThrow('Not a proxy URL');
  });
});

describe('rawPathResolvesDots (local host adapter)', () => {
  it.each([
    ['/api/proxy/orders/../x', true],
    ['/api/proxy/orders/%2E%2e/x', true],
    ['/api/proxy/orders/./x', true],
    ['/api/proxy/orders/a\\b', true],
    ['/api/proxy/orders/a..b?x=../y', false],
    ['/api/health', false],
  ])('%s: %p', (target, expected) => {
    expect(rawPathResolvesDots(target)).toBe(expected);
  });
});
