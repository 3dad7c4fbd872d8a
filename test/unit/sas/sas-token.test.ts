import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { ManualClock } from '../../../src/clock';
import { createSasToken } from '../../../src/sas/issue-sas-token';
import { HmacKeyRing } from '../../../src/sas/hmac-key-ring';
import {
  MAX_SAS_TOKEN_LENGTH,
  parseSasToken,
  SAS_SIGNED_FIELDS,
  sasSignature,
  sasStringToSign,
  serializeSasToken,
  type SasTokenFields,
} from '../../../src/sas/sas-token';
import type { ErrorCode } from '../../../src/errors';
import { authorize } from '../../../src/decision/authorize';
import { parsePolicy, type Policy, type Resource } from '../../../src/policy/model';
import { compilePolicies } from '../../../src/policy/policy-index';
import { SasCredentialVerifier } from '../../../src/auth/sas-credential-verifier';
import type { PolicySnapshot } from '../../../src/state/policy-state';
import { codeOfCall } from '../../helpers/errors';

/** The worked example of docs/sas-token.md. */
const EXAMPLE = {
  keys: [{ name: 'k1', secret: 'Z2F0ZXdheS1zYXMtZXhhbXBsZS1rZXktMzItYnl0ZXM=' }],
  fields: {
    sv: '1',
    sr: 'orders/customers/42',
    sp: 'rc',
    st: 1767225600,
    se: 1767225900,
    skn: 'k1',
    sid: 'AAECAwQFBgcICQoLDA0ODw',
    tid: '9f1c2c3e-0d1a-4b7e-9c55-2f0c6d1e7a01',
    oid: '0d5e1f3a-7b2c-4d8e-9f10-a1b2c3d4e5f6',
    azp: 'c0ffee00-1234-4abc-8def-000000000001',
    spi: ['orders-create', 'orders-read'],
    spv: ['q3Yx0Pz1AbC', 'Hk7_Lm2NoPq'],
  } satisfies SasTokenFields,
  stringToSign:
    '1\norders/customers/42\nrc\n1767225600\n1767225900\nk1\nAAECAwQFBgcICQoLDA0ODw\n9f1c2c3e-0d1a-4b7e-9c55-2f0c6d1e7a01\n0d5e1f3a-7b2c-4d8e-9f10-a1b2c3d4e5f6\nc0ffee00-1234-4abc-8def-000000000001\norders-create,orders-read\nq3Yx0Pz1AbC,Hk7_Lm2NoPq',
  sig: 'THyd_WryM524ncFQWPK-ZFasqls7CvWbEnRE6SrqpHw',
  token:
    'sv=1&sr=orders%2Fcustomers%2F42&sp=rc&st=1767225600&se=1767225900&skn=k1&sid=AAECAwQFBgcICQoLDA0ODw&tid=9f1c2c3e-0d1a-4b7e-9c55-2f0c6d1e7a01&oid=0d5e1f3a-7b2c-4d8e-9f10-a1b2c3d4e5f6&azp=c0ffee00-1234-4abc-8def-000000000001&spi=orders-create%2Corders-read&spv=q3Yx0Pz1AbC%2CHk7_Lm2NoPq&sig=THyd_WryM524ncFQWPK-ZFasqls7CvWbEnRE6SrqpHw',
};

const ring = new HmacKeyRing(EXAMPLE.keys);
const atStart = new ManualClock(EXAMPLE.fields.st * 1000);

/**
 * The state the worked example verifies in: its `spi` policies active at its `spv` versions,
 * nothing revoked, resources `orders` and `invoices`.
 */
const SNAPSHOT: PolicySnapshot = {
  index: compilePolicies(
    EXAMPLE.fields.spi.map((id) => {
      const parsed = parsePolicy({ id, effect: 'allow', resource: 'orders', actions: ['read', 'create'] });
      if (!parsed.ok) throw new Error(parsed.error);
      return parsed.value satisfies Policy;
    }),
    new Map(EXAMPLE.fields.spi.map((id, i) => [id, EXAMPLE.fields.spv[i]!])),
  ),
  resources: new Map(['orders', 'invoices'].map((name) => [name, { name } as Resource])),
  version: 1,
};

/** The gateway's own verification of a SAS (src/auth/sas-credential-verifier.ts), in that state. */
function verifierFor(options: { keys?: HmacKeyRing; clock?: ManualClock; skewSeconds?: number } = {}) {
  return new SasCredentialVerifier({
    keys: options.keys ?? ring,
    clock: options.clock ?? atStart,
    skewSeconds: options.skewSeconds ?? 60,
    state: { snapshot: () => SNAPSHOT, revocations: { loaded: true, match: () => undefined } },
  });
}

const verify = (token: string, clock = atStart) => codeOfCall(() => verifierFor({ clock }).verifySync(token));

describe('docs/sas-token.md worked example', () => {
  const doc = readFileSync(join(__dirname, '../../../docs/sas-token.md'), 'utf8');

  it('the string-to-sign, signature and token are exactly the documented ones', () => {
    expect(sasStringToSign(EXAMPLE.fields)).toBe(EXAMPLE.stringToSign);
    expect(sasSignature(EXAMPLE.stringToSign, ring.signing.key)).toBe(EXAMPLE.sig);
    expect(serializeSasToken(EXAMPLE.fields, EXAMPLE.sig)).toBe(EXAMPLE.token);
    expect(
      createSasToken(
        {
          resource: 'orders',
          pathPrefix: ['customers', '42'],
          actions: ['create', 'read'],
          policies: EXAMPLE.fields.spi,
          policyVersions: EXAMPLE.fields.spv,
          tid: EXAMPLE.fields.tid,
          oid: EXAMPLE.fields.oid,
          azp: EXAMPLE.fields.azp,
          startsAt: EXAMPLE.fields.st,
          lifetimeSeconds: 300,
        },
        ring,
        EXAMPLE.fields.sid,
      ).token,
    ).toBe(EXAMPLE.token);
  });

  it('the page shows them verbatim', () => {
    expect(doc).toContain(EXAMPLE.stringToSign.replace(/\n/g, '\\n'));
    expect(doc).toContain(EXAMPLE.sig);
    expect(doc).toContain(EXAMPLE.token);
    expect(doc).toContain(`k1=${EXAMPLE.keys[0]!.secret}`);
  });

  it('verifies, with the documented grant', () => {
    expect(verifierFor().verifySync(EXAMPLE.token).sas).toMatchObject({
      resource: 'orders',
      pathPrefix: ['customers', '42'],
      actions: ['read', 'create'],
      sid: EXAMPLE.fields.sid,
      policies: ['orders-create', 'orders-read'],
    });
  });
});

/** Replaces one field's raw (encoded) value in a token. */
function withField(token: string, name: string, value: string): string {
  return token
    .split('&')
    .map((pair) => (pair.startsWith(`${name}=`) ? `${name}=${value}` : pair))
    .join('&');
}

const without = (token: string, name: string) =>
  token
    .split('&')
    .filter((p) => !p.startsWith(`${name}=`))
    .join('&');

describe('parseSasToken and the gateway verifier: strict format', () => {
  it.each<[string, string, ErrorCode | 'ok']>([
    ['fields in another order', EXAMPLE.token.split('&').reverse().join('&'), 'ok'],
    ['sr with a literal /', withField(EXAMPLE.token, 'sr', 'orders/customers/42'), 'ok'],
    ['empty', '', 'ERR_SAS_INVALID'],
    ['oversized', `${EXAMPLE.token}&${'x'.repeat(MAX_SAS_TOKEN_LENGTH)}`, 'ERR_SAS_INVALID'],
    ['unknown field', `${EXAMPLE.token}&foo=bar`, 'ERR_SAS_INVALID'],
    ['duplicate field (same value)', `${EXAMPLE.token}&sp=rc`, 'ERR_SAS_INVALID'],
    ['duplicate sig', `${EXAMPLE.token}&sig=${EXAMPLE.sig}`, 'ERR_SAS_INVALID'],
    ['field without =', `${EXAMPLE.token}&sv`, 'ERR_SAS_INVALID'],
    ['bad percent-encoding', withField(EXAMPLE.token, 'sr', 'orders%2'), 'ERR_SAS_INVALID'],
    ['double-encoded /', withField(EXAMPLE.token, 'sr', 'orders%252Fcustomers%252F42'), 'ERR_SAS_INVALID'],
    ['sv 2', withField(EXAMPLE.token, 'sv', '2'), 'ERR_SAS_INVALID'],
    ['sp not canonical (cr)', withField(EXAMPLE.token, 'sp', 'cr'), 'ERR_SAS_INVALID'],
    ['sp repeated letter', withField(EXAMPLE.token, 'sp', 'rrc'), 'ERR_SAS_INVALID'],
    ['st with leading zero', withField(EXAMPLE.token, 'st', '01767225600'), 'ERR_SAS_INVALID'],
    ['se before st', withField(EXAMPLE.token, 'se', '1767225000'), 'ERR_SAS_INVALID'],
    ['sr with ..', withField(EXAMPLE.token, 'sr', 'orders%2F..%2Fadmin'), 'ERR_SAS_INVALID'],
    ['sr trailing /', withField(EXAMPLE.token, 'sr', 'orders%2F'), 'ERR_SAS_INVALID'],
    ['spi repeated id', withField(EXAMPLE.token, 'spi', 'a%2Ca'), 'ERR_SAS_INVALID'],
    ['sig padded', withField(EXAMPLE.token, 'sig', `${EXAMPLE.sig}=`), 'ERR_SAS_INVALID'],
    [
      'sig standard base64',
      withField(EXAMPLE.token, 'sig', EXAMPLE.sig.replace(/-/g, '+')),
      'ERR_SAS_INVALID',
    ],
    ['tid upper case', withField(EXAMPLE.token, 'tid', EXAMPLE.fields.tid.toUpperCase()), 'ERR_SAS_INVALID'],
    ['unknown key name', withField(EXAMPLE.token, 'skn', 'k9'), 'ERR_SAS_INVALID'],
    ...SAS_SIGNED_FIELDS.map((f): [string, string, ErrorCode] => [
      `missing ${f}`,
      without(EXAMPLE.token, f),
      'ERR_SAS_INVALID',
    ]),
    ['missing sig', without(EXAMPLE.token, 'sig'), 'ERR_SAS_INVALID'],
  ])('%s: %s', (_name, token, code) => {
    expect(verify(token)).toBe(code);
  });

  it('refuses an oversized token before decoding it', () => {
    let thrown: unknown;
    try {
      parseSasToken('%'.repeat(MAX_SAS_TOKEN_LENGTH + 1));
    } catch (err) {
      thrown = err;
    }
    // The client sees only the code; why is kept for the log.
    expect(thrown).toMatchObject({
      code: 'ERR_SAS_INVALID',
      cause: { message: expect.stringMatching(/too large/) },
    });
  });
});

describe('tampering: every signed field changed alone is refused', () => {
  const changed: Record<string, string> = {
    sv: '1', // only one version exists: covered by "sv 2" above
    sr: 'orders%2Fcustomers%2F43',
    sp: 'rcw',
    st: '1767225599',
    se: '1767225901',
    skn: 'k1', // see the wrong-key test
    sid: 'AAECAwQFBgcICQoLDA0OEA',
    tid: '9f1c2c3e-0d1a-4b7e-9c55-2f0c6d1e7a02',
    oid: '0d5e1f3a-7b2c-4d8e-9f10-a1b2c3d4e5f7',
    azp: 'c0ffee00-1234-4abc-8def-000000000002',
    spi: 'orders-read',
  };
  it.each(SAS_SIGNED_FIELDS.filter((f) => f !== 'sv' && f !== 'skn'))('%s', (field) => {
    expect(verify(withField(EXAMPLE.token, field, changed[field]!))).toBe('ERR_SAS_INVALID');
  });

  it('skn naming another known key', () => {
    const two = new HmacKeyRing([...EXAMPLE.keys, { name: 'k2', secret: Buffer.alloc(32, 7) }]);
    const token = withField(EXAMPLE.token, 'skn', 'k2');
    expect(codeOfCall(() => verifierFor({ keys: two }).verifySync(token))).toBe('ERR_SAS_INVALID');
  });

  it('the same token under a key ring where k1 has another secret', () => {
    const other = new HmacKeyRing([{ name: 'k1', secret: Buffer.alloc(32, 1) }]);
    expect(codeOfCall(() => verifierFor({ keys: other }).verifySync(EXAMPLE.token))).toBe('ERR_SAS_INVALID');
  });
});

describe('time: st - skew <= now < se', () => {
  const clock = new ManualClock();
  it.each<[string, number, ErrorCode | 'ok']>([
    ['at st', EXAMPLE.fields.st, 'ok'],
    ['skew before st', EXAMPLE.fields.st - 60, 'ok'],
    ['beyond skew before st', EXAMPLE.fields.st - 61, 'ERR_SAS_NOT_YET_VALID'],
    ['one second before se', EXAMPLE.fields.se - 1, 'ok'],
    ['at se', EXAMPLE.fields.se, 'ERR_SAS_EXPIRED'],
    ['long after se', EXAMPLE.fields.se + 86_400, 'ERR_SAS_EXPIRED'],
  ])('%s', (_name, seconds, code) => {
    clock.set(seconds * 1000);
    expect(verify(EXAMPLE.token, clock)).toBe(code);
  });

  it('honours skewSeconds (never on se)', () => {
    clock.set((EXAMPLE.fields.st - 5) * 1000);
    expect(codeOfCall(() => verifierFor({ clock, skewSeconds: 0 }).verifySync(EXAMPLE.token))).toBe(
      'ERR_SAS_NOT_YET_VALID',
    );
    clock.set(EXAMPLE.fields.se * 1000);
    expect(codeOfCall(() => verifierFor({ clock, skewSeconds: 600 }).verifySync(EXAMPLE.token))).toBe(
      'ERR_SAS_EXPIRED',
    );
  });
});

describe('scope: the authorize stage holds a verified SAS to its grant', () => {
  it.each<
    [
      string,
      { resource?: string; action?: string; path?: string },
      'ALLOWED' | 'SAS_SCOPE' | 'UNKNOWN_RESOURCE',
    ]
  >([
    ['inside: the scope root', { resource: 'orders', action: 'read', path: '/customers/42' }, 'ALLOWED'],
    ['inside: below', { resource: 'orders', action: 'create', path: '/customers/42/orders' }, 'ALLOWED'],
    ['inside: trailing /', { resource: 'orders', action: 'read', path: '/customers/42/' }, 'ALLOWED'],
    ['sibling /customers/420', { resource: 'orders', action: 'read', path: '/customers/420' }, 'SAS_SCOPE'],
    ['parent /customers', { resource: 'orders', action: 'read', path: '/customers' }, 'SAS_SCOPE'],
    ['case variant', { resource: 'orders', action: 'read', path: '/Customers/42' }, 'SAS_SCOPE'],
    ['traversal', { resource: 'orders', action: 'read', path: '/customers/42/../43' }, 'SAS_SCOPE'],
    [
      'encoded traversal',
      { resource: 'orders', action: 'read', path: '/customers/42/%2e%2e/43' },
      'SAS_SCOPE',
    ],
    ['action not granted', { resource: 'orders', action: 'delete', path: '/customers/42' }, 'SAS_SCOPE'],
    ['unknown action', { resource: 'orders', action: 'admin', path: '/customers/42' }, 'SAS_SCOPE'],
    ['other resource', { resource: 'invoices', action: 'read', path: '/customers/42' }, 'SAS_SCOPE'],
  ])('%s', (_name, request, reasonCode) => {
    const caller = verifierFor().verifySync(EXAMPLE.token);
    expect(authorize(SNAPSHOT, caller, request as never).reasonCode).toBe(reasonCode);
  });
});

describe('the key ring is checked eagerly', () => {
  it.each([
    ['no keys', []],
    ['short secret', [{ name: 'k', secret: Buffer.alloc(16) }]],
    ['bad key name', [{ name: 'a b', secret: Buffer.alloc(32) }]],
    [
      'repeated key name',
      [
        { name: 'k', secret: Buffer.alloc(32) },
        { name: 'k', secret: Buffer.alloc(32, 1) },
      ],
    ],
  ])('%s: TypeError', (_name, keys) => {
    expect(() => new HmacKeyRing(keys)).toThrow(TypeError);
  });
});

describe('property: no mutation of a valid token verifies', () => {
  const fields = EXAMPLE.token.split('&');
  const names = fields.map((p) => p.slice(0, p.indexOf('=')));
  const valueChar = fc.constantFrom(...'abcXYZ0123456789-_.~%2F,:@'.split(''));

  it('changing any one field value', () => {
    fc.assert(
      fc.property(fc.nat(names.length - 1), fc.string({ unit: valueChar, maxLength: 60 }), (i, value) => {
        const pair = fields[i]!;
        const name = names[i]!;
        const original = pair.slice(name.length + 1);
        let decodedNew: string;
        let decodedOld: string;
        try {
          decodedNew = decodeURIComponent(value);
          decodedOld = decodeURIComponent(original);
        } catch {
          decodedNew = value;
          decodedOld = '';
        }
        fc.pre(decodedNew !== decodedOld);
        const token = fields.map((p, j) => (j === i ? `${name}=${value}` : p)).join('&');
        expect(verify(token)).not.toBe('ok');
      }),
      { numRuns: 2000 },
    );
  });

  it('dropping or duplicating fields', () => {
    fc.assert(
      fc.property(fc.subarray([...fields.keys()], { minLength: 1 }), fc.boolean(), (picked, duplicate) => {
        const token = duplicate
          ? [...fields, ...picked.map((i) => fields[i]!)].join('&')
          : fields.filter((_, i) => !picked.includes(i)).join('&');
        expect(verify(token)).toBe('ERR_SAS_INVALID');
      }),
    );
  });

  it('reordering never matters', () => {
    fc.assert(
      fc.property(
        fc.shuffledSubarray(fields, { minLength: fields.length, maxLength: fields.length }),
        (order) => {
          expect(verify(order.join('&'))).toBe('ok');
        },
      ),
    );
  });

  it('flipping any bit of the signature', () => {
    const sig = Buffer.from(EXAMPLE.sig, 'base64url');
    fc.assert(
      fc.property(fc.nat(sig.length * 8 - 1), (bit) => {
        const flipped = Buffer.from(sig);
        flipped[bit >> 3]! ^= 1 << (bit & 7);
        expect(verify(withField(EXAMPLE.token, 'sig', flipped.toString('base64url')))).toBe(
          'ERR_SAS_INVALID',
        );
      }),
      { numRuns: 256 },
    );
  });

  it('changing any character of the signature text', () => {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    fc.assert(
      fc.property(fc.nat(EXAMPLE.sig.length - 1), fc.constantFrom(...alphabet.split('')), (at, c) => {
        fc.pre(EXAMPLE.sig[at] !== c);
        const sig = EXAMPLE.sig.slice(0, at) + c + EXAMPLE.sig.slice(at + 1);
        expect(verify(withField(EXAMPLE.token, 'sig', sig))).toBe('ERR_SAS_INVALID');
      }),
      { numRuns: 1000 },
    );
  });
});
