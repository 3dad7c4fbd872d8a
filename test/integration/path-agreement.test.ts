/**
 * One path rule: the decision API, the token exchange and the proxy refuse and allow the same
 * request paths. Each spelling is the path a client means; the proxy receives it correctly
 * percent-encoded (each segment through encodeURIComponent), the decision API and the exchange as
 * text. Run over HTTP against the real gateway, for an Entra caller and a SAS caller, on a fixed
 * table of hostile and benign spellings and on random ones built from the same pieces.
 */
import fc from 'fast-check';
import { DEV_USER_OID } from '../../src/host/local/dev-identity-provider';
import { call, rawRequest } from '../helpers/http';
import { exchange, issue, KEY_1, SasTestStack } from '../helpers/gateway-stack';

const OWN = `/customers/${DEV_USER_OID}`;

/** Spellings below the caller's own orders that must be refused everywhere. */
const HOSTILE = [
  '/..;/x',
  '/../x',
  '/x/../../y',
  '/./x',
  '/x/.',
  '/x.',
  '/x./y',
  '/...',
  '/x ',
  '/ ', // found by the random spellings below on the code before the one rule
  '/x /y',
  '//x',
  '/x//y',
  '/a\\b',
  '/a;b',
  '/admin;jsessionid=1/x',
  '/a%2fb',
  '/a%2e%2e',
  '/a\u0001b',
  '/a\u007fb',
];

/** Spellings that are plain paths, allowed everywhere (and in the SAS charset, so exchangeable). */
const BENIGN = ['', '/orders', '/a.b', '/a~b', '/x@y:z', '/a-b_c/d'];

interface Answers {
  readonly proxy: number;
  readonly decision: boolean;
  readonly exchange: number | undefined;
}

describe('one path rule: the decision API, the exchange and the proxy agree', () => {
  let env: SasTestStack;
  let reader: string;
  let sas: string;

  beforeAll(async () => {
    env = await SasTestStack.start({ SAS_SIGNING_KEYS: KEY_1 });
    reader = env.mint({ oid: DEV_USER_OID, roles: ['Orders.Reader'] });
    sas = await issue(env.api, { subject_token: reader, resource: `orders${OWN}`, scope: 'read' });
  }, 60_000);

  afterAll(() => env?.close());

  /** The path as the proxy receives it: each segment percent-encoded. */
  const onTheWire = (path: string): string => path.split('/').map(encodeURIComponent).join('/');

  async function answers(spelling: string, credential: 'entra' | 'sas'): Promise<Answers> {
    const path = `${OWN}${spelling}`;
    const authorization = credential === 'entra' ? `Bearer ${reader}` : `SharedAccessSignature ${sas}`;
    const proxied = await rawRequest(env.stack.gatewayUrl!, `/api/proxy/orders${onTheWire(path)}`, {
      headers: { authorization },
    });
    const decided = await call(`${env.api}/authorize`, {
      method: 'POST',
      headers: { authorization, 'content-type': 'application/json' },
      body: JSON.stringify({ resource: 'orders', action: 'read', path }),
    });
    expect(decided.status).toBe(200);
    const exchanged =
      credential === 'entra'
        ? (await exchange(env.api, { subject_token: reader, resource: `orders${path}`, scope: 'read' }))
            .status
        : undefined;
    return { proxy: proxied.status, decision: decided.json.allowed === true, exchange: exchanged };
  }

  it.each([
    ...HOSTILE.map((spelling) => [spelling, 'refused'] as const),
    ...BENIGN.map((spelling) => [spelling, 'allowed'] as const),
  ])('%j: %s everywhere', async (spelling, verdict) => {
    const status = verdict === 'allowed' ? 200 : 400;
    for (const credential of ['entra', 'sas'] as const) {
      expect({ spelling, credential, ...(await answers(spelling, credential)) }).toEqual({
        spelling,
        credential,
        proxy: status,
        decision: verdict === 'allowed',
        exchange: credential === 'entra' ? status : undefined,
      });
    }
  });

  it('random spellings: the proxy allows exactly what the decision API allows, and the exchange issues no scope the proxy refuses', async () => {
    const piece = fc.constantFrom(
      'a',
      'b.c',
      '.',
      '..',
      ';',
      ' ',
      '\\',
      '%',
      '%2e',
      '~',
      '@',
      ':',
      '/',
      '//',
      '\t',
    );
    const spelling = fc.array(piece, { minLength: 1, maxLength: 5 }).map((parts) => `/${parts.join('')}`);
    await fc.assert(
      fc.asyncProperty(
        spelling,
        fc.constantFrom('entra' as const, 'sas' as const),
        async (path, credential) => {
          const got = await answers(path, credential);
          expect({ path, agree: (got.proxy === 200) === got.decision }).toEqual({ path, agree: true });
          if (got.exchange === 200) expect({ path, proxy: got.proxy }).toEqual({ path, proxy: 200 });
          // Only 200 (allowed) and 400 (refused path) are answers here: a 403 or 5xx would be a bug.
          expect([200, 400]).toContain(got.proxy);
        },
      ),
      { numRuns: 150 },
    );
  }, 120_000);
});
