/**
 * Two gateway instances on one embedded Cosmos DB, as Flex Consumption runs them: a change made
 * on instance A (a revocation, a new deny, the deletion of a granting policy) reaches instance B
 * on its next refresh, whatever B wrote itself in between and whatever `_ts` each write got.
 *
 * The database runs in its own process with a clock of its own (`setClockOffset`), so each write
 * lands at a chosen `_ts` second without waiting: the same second, later ones, and a write
 * stamped earlier than one B has already pulled (another partition's clock, a lagging replica).
 */
import { randomUUID } from 'node:crypto';
import { authorize } from '../helpers/http';
import {
  authorizeWithSas,
  call,
  issue,
  KEY_1,
  SasTestStack,
  type ServedGateway,
} from '../helpers/gateway-stack';

type Change = 'revoke sid' | 'revoke oid' | 'new deny' | 'delete grant' | 'disable grant' | 'narrow grant';

interface Timing {
  readonly name: string;
  /** Database clock offset (s) of A's change and of B's own write. */
  readonly a: number;
  readonly b: number;
  /** Before A's change, B pulls a document stamped at this offset (later than A's change). */
  readonly seenFirst?: number;
}

const TIMINGS: readonly Timing[] = [
  { name: 'B writes in the same second', a: 0, b: 0 },
  { name: 'B writes 1 s later', a: 0, b: 1 },
  { name: 'B writes 2 s later', a: 0, b: 2 },
  { name: 'B writes 9 s later (one refresh interval)', a: 0, b: 9 },
  { name: 'B writes 40 s later', a: 0, b: 40 },
  { name: "A's change is stamped 5 s before a write B already pulled", a: 0, b: 6, seenFirst: 5 },
];

const CHANGES: readonly Change[] = [
  'revoke sid',
  'revoke oid',
  'new deny',
  'delete grant',
  'disable grant',
  'narrow grant',
];

describe('two instances on one Cosmos DB: what A changes, B learns on its next refresh', () => {
  let env: SasTestStack;
  let b: ServedGateway;

  beforeAll(async () => {
    env = await SasTestStack.start(undefined, { isolateCosmos: true });
    b = await env.startGateway();
  }, 60_000);

  afterAll(() => env?.close());

  const dbClock = (seconds: number) => env.stack.cosmos!.setClockOffset(seconds);
  afterEach(() => dbClock(0));

  const onA = (method: string, path: string, body?: unknown) => env.admin(method, path, body);
  const onB = (method: string, path: string, body?: unknown) =>
    fetch(`${b.api}/${path}`, {
      method,
      headers: { authorization: `Bearer ${env.adminToken()}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    }).then(async (res) => ({ status: res.status, json: (await res.json()) as Record<string, unknown> }));

  /** What B answers for the user's Bearer token and SAS token on their own orders. */
  async function askB(bearer: string, sas: string, oid: string): Promise<{ bearer: string; sas: string }> {
    const body = { resource: 'orders', action: 'read', path: `/customers/${oid}/orders` };
    const viaBearer = await authorize(b.api, bearer, body);
    const viaSas = await authorizeWithSas(b.api, sas, body);
    const outcome = (res: { status: number; json: Record<string, unknown> }) =>
      res.status === 200 ? (res.json.allowed === true ? 'allow' : 'deny') : String(res.json.code);
    return { bearer: outcome(viaBearer), sas: outcome(viaSas) };
  }

  const expected: Record<Change, { bearer: string; sas: string }> = {
    'revoke sid': { bearer: 'allow', sas: 'ERR_SAS_REVOKED' },
    'revoke oid': { bearer: 'allow', sas: 'ERR_SAS_REVOKED' },
    // A new deny stops Bearer callers at once; a SAS token is held to the policies that granted it.
    'new deny': { bearer: 'deny', sas: 'allow' },
    'delete grant': { bearer: 'deny', sas: 'ERR_SAS_REVOKED' },
    'disable grant': { bearer: 'deny', sas: 'ERR_SAS_REVOKED' },
    'narrow grant': { bearer: 'deny', sas: 'ERR_SAS_REVOKED' },
  };

  const cases = CHANGES.flatMap((change) => TIMINGS.map((timing) => [change, timing] as const));

  it.each(cases)('%s on A, %o: B refuses after one refresh', async (change, timing) => {
    const oid = randomUUID();
    const grantId = `grant-${oid}`;
    const grant = {
      id: grantId,
      effect: 'allow',
      resource: 'orders',
      paths: ['/customers/{claims.oid}/**'],
      actions: ['read'],
      principals: { users: [oid] },
    };
    expect((await onA('PUT', `policies/${grantId}`, grant)).status).toBe(201);
    await b.gateway.state.refresher.refresh();
    const bearer = env.mint({ oid });
    const sas = await issue(env.api, {
      subject_token: bearer,
      resource: `orders/customers/${oid}`,
      scope: 'read',
    });
    expect(await askB(bearer, sas, oid)).toEqual({ bearer: 'allow', sas: 'allow' });

    if (timing.seenFirst !== undefined) {
      await dbClock(timing.seenFirst);
      expect(
        (await onA('PUT', `policies/seen-${oid}`, { ...grant, id: `seen-${oid}`, resource: 'x' })).status,
      ).toBe(201);
      await b.gateway.state.refresher.refresh();
    }

    await dbClock(timing.a);
    const { sid } = Object.fromEntries(new URLSearchParams(sas)) as { sid: string };
    const made = await {
      'revoke sid': () => onA('POST', 'revocations', { sid }),
      'revoke oid': () => onA('POST', 'revocations', { oid }),
      'new deny': () =>
        onA('PUT', `policies/deny-${oid}`, {
          id: `deny-${oid}`,
          effect: 'deny',
          resource: 'orders',
          actions: ['read'],
          principals: { users: [oid] },
        }),
      'delete grant': () => onA('DELETE', `policies/${grantId}`),
      'disable grant': () => onA('PUT', `policies/${grantId}`, { ...grant, enabled: false }),
      'narrow grant': () => onA('PUT', `policies/${grantId}`, { ...grant, paths: ['/public/**'] }),
    }[change]();
    expect(made.status).toBeLessThan(300);

    // B's own write goes to the same container as A's change: that is what moved B's mark.
    await dbClock(timing.b);
    const own = change.startsWith('revoke')
      ? await onB('POST', 'revocations', { oid: randomUUID() })
      : await onB('PUT', `policies/noise-${oid}`, { ...grant, id: `noise-${oid}`, resource: 'y' });
    expect(own.status).toBe(201);

    await b.gateway.state.refresher.refresh();
    expect(await askB(bearer, sas, oid)).toEqual(expected[change]);
    // And it stays learned: later refreshes never bring the old state back.
    await b.gateway.state.refresher.refresh();
    expect(await askB(bearer, sas, oid)).toEqual(expected[change]);
  });
});

describe('two instances racing admin writes with one ETag', () => {
  let env: SasTestStack;
  let b: ServedGateway;

  beforeAll(async () => {
    env = await SasTestStack.start();
    b = await env.startGateway();
  });

  afterAll(() => env?.close());

  const put = (api: string, id: string, body: unknown, etag: string) =>
    fetch(`${api}/policies/${id}`, {
      method: 'PUT',
      headers: {
        authorization: `Bearer ${env.adminToken()}`,
        'content-type': 'application/json',
        'if-match': etag,
      },
      body: JSON.stringify(body),
    });

  it.each([2, 8])(
    '%i writers: exactly one wins, the others get 412 (the database decides)',
    async (writers) => {
      const id = `race-${writers}`;
      const base = { id, effect: 'allow', resource: 'orders', actions: ['read'] };
      const created = await env.admin('PUT', `policies/${id}`, base);
      expect(created.status).toBe(201);
      const etag = created.headers.get('etag')!;
      const answers = await Promise.all(
        Array.from({ length: writers }, (_, i) =>
          put(i % 2 === 0 ? env.api : b.api, id, { ...base, description: `writer ${i}` }, etag),
        ),
      );
      const statuses = answers.map((r) => r.status).sort();
      expect(statuses).toEqual([200, ...Array<number>(writers - 1).fill(412)]);
      const winner = answers.find((r) => r.status === 200)!;
      const stored = await env.admin('GET', `policies/${id}`);
      expect(stored.headers.get('etag')).toBe(winner.headers.get('etag'));
      expect(stored.json.description).toBe(((await winner.json()) as { description: string }).description);
      for (const r of answers.filter((a) => a.status === 412)) {
        expect(((await r.json()) as { code: string }).code).toBe('ERR_PRECONDITION_FAILED');
      }
    },
  );

  it('a stale ETag is refused by the database even when this instance never saw the newer write', async () => {
    const id = 'race-stale';
    const base = { id, effect: 'allow', resource: 'orders', actions: ['read'] };
    const created = await env.admin('PUT', `policies/${id}`, base);
    const first = created.headers.get('etag')!;
    expect((await put(b.api, id, { ...base, description: 'b' }, first)).status).toBe(200);
    // A has not refreshed: it knows nothing of B's write, and must not need to.
    const late = await put(env.api, id, { ...base, description: 'a' }, first);
    expect(late.status).toBe(412);
  });
});

describe('a token issued on A just after its granting policy changed on B', () => {
  let env: SasTestStack;
  let b: ServedGateway;
  // No timer refresh during the test: each instance refreshes when the test says.
  const ENV = { SAS_SIGNING_KEYS: KEY_1, POLICY_REFRESH_SECONDS: '3600' };

  beforeAll(async () => {
    env = await SasTestStack.start(ENV);
    b = await env.startGateway({ env: ENV });
  }, 60_000);

  afterAll(() => env?.close());

  it('carries the policy version A still holds and is refused everywhere as revoked, until A refreshes and issues anew', async () => {
    const oid = randomUUID();
    const grant = {
      id: `late-${oid}`,
      effect: 'allow',
      resource: 'orders',
      paths: ['/customers/{claims.oid}/**'],
      actions: ['read'],
      principals: { users: [oid] },
    };
    expect((await env.admin('PUT', `policies/${grant.id}`, grant)).status).toBe(201);
    await b.gateway.state.refresher.refresh();
    // Changed on B (even a change that grants the same): a new version of the granting policy.
    const changed = await call(`${b.api}/policies/${grant.id}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${env.adminToken()}`, 'content-type': 'application/json' },
      body: JSON.stringify({ ...grant, description: 'edited on B' }),
    });
    expect(changed.status).toBe(200);

    const bearer = env.mint({ oid });
    const ask = { resource: 'orders', action: 'read', path: `/customers/${oid}/orders` };
    const exchange = () =>
      issue(env.api, { subject_token: bearer, resource: `orders/customers/${oid}`, scope: 'read' });
    const outcome = async (api: string, sas: string) => {
      const res = await authorizeWithSas(api, sas, ask);
      return res.status === 200 ? (res.json.allowed === true ? 'allow' : 'deny') : String(res.json.code);
    };

    // A has not refreshed: it issues a token tied to the version it holds, which B knows is gone.
    const early = await exchange();
    expect(await outcome(b.api, early)).toBe('ERR_SAS_REVOKED');
    await env.gateway.state.refresher.refresh();
    expect(await outcome(env.api, early)).toBe('ERR_SAS_REVOKED');

    // Once A has refreshed, what it issues holds on both.
    const late = await exchange();
    expect([await outcome(env.api, late), await outcome(b.api, late)]).toEqual(['allow', 'allow']);
  });
});
