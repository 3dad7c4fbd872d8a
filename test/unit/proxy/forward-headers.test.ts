import {
  forwardRequestHeaders,
  forwardResponseHeaders,
  isValidTraceparent,
  newTraceparent,
} from '../../../src/proxy/forward-headers';

const VALID = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

describe('forwardRequestHeaders', () => {
  const base = {
    correlationId: 'c-1',
    proto: 'https',
    host: 'gw.example.net',
    added: { 'x-gateway-principal': 'stmt' },
  };

  it.each([
    'Expect',
    'X-HTTP-Method-Override',
    'X-HTTP-Method',
    'X-Method-Override',
    'X-Original-URL',
    'X-Original-Method',
    'X-Rewrite-URL',
    'X-Forwarded-Prefix',
    'X-Forwarded-Path',
    'X-Forwarded-Uri',
    'X-Envoy-Original-Path',
    'X-MS-CLIENT-PRINCIPAL',
    'X-MS-CLIENT-PRINCIPAL-ID',
    'X-MS-CLIENT-PRINCIPAL-NAME',
    'X-MS-CLIENT-PRINCIPAL-IDP',
    'X-MS-TOKEN-AAD-ACCESS-TOKEN',
  ])('strips %s: it would make the downstream see another request or caller', (name) => {
    const out = forwardRequestHeaders(new Headers({ [name]: 'DELETE', accept: 'x' }), base);
    expect(Object.keys(out).map((n) => n.toLowerCase())).not.toContain(name.toLowerCase());
    expect(out.accept).toBe('x');
  });

  it('keeps other x-ms- headers (x-ms-client-request-id is end to end)', () => {
    const out = forwardRequestHeaders(new Headers({ 'x-ms-client-request-id': 'r1' }), base);
    expect(out['x-ms-client-request-id']).toBe('r1');
  });

  it('removes hop-by-hop, Connection-named, credential, cookie and x-gateway-* headers', () => {
    const out = forwardRequestHeaders(
      new Headers({
        connection: 'keep-alive, x-drop-me',
        'keep-alive': 'timeout=5',
        'x-drop-me': '1',
        te: 'trailers',
        trailer: 'x',
        upgrade: 'h2c',
        'proxy-authorization': 'Basic x',
        authorization: 'Bearer secret',
        cookie: 'session=1',
        'x-gateway-principal': 'forged',
        'X-Gateway-Anything': 'forged',
        'x-forwarded-host': 'evil',
        'x-forwarded-proto': 'http',
        'x-forwarded-for': '10.0.0.1, 127.0.0.1',
        'content-type': 'application/json',
        accept: 'text/plain',
      }),
      base,
    );
    expect(out).toEqual({
      'content-type': 'application/json',
      accept: 'text/plain',
      'x-forwarded-for': '10.0.0.1, 127.0.0.1',
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'gw.example.net',
      'x-correlation-id': 'c-1',
      traceparent: expect.stringMatching(/^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/) as string,
      'x-gateway-principal': 'stmt',
    });
  });

  it('propagates a valid traceparent with its tracestate', () => {
    const out = forwardRequestHeaders(new Headers({ traceparent: VALID, tracestate: 'a=1' }), base);
    expect(out.traceparent).toBe(VALID);
    expect(out.tracestate).toBe('a=1');
  });

  it('replaces an invalid traceparent and drops its tracestate', () => {
    const out = forwardRequestHeaders(new Headers({ traceparent: '00-zz-1-01', tracestate: 'a=1' }), base);
    expect(isValidTraceparent(out.traceparent!)).toBe(true);
    expect(out.tracestate).toBeUndefined();
  });
});

describe('isValidTraceparent', () => {
  it.each([
    [VALID, true],
    [newTraceparent(), true],
    ['ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', false],
    ['00-00000000000000000000000000000000-00f067aa0ba902b7-01', false],
    ['00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01', false],
    ['00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01', false],
    ['garbage', false],
  ])('%s: %p', (value, expected) => {
    expect(isValidTraceparent(value)).toBe(expected);
  });
});

describe('forwardResponseHeaders', () => {
  it('removes hop-by-hop headers, keeps Set-Cookie as a list', () => {
    const out = forwardResponseHeaders({
      connection: 'close, x-hop',
      'x-hop': '1',
      'keep-alive': 'timeout=5',
      'transfer-encoding': 'chunked',
      'proxy-authenticate': 'Basic',
      'set-cookie': ['a=1', 'b=2'],
      vary: ['accept', 'origin'],
      'content-type': 'text/plain',
    });
    expect(out).toEqual({
      'set-cookie': ['a=1', 'b=2'],
      vary: 'accept, origin',
      'content-type': 'text/plain',
    });
  });
});
