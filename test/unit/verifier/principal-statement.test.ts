import { ManualClock } from '../../../src/clock';
import { HmacKeyRing } from '../../../src/verifier/hmac-key-ring';
import {
  createPrincipalStatement,
  verifyPrincipalStatement,
} from '../../../src/verifier/principal-statement';
import { sasSignature } from '../../../src/verifier/sas-token';
import type { VerifierErrorCode } from '../../../src/verifier/verifier-error';
import { codeOfCall } from '../../helpers/errors';

const keys = [
  { name: 'k2', secret: Buffer.alloc(32, 2) },
  { name: 'k1', secret: Buffer.alloc(32, 1) },
];
const ring = new HmacKeyRing(keys);
const NOW = 1_767_225_600;
const clock = new ManualClock(NOW * 1000);
const claims = {
  oid: 'user-1',
  tid: '9f1c2c3e-0d1a-4b7e-9c55-2f0c6d1e7a01',
  azp: 'app-1',
  roles: ['Orders.Reader'],
  resource: 'orders',
  correlationId: 'corr-1',
};
const statement = createPrincipalStatement(claims, ring, NOW);

const payloadOf = (s: string) =>
  JSON.parse(Buffer.from(s.split('.')[0]!, 'base64url').toString()) as Record<string, unknown>;
/** Re-signs a changed payload with the raw SAS key (not the statement key): must never verify. */
const forge = (payload: Record<string, unknown>, sign: (body: string) => string) => {
  const body = Buffer.from(JSON.stringify(payload)).toString('base64url');
  return `${body}.${sign(body)}`;
};

describe('x-gateway-principal statements', () => {
  it('round-trips with the signing key named as kid, exp = iat + 60', () => {
    expect(payloadOf(statement)).toMatchObject({
      v: 1,
      kid: 'k2',
      aud: 'orders',
      iat: NOW,
      exp: NOW + 60,
      cid: 'corr-1',
    });
    expect(verifyPrincipalStatement(statement, { keys, clock, expectedResource: 'orders' })).toEqual({
      ...claims,
      keyName: 'k2',
      issuedAt: NOW,
      expiresAt: NOW + 60,
    });
  });

  it('leaves out oid and azp when the caller has none', () => {
    const s = createPrincipalStatement({ ...claims, oid: undefined, azp: undefined }, ring, NOW);
    expect(verifyPrincipalStatement(s, { keys: ring, clock })).toMatchObject({
      oid: undefined,
      azp: undefined,
    });
  });

  const body = statement.split('.')[0]!;
  const sig = statement.split('.')[1]!;
  it.each<
    [string, string, { at?: number; expectedResource?: string; keys?: HmacKeyRing }, VerifierErrorCode | 'ok']
  >([
    ['valid', statement, {}, 'ok'],
    ['for another resource', statement, { expectedResource: 'invoices' }, 'ERR_PRINCIPAL_STATEMENT_INVALID'],
    ['expired', statement, { at: NOW + 60 }, 'ERR_PRINCIPAL_STATEMENT_EXPIRED'],
    ['from the future', statement, { at: NOW - 61 }, 'ERR_PRINCIPAL_STATEMENT_INVALID'],
    ['empty', '', {}, 'ERR_PRINCIPAL_STATEMENT_INVALID'],
    ['three parts', `${statement}.x`, {}, 'ERR_PRINCIPAL_STATEMENT_INVALID'],
    ['oversized', `${'a'.repeat(9000)}.${sig}`, {}, 'ERR_PRINCIPAL_STATEMENT_INVALID'],
    [
      'flipped signature',
      `${body}.${sig.slice(0, -2)}${sig.endsWith('AA') ? 'AQ' : 'AA'}`,
      {},
      'ERR_PRINCIPAL_STATEMENT_INVALID',
    ],
    [
      'role added, same signature',
      `${forge({ ...payloadOf(statement), roles: ['Gateway.Admin'] }, () => sig)}`,
      {},
      'ERR_PRINCIPAL_STATEMENT_INVALID',
    ],
    [
      'signed with the raw SAS key',
      forge(payloadOf(statement), (b) => sasSignature(b, ring.signing.key)),
      {},
      'ERR_PRINCIPAL_STATEMENT_INVALID',
    ],
    ['unknown kid', statement, { keys: new HmacKeyRing([keys[1]!]) }, 'ERR_PRINCIPAL_STATEMENT_INVALID'],
    [
      'payload not JSON',
      `${Buffer.from('nope').toString('base64url')}.${sig}`,
      {},
      'ERR_PRINCIPAL_STATEMENT_INVALID',
    ],
  ])('%s', (_name, header, options, code) => {
    const at = new ManualClock((options.at ?? NOW) * 1000);
    expect(
      codeOfCall(() =>
        verifyPrincipalStatement(header, {
          keys: options.keys ?? ring,
          clock: at,
          expectedResource: options.expectedResource ?? 'orders',
        }),
      ),
    ).toBe(code);
  });

  it.each([0, 301, 1.5])('refuses ttl %p eagerly', (ttl) => {
    expect(() => createPrincipalStatement(claims, ring, NOW, ttl)).toThrow(TypeError);
  });
});
