/**
 * A SAS token dies with its granting policy's version, as an Azure stored access policy's tokens
 * change with it: whatever is done to a policy that granted a token (narrowing it, disabling
 * and enabling it again, deleting and re-creating it under the same id, renaming it, even an
 * identical re-write), the token stops working at once on this instance and after one refresh on
 * another, for every permission letter, on the proxy and on the decision API alike. A change to
 * an unrelated policy leaves it alone.
 */
import { call } from '../helpers/http';
import {
  authorizeWithSas,
  issue,
  parseSasToken,
  SasTestStack,
  type ServedGateway,
} from '../helpers/gateway-stack';

const LETTERS = [
  { letter: 'r', action: 'read', method: 'GET' },
  { letter: 'c', action: 'create', method: 'POST' },
  { letter: 'w', action: 'write', method: 'PUT' },
  { letter: 'd', action: 'delete', method: 'DELETE' },
] as const;

type Policy = Record<string, unknown> & { id: string };

/** What is done to the granting policy (on instance A), and whether the token survives it. */
const CHANGES: readonly {
  readonly name: string;
  readonly apply: (admin: SasTestStack['admin'], policy: Policy) => Promise<void>;
  readonly survives: boolean;
}[] = [
  {
    name: 'narrowed in place to read-only /public/**',
    apply: async (admin, p) => {
      await must(admin('PUT', `policies/${p.id}`, { ...p, actions: ['read'], paths: ['/public/**'] }));
    },
    survives: false,
  },
  {
    name: 'widened in place (every action)',
    apply: async (admin, p) => {
      await must(admin('PUT', `policies/${p.id}`, { ...p, actions: ['*'] }));
    },
    survives: false,
  },
  {
    name: 'disabled, then enabled again',
    apply: async (admin, p) => {
      await must(admin('PUT', `policies/${p.id}`, { ...p, enabled: false }));
      await must(admin('PUT', `policies/${p.id}`, { ...p, enabled: true }));
    },
    survives: false,
  },
  {
    name: 'deleted, then re-created identical under the same id',
    apply: async (admin, p) => {
      await must(admin('DELETE', `policies/${p.id}`));
      await must(admin('PUT', `policies/${p.id}`, p));
    },
    survives: false,
  },
  {
    name: 'renamed (re-created identical under another id)',
    apply: async (admin, p) => {
      await must(admin('PUT', `policies/${p.id}-renamed`, { ...p, id: `${p.id}-renamed` }));
      await must(admin('DELETE', `policies/${p.id}`));
    },
    survives: false,
  },
  {
    name: 're-written identical (a new version all the same)',
    apply: async (admin, p) => {
      await must(admin('PUT', `policies/${p.id}`, p));
    },
    survives: false,
  },
  {
    name: 'left alone while an unrelated policy changes',
    apply: async (admin, p) => {
      await must(
        admin('PUT', `policies/${p.id}-other`, { ...p, id: `${p.id}-other`, resource: 'elsewhere' }),
      );
    },
    survives: true,
  },
];

async function must(answer: Promise<{ status: number; json: unknown }>): Promise<void> {
  const res = await answer;
  if (res.status >= 300) throw new Error(`admin call failed: ${res.status} ${JSON.stringify(res.json)}`);
}

describe('a SAS token dies with the version of the policy that granted it', () => {
  let env: SasTestStack;
  let other: ServedGateway;
  let n = 0;

  beforeAll(async () => {
    env = await SasTestStack.start();
    other = await env.startGateway();
  });

  afterAll(() => env?.close());

  const cases = LETTERS.flatMap((l) => CHANGES.map((c) => [l.letter, c.name, l, c] as const));

  it.each(cases)('sp=%s, granting policy %s', async (_letter, _name, { letter, action, method }, change) => {
    const role = `Life.${++n}`;
    const policy: Policy = {
      id: `life-${n}`,
      effect: 'allow',
      resource: 'orders',
      paths: ['/customers/7/orders/**'],
      actions: [action],
      principals: { roles: [role] },
    };
    await must(env.admin('PUT', `policies/${policy.id}`, policy));
    await other.gateway.state.refresher.refresh();
    const token = await issue(env.api, {
      subject_token: env.mint({ roles: [role] }),
      resource: 'orders/customers/7/orders',
      scope: action,
    });
    expect(parseSasToken(token)).toMatchObject({ sp: letter, spi: [policy.id] });

    const viaProxy = async (api: string) => {
      const res = await call(`${api}/proxy/orders/customers/7/orders`, {
        method,
        headers: { authorization: `SharedAccessSignature ${token}` },
      });
      return res.status === 200 ? 'ok' : String(res.json.code);
    };
    const viaDecision = async (api: string) => {
      const res = await authorizeWithSas(api, token, {
        resource: 'orders',
        action,
        path: '/customers/7/orders',
      });
      return res.status === 200 ? (res.json.allowed === true ? 'ok' : 'deny') : String(res.json.code);
    };
    const outcomes = async () => [
      await viaProxy(env.api),
      await viaDecision(env.api),
      await viaProxy(other.api),
      await viaDecision(other.api),
    ];
    expect(await outcomes()).toEqual(['ok', 'ok', 'ok', 'ok']);

    await change.apply((m, p, b) => env.admin(m, p, b), policy);
    await other.gateway.state.refresher.refresh();
    const after = change.survives ? 'ok' : 'ERR_SAS_REVOKED';
    expect(await outcomes()).toEqual([after, after, after, after]);
  });
});
