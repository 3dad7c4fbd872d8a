import type { ErrorCode } from '../../../src/errors';
import { parseForm, parseResourceParameter, parseScopeParameter } from '../../../src/sas/token-request';
import { codeOfCall } from '../../helpers/errors';

describe('parseResourceParameter', () => {
  it.each<[string, ErrorCode | 'ok']>([
    ['orders', 'ok'],
    ['orders/customers/42', 'ok'],
    ['orders/customers/a.b~c@d:e-f_g', 'ok'],
    ['Orders', 'ERR_TARGET_INVALID'],
    ['/orders', 'ERR_TARGET_INVALID'],
    ['orders/', 'ERR_TARGET_INVALID'],
    ['orders//x', 'ERR_TARGET_INVALID'],
    ['orders/customers/../admin', 'ERR_TARGET_INVALID'],
    ['orders/./x', 'ERR_TARGET_INVALID'],
    ['orders/%2e%2e/admin', 'ERR_TARGET_INVALID'],
    ['orders/a\\b', 'ERR_TARGET_INVALID'],
    ['orders/a b', 'ERR_TARGET_INVALID'],
    ['orders/*', 'ERR_TARGET_INVALID'],
    [`orders/${'a/'.repeat(40)}a`, 'ERR_TARGET_INVALID'],
    ['https://example.com/orders', 'ERR_TARGET_INVALID'],
  ])('%s: %s', (resource, code) => {
    expect(codeOfCall(() => parseResourceParameter(resource))).toBe(code);
  });
});

describe('parseScopeParameter', () => {
  it.each<[string, string[] | ErrorCode]>([
    ['read', ['read']],
    ['create read', ['read', 'create']],
    ['delete write create read read', ['read', 'create', 'write', 'delete']],
    ['read  create', 'ERR_SCOPE_INVALID'],
    [' read', 'ERR_SCOPE_INVALID'],
    ['read admin', 'ERR_SCOPE_INVALID'],
    ['*', 'ERR_SCOPE_INVALID'],
    ['READ', 'ERR_SCOPE_INVALID'],
  ])('%p', (scope, expected) => {
    if (typeof expected === 'string') expect(codeOfCall(() => parseScopeParameter(scope))).toBe(expected);
    else expect(parseScopeParameter(scope)).toEqual(expected);
  });
});

describe('parseForm', () => {
  it('decodes + and percent-encoding, drops empty values, ignores unknown names', () => {
    expect(parseForm('scope=read+create&resource=orders%2Fa&requested_lifetime=&client_id=x')).toEqual({
      scope: 'read create',
      resource: 'orders/a',
    });
  });

  it.each(['scope=read&scope=read', 'scope=read&scope=', 'a=1&a=2', 'scope=%zz'])(
    '%s: invalid_request',
    (body) => {
      expect(codeOfCall(() => parseForm(body))).toBe('ERR_TOKEN_REQUEST_INVALID');
    },
  );
});
