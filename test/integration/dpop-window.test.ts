/**
 * The last second of a DPoP proof's window (issue: a proof replayed at `iat + 120.33 s` was
 * accepted twice). Over HTTP, on two instances with one injected clock: a proof is accepted
 * while `floor(now) - 120 <= iat` (maxAge 60 s + skew 60 s) and its `jti` is remembered, by the
 * local and the shared store alike, until that stops being true; the Cosmos DB document's `ttl`
 * outlives it whatever fraction of a second it was written at.
 */
import { ManualClock } from '../../src/clock';
import { cosmosTtlFor } from '../../src/dpop/cosmos-replay-store';
import { proofAcceptedUntil } from '../../src/dpop/dpop-proof';
import { DEV_USER_OID } from '../../src/host/local/dev-identity-provider';
import { CONTAINERS } from '../../src/store/cosmos';
import { DpopKey } from '../helpers/dpop';
import { call, SasTestStack, tokenForm, type Answer, type ServedGateway } from '../helpers/gateway-stack';

const ISSUER = 'https://gateway.example.net/api';
const WINDOW_SECONDS = 120; // DPOP_PROOF_MAX_AGE_SECONDS 60 + ENTRA_CLOCK_SKEW_SECONDS 60

describe('DPoP: the last second of a proof window, two instances, one clock', () => {
  let stack: SasTestStack;
  const clock = new ManualClock(Date.now());
  const key = DpopKey.generate();
  let reader: string;
  const instances: Record<'shared' | 'local', [ServedGateway, ServedGateway]> = {} as never;

  beforeAll(async () => {
    stack = await SasTestStack.start();
    reader = stack.mint({ roles: ['Orders.Reader'] });
    for (const store of ['shared', 'local'] as const) {
      // Both see the same time; the clock jumps, so the staleness bound is set past it.
      const env = { GATEWAY_ISSUER: ISSUER, DPOP_REPLAY_STORE: store, POLICY_MAX_STALENESS_SECONDS: '86400' };
      instances[store] = [await stack.startGateway({ env, clock }), await stack.startGateway({ env, clock })];
    }
  }, 60_000);

  afterAll(() => stack.close());

  /** A token request with `proof` on `api`. */
  function exchangeWith(api: string, proof: string): Promise<Answer> {
    return call(`${api}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', dpop: proof },
      body: tokenForm({ subject_token: reader, resource: `orders/customers/${DEV_USER_OID}`, scope: 'read' }),
    });
  }

  const outcome = (res: Answer) => (res.status === 200 ? 'issued' : String(res.json.code));

  it.each([
    ['shared', 0.33],
    ['shared', 0.999],
    ['local', 0.33],
    ['local', 0.999],
  ] as const)(
    '%s store, at iat + 120 + %s s: accepted once, then refused on both instances',
    async (store, fraction) => {
      const [a, b] = instances[store];
      const iat = Math.floor(Date.now() / 1000) - 5;
      clock.set((iat + WINDOW_SECONDS + fraction) * 1000);
      const proof = key.proof({ htm: 'POST', htu: `${ISSUER}/token`, iat });
      expect(outcome(await exchangeWith(a.api, proof))).toBe('issued');
      expect(outcome(await exchangeWith(a.api, proof))).toBe('ERR_TOKEN_DPOP_PROOF_INVALID');
      if (store === 'shared')
        expect(outcome(await exchangeWith(b.api, proof))).toBe('ERR_TOKEN_DPOP_PROOF_INVALID');
      // One second later (the first instant the window is over), it is refused as too old anyway.
      clock.set((iat + WINDOW_SECONDS + 1) * 1000);
      const late = await exchangeWith(b.api, key.proof({ htm: 'POST', htu: `${ISSUER}/token`, iat }));
      expect(outcome(late)).toBe('ERR_TOKEN_DPOP_PROOF_INVALID');
      expect(String(late.json.error_description)).toMatch(/too old/);
    },
  );

  it('remembers a proof in Cosmos DB past the instant it stops being accepted (whole-second ttl from _ts)', async () => {
    const [a] = instances.shared;
    const iat = Math.floor(Date.now() / 1000) - 5;
    const at = iat + WINDOW_SECONDS + 0.9;
    clock.set(at * 1000);
    const jti = `window-${iat}-${Math.random().toString(36).slice(2)}`;
    expect(
      outcome(await exchangeWith(a.api, key.proof({ htm: 'POST', htu: `${ISSUER}/token`, iat, jti }))),
    ).toBe('issued');
    const { resources } = await stack.gateway.auditStore.container.database
      .container(CONTAINERS.dpopProofs)
      .items.query<{ ttl: number; expiresAt: number }>('SELECT c.ttl, c.expiresAt FROM c')
      .fetchAll();
    const doc = resources.find((d) => d.expiresAt === proofAcceptedUntil(iat, 60, 60));
    expect(doc).toBeDefined();
    // Cosmos DB deletes an item at `_ts + ttl`, `_ts` being the write's whole second.
    expect(Math.floor(at) + doc!.ttl).toBeGreaterThanOrEqual(doc!.expiresAt);
  });
});

describe('proofAcceptedUntil and the Cosmos DB ttl', () => {
  it.each([
    [1000, 1121],
    [1000.2, 1121],
    [1000.99, 1121],
  ])('a proof issued at %s is refused from %s on', (iat, until) => {
    expect(proofAcceptedUntil(iat, 60, 60)).toBe(until);
  });

  it('a ttl counted from the whole second of the write outlives expiresAt, at any fraction', () => {
    for (let now = 1000; now < 1003; now += 0.125) {
      const ttl = cosmosTtlFor(1121, now);
      expect(Math.floor(now) + ttl).toBeGreaterThanOrEqual(1121);
    }
  });
});
