import {
  ERROR_CODES,
  GatewayError,
  PROBLEM_CONTENT_TYPE,
  toGatewayError,
  toProblem,
  wwwAuthenticate,
  type ErrorCode,
} from '../../src/errors';
import { problemResponse } from '../../src/http/responses';

describe('GatewayError', () => {
  it.each(Object.entries(ERROR_CODES) as [ErrorCode, { status: number }][])(
    '%s maps to %p',
    (code, { status }) => {
      const err = new GatewayError(code);
      expect(err.status).toBe(status);
      expect(err.code).toBe(code);
      expect(code).toMatch(/^ERR_[A-Z_]+$/);
    },
  );

  it('wraps foreign errors as ERR_INTERNAL without exposing their message', () => {
    const err = toGatewayError(new Error('ECONNREFUSED 10.1.2.3:443 secret=abc'));
    expect(err.code).toBe('ERR_INTERNAL');
    const problem = toProblem(err, 'c-1');
    expect(JSON.stringify(problem)).not.toContain('secret');
    expect(JSON.stringify(problem)).not.toContain('10.1.2.3');
  });

  it('builds an RFC 9457 document with code and correlation id', () => {
    const problem = toProblem(new GatewayError('ERR_TOKEN_EXPIRED'), 'corr-7');
    expect(problem).toEqual({
      type: 'urn:entra-functions-gateway:error:ERR_TOKEN_EXPIRED',
      title: ERROR_CODES.ERR_TOKEN_EXPIRED.title,
      status: 401,
      code: 'ERR_TOKEN_EXPIRED',
      detail: ERROR_CODES.ERR_TOKEN_EXPIRED.title,
      correlationId: 'corr-7',
    });
  });

  it('does not let extensions override the standard members', () => {
    const err = new GatewayError('ERR_VALIDATION', 'x', {
      extensions: { status: 200, code: 'OK', field: 'id' },
    });
    const problem = toProblem(err, 'c');
    expect(problem.status).toBe(400);
    expect(problem.code).toBe('ERR_VALIDATION');
    expect(problem.field).toBe('id');
  });
});

describe('wwwAuthenticate', () => {
  it.each<[ErrorCode, GatewayError['challenge'], string | undefined]>([
    [
      'ERR_TOKEN_EXPIRED',
      ['Bearer'],
      'Bearer realm="gateway", error="invalid_token", error_description="ERR_TOKEN_EXPIRED"',
    ],
    [
      'ERR_CREDENTIAL_MISSING',
      ['Bearer', 'SharedAccessSignature'],
      // RFC 6750 section 3.1: no credential, no error information.
      'Bearer realm="gateway", SharedAccessSignature realm="gateway"',
    ],
    [
      'ERR_CREDENTIAL_SCHEME',
      ['Bearer', 'DPoP'],
      'Bearer realm="gateway", DPoP realm="gateway", algs="ES256 ES384 ES512 PS256 RS256 EdDSA"',
    ],
    [
      'ERR_POLICY_DENIED',
      ['Bearer'],
      'Bearer realm="gateway", error="insufficient_scope", error_description="ERR_POLICY_DENIED"',
    ],
    ['ERR_VALIDATION', ['Bearer'], undefined],
  ])('%s', (code, challenge, expected) => {
    expect(wwwAuthenticate(new GatewayError(code, undefined, { challenge }))).toBe(expected);
  });
});

describe('problemResponse', () => {
  it('sets the problem content type, correlation id, challenge and extra headers', () => {
    const response = problemResponse(
      new GatewayError('ERR_RATE_LIMITED', undefined, { headers: { 'retry-after': '3' } }),
      'abc',
    );
    expect(response.status).toBe(429);
    expect(response.headers).toMatchObject({
      'content-type': PROBLEM_CONTENT_TYPE,
      'x-correlation-id': 'abc',
      'retry-after': '3',
    });
    const unauthorized = problemResponse(new GatewayError('ERR_TOKEN_SIGNATURE'), 'abc');
    expect((unauthorized.headers as Record<string, string>)['www-authenticate']).toContain('invalid_token');
  });
});
