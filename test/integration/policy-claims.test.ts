/**
 * Claims policies read as the gateway understands them, not as a token happens to spell them.
 *
 * Entra's groups overage: a user in more groups than a token holds gets `_claim_names.groups`
 * (or, from the implicit flow, `hasgroups: true`) instead of `groups`. Their membership is then
 * unknown, and the gateway fails closed: a policy that tests groups never lets such a token pass,
 * whether it allows (it does not grant) or denies (it applies), on all three routes that decide:
 * the decision API, the proxy and the token exchange.
 *
 * `idtyp`: Entra sends it only when the app opts into the optional claim, so an app-only token
 * often has none; policies see the gateway's classification (`app` / `user`) under that name.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { call } from '../helpers/http';
import { exchange, SasTestStack } from '../helpers/gateway-stack';

const G_ALLOWED = 'aaaaaaaa-0000-4000-8000-000000000001';
const G_DENIED = 'aaaaaaaa-0000-4000-8000-000000000002';
const G_CONDITION = 'aaaaaaaa-0000-4000-8000-000000000003';

const POLICIES = [
  {
    id: 'ovg-allow-group',
    effect: 'allow',
    resource: 'ovg',
    paths: ['/grp/**'],
    actions: ['read'],
    principals: { groups: [G_ALLOWED] },
  },
  {
    id: 'ovg-open',
    effect: 'allow',
    resource: 'ovg',
    paths: ['/open/**', '/cond/**'],
    actions: ['read'],
    principals: { roles: ['Ovg.Reader'] },
  },
  {
    id: 'ovg-deny-group',
    effect: 'deny',
    resource: 'ovg',
    paths: ['/open/**'],
    actions: ['read'],
    principals: { groups: [G_DENIED] },
  },
  {
    id: 'ovg-deny-condition',
    effect: 'deny',
    resource: 'ovg',
    paths: ['/cond/**'],
    actions: ['read'],
    conditions: [{ claim: 'groups', operator: 'in', values: [G_CONDITION] }],
  },
];

/** The overage markers Entra uses. */
const MARKERS: Record<string, Record<string, unknown>> = {
  '_claim_names.groups': {
    _claim_names: { groups: 'src1' },
    _claim_sources: {
      src1: { endpoint: 'https://graph.microsoft.com/v1.0/users/x/getMemberObjects' },
    },
  },
  'hasgroups: true': { hasgroups: true },
};

type Outcome = 'allow' | 'deny';

describe('groups overage: a token without its groups never passes a policy on groups', () => {
  let env: SasTestStack;
  let downstream: Server;

  beforeAll(async () => {
    env = await SasTestStack.start();
    downstream = createServer((_req, res) => res.end('{}'));
    await new Promise<void>((resolve) => downstream.listen(0, '127.0.0.1', resolve));
    // A resource of its own: the demo's deny on a blocked group covers `orders`, and would apply.
    const resource = await env.admin('PUT', 'resources/ovg', {
      name: 'ovg',
      upstream: `http://127.0.0.1:${(downstream.address() as AddressInfo).port}`,
      auth: { type: 'none' },
    });
    expect(resource.status).toBe(201);
    for (const policy of POLICIES) {
      const res = await env.admin('PUT', `policies/${policy.id}`, policy);
      expect(res.status).toBe(201);
    }
  });

  afterAll(async () => {
    await env?.close();
    downstream?.close();
  });

  /** The three routes' answers for one token and path, as allow / deny. */
  async function decide(token: string, path: string): Promise<Record<string, string>> {
    const decision = await call(`${env.api}/authorize`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ resource: 'ovg', action: 'read', path }),
    });
    const proxied = await call(`${env.api}/proxy/ovg${path}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    const exchanged = await exchange(env.api, {
      subject_token: token,
      resource: `ovg${path}`,
      scope: 'read',
    });
    return {
      authorize: decision.json.allowed === true ? 'allow' : `deny:${String(decision.json.reasonCode)}`,
      proxy: proxied.status === 200 ? 'allow' : `deny:${proxied.status}:${String(proxied.json.code)}`,
      token: exchanged.status === 200 ? 'allow' : `deny:${String(exchanged.json.error)}`,
    };
  }

  const everywhere = (outcome: Outcome, reason = ''): Record<string, string> =>
    outcome === 'allow'
      ? { authorize: 'allow', proxy: 'allow', token: 'allow' }
      : { authorize: `deny:${reason}`, proxy: 'deny:403:ERR_POLICY_DENIED', token: 'deny:invalid_scope' };

  describe.each(Object.keys(MARKERS))('with %s', (marker) => {
    const overage = (groups?: string[]) =>
      env.mint({
        roles: ['Ovg.Reader'],
        claims: { ...MARKERS[marker], ...(groups === undefined ? {} : { groups }) },
      });

    it.each([
      ['an allow on a group does not grant', '/grp/items', 'NO_MATCHING_POLICY'],
      ['a deny on a group applies', '/open/items', 'GROUPS_OVERAGE'],
      ['a deny with a condition on groups applies', '/cond/items', 'GROUPS_OVERAGE'],
    ])('%s', async (_name, path, reason) => {
      expect(await decide(overage(), path)).toEqual(everywhere('deny', reason));
    });

    it('a groups claim next to the marker is not taken as the whole membership', async () => {
      expect(await decide(overage([G_ALLOWED]), '/grp/items')).toEqual(
        everywhere('deny', 'NO_MATCHING_POLICY'),
      );
      expect(await decide(overage([]), '/open/items')).toEqual(everywhere('deny', 'GROUPS_OVERAGE'));
    });

    it('the admin what-if explains it', async () => {
      const res = await call(`${env.api}/authorize`, {
        method: 'POST',
        headers: { authorization: `Bearer ${env.adminToken()}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          resource: 'ovg',
          action: 'read',
          path: '/open/items',
          principal: { tid: env.stack.idp!.tenantId, oid: 'x', roles: ['Ovg.Reader'], ...MARKERS[marker] },
        }),
      });
      expect(res.json).toMatchObject({
        allowed: false,
        reasonCode: 'GROUPS_OVERAGE',
        policies: ['ovg-deny-group'],
      });
      expect(res.json.candidates).toEqual(
        expect.arrayContaining([
          { id: 'ovg-deny-group', effect: 'deny', outcome: 'groupsOverage' },
          { id: 'ovg-open', effect: 'allow', outcome: 'matched' },
        ]),
      );
    });
  });

  describe('without the marker (controls: the same policies decide as usual)', () => {
    it.each([
      ['not in the denied group', [], '/open/items', 'allow'],
      ['not in the condition group', [], '/cond/items', 'allow'],
      ['in the allowed group', [G_ALLOWED], '/grp/items', 'allow'],
      ['in the denied group', [G_DENIED], '/open/items', 'deny'],
      ['in the condition group', [G_CONDITION], '/cond/items', 'deny'],
    ] as const)('%s', async (_name, groups, path, outcome) => {
      const token = env.mint({ roles: ['Ovg.Reader'], claims: { groups: [...groups] } });
      expect(await decide(token, path)).toEqual(everywhere(outcome, 'EXPLICIT_DENY'));
    });
  });
});

describe("idtyp: policies see the gateway's classification", () => {
  let env: SasTestStack;

  beforeAll(async () => {
    env = await SasTestStack.start();
    const deny = await env.admin('PUT', 'policies/no-apps-on-audit', {
      id: 'no-apps-on-audit',
      effect: 'deny',
      resource: 'orders',
      actions: ['read'],
      conditions: [{ claim: 'idtyp', operator: 'equals', value: 'app' }],
    });
    expect(deny.status).toBe(201);
  });

  afterAll(() => env?.close());

  const ask = async (token: string) =>
    (
      await call(`${env.api}/authorize`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ resource: 'orders', action: 'read', path: '/x' }),
      })
    ).json;

  it.each([
    ['an app-only token with idtyp: app', { idtyp: 'app' }],
    ['an app-only token without the optional idtyp claim', { idtyp: undefined }],
  ])('a deny on idtyp equals app stops %s', async (_name, claims) => {
    const token = env.mint({ app: true, roles: ['Orders.Auditor'], claims });
    expect(await ask(token)).toMatchObject({ allowed: false, policies: ['no-apps-on-audit'] });
  });

  it('and leaves a delegated token alone', async () => {
    expect(await ask(env.mint({ roles: ['Orders.Auditor'] }))).toMatchObject({ allowed: true });
  });
});
