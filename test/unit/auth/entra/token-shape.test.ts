import { parseTokenShape } from '../../../../src/auth/entra/token-shape';
import type { ErrorCode } from '../../../../src/errors';
import { GatewayError } from '../../../../src/errors';
import { encodeJwt } from '../../../helpers/entra';

const H = { alg: 'RS256', typ: 'JWT', kid: 'k1' };
const P = { ver: '2.0', tid: 't' };
const SIG = 'c2ln';

function codeOf(fn: () => unknown): ErrorCode | 'ok' {
  try {
    fn();
    return 'ok';
  } catch (err) {
    return err instanceof GatewayError ? err.code : ('not-a-gateway-error' as ErrorCode);
  }
}

describe('parseTokenShape', () => {
  it.each<[string, string, ErrorCode | 'ok']>([
    ['a well-formed v2 token', encodeJwt(H, P, SIG), 'ok'],
    ['a well-formed v1 token', encodeJwt(H, { ver: '1.0' }, SIG), 'ok'],
    ['over 16 KiB', encodeJwt(H, { ...P, pad: 'x'.repeat(16 * 1024) }, SIG), 'ERR_TOKEN_TOO_LARGE'],
    ['one segment', 'abc', 'ERR_TOKEN_MALFORMED'],
    ['two segments', 'abc.def', 'ERR_TOKEN_MALFORMED'],
    ['four segments (JWE-like)', `${encodeJwt(H, P, SIG)}.x`, 'ERR_TOKEN_MALFORMED'],
    ['empty string', '', 'ERR_TOKEN_MALFORMED'],
    ['padding characters', `${encodeJwt(H, P, SIG)}==`, 'ERR_TOKEN_MALFORMED'],
    [
      'standard base64 (+/)',
      `a+b/.${encodeJwt(H, P, SIG).split('.').slice(1).join('.')}`,
      'ERR_TOKEN_MALFORMED',
    ],
    ['header not JSON', `${Buffer.from('{').toString('base64url')}.e30.${SIG}`, 'ERR_TOKEN_MALFORMED'],
    ['header JSON null', encodeJwt(null, P, SIG), 'ERR_TOKEN_MALFORMED'],
    ['payload JSON string', encodeJwt(H, 'hello', SIG), 'ERR_TOKEN_MALFORMED'],
    ['payload JSON array', encodeJwt(H, [P], SIG), 'ERR_TOKEN_MALFORMED'],
    ['alg none', encodeJwt({ ...H, alg: 'none' }, P), 'ERR_TOKEN_ALGORITHM'],
    ['alg HS256', encodeJwt({ ...H, alg: 'HS256' }, P, SIG), 'ERR_TOKEN_ALGORITHM'],
    ['alg RS384', encodeJwt({ ...H, alg: 'RS384' }, P, SIG), 'ERR_TOKEN_ALGORITHM'],
    ['alg RS512', encodeJwt({ ...H, alg: 'RS512' }, P, SIG), 'ERR_TOKEN_ALGORITHM'],
    ['alg PS256', encodeJwt({ ...H, alg: 'PS256' }, P, SIG), 'ERR_TOKEN_ALGORITHM'],
    ['alg ES256', encodeJwt({ ...H, alg: 'ES256' }, P, SIG), 'ERR_TOKEN_ALGORITHM'],
    ['alg rs256 (lower case)', encodeJwt({ ...H, alg: 'rs256' }, P, SIG), 'ERR_TOKEN_ALGORITHM'],
    ['alg as an array', encodeJwt({ ...H, alg: ['RS256'] }, P, SIG), 'ERR_TOKEN_ALGORITHM'],
    ['no kid', encodeJwt({ alg: 'RS256' }, P, SIG), 'ERR_TOKEN_MALFORMED'],
    ['empty kid', encodeJwt({ ...H, kid: '' }, P, SIG), 'ERR_TOKEN_MALFORMED'],
    ['numeric kid', encodeJwt({ ...H, kid: 1 }, P, SIG), 'ERR_TOKEN_MALFORMED'],
    ['crit header', encodeJwt({ ...H, crit: ['b64'] }, P, SIG), 'ERR_TOKEN_MALFORMED'],
    ['no ver', encodeJwt(H, { tid: 't' }, SIG), 'ERR_TOKEN_VERSION'],
    ['ver 2 (number)', encodeJwt(H, { ver: 2 }, SIG), 'ERR_TOKEN_VERSION'],
    ['ver 3.0', encodeJwt(H, { ver: '3.0' }, SIG), 'ERR_TOKEN_VERSION'],
    ['RS256 with an empty signature', encodeJwt(H, P), 'ERR_TOKEN_MALFORMED'],
  ])('%s → %s', (_name, token, expected) => {
    expect(codeOf(() => parseTokenShape(token))).toBe(expected);
  });

  it('returns the kid and version, leaving the payload unverified', () => {
    expect(parseTokenShape(encodeJwt(H, P, SIG))).toMatchObject({
      kid: 'k1',
      version: '2.0',
      unverifiedPayload: P,
    });
  });
});
