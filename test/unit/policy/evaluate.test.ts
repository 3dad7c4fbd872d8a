import { actionForMethod, type Action } from '../../../src/policy/actions';
import {
  evaluatePolicies,
  evaluateScope,
  explainDecision,
  unknownResourceDecision,
  type ReasonCode,
} from '../../../src/policy/evaluate';
import type { PolicySubject } from '../../../src/policy/subject';
import { parsePolicy, type Policy, type PolicyInput } from '../../../src/policy/model';
import { compilePolicies, isPolicyActive } from '../../../src/policy/policy-index';

const TID = '9f1c2c3e-0d1a-4b7e-9c55-2f0c6d1e7a01';
const OID = 'a1b2c3d4-0000-4000-8000-000000000042';
const AZP = 'c0ffee00-0000-4000-8000-000000000001';
const GROUP = 'aaaaaaaa-0000-4000-8000-00000000000a';

/** A validated policy: fixtures go through the real schema. */
function policy(doc: Partial<PolicyInput> & { id: string }): Policy {
  const result = parsePolicy({ effect: 'allow', resource: 'orders', actions: ['read'], ...doc });
  if (!result.ok) throw new Error(`bad fixture ${doc.id}: ${result.error}`);
  return result.value;
}

function principal(
  overrides: Partial<PolicySubject> = {},
  claims: Record<string, unknown> = {},
): PolicySubject {
  return {
    oid: OID,
    tid: TID,
    azp: AZP,
    roles: ['Orders.Reader'],
    scopes: [],
    groups: [GROUP],
    claims: { oid: OID, tid: TID, ctry: 'NL', amr: ['pwd', 'mfa'], lvl: 3, ...claims },
    ...overrides,
  };
}

interface Case {
  policies: Array<Partial<PolicyInput> & { id: string }>;
  action?: Action;
  resource?: string;
  path?: string | string[];
  who?: PolicySubject;
  allowed: boolean;
  code: ReasonCode;
  ids?: string[];
  cap?: number;
}

const cases: Array<[string, Case]> = [
  // Default deny
  ['no policies at all', { policies: [], allowed: false, code: 'NO_MATCHING_POLICY', ids: [] }],
  [
    'unknown resource has no candidates',
    { policies: [{ id: 'a' }], resource: 'invoices', allowed: false, code: 'NO_MATCHING_POLICY', ids: [] },
  ],
  [
    'policy for another action',
    { policies: [{ id: 'a', actions: ['write'] }], allowed: false, code: 'NO_MATCHING_POLICY' },
  ],
  ['open allow', { policies: [{ id: 'a' }], allowed: true, code: 'ALLOWED', ids: ['a'] }],

  // Principals: each kind, matching and not
  [
    'roles match',
    { policies: [{ id: 'a', principals: { roles: ['Orders.Reader'] } }], allowed: true, code: 'ALLOWED' },
  ],
  [
    'roles miss',
    {
      policies: [{ id: 'a', principals: { roles: ['Orders.Writer'] } }],
      allowed: false,
      code: 'NO_MATCHING_POLICY',
    },
  ],
  [
    'roles are case-sensitive',
    {
      policies: [{ id: 'a', principals: { roles: ['orders.reader'] } }],
      allowed: false,
      code: 'NO_MATCHING_POLICY',
    },
  ],
  [
    'scopes match',
    {
      policies: [{ id: 'a', principals: { scopes: ['Orders.Read'] } }],
      who: principal({ scopes: ['User.Read', 'Orders.Read'] }),
      allowed: true,
      code: 'ALLOWED',
    },
  ],
  [
    'scopes miss (none held)',
    {
      policies: [{ id: 'a', principals: { scopes: ['Orders.Read'] } }],
      allowed: false,
      code: 'NO_MATCHING_POLICY',
    },
  ],
  [
    'groups match, ignoring case',
    {
      policies: [{ id: 'a', principals: { groups: [GROUP.toUpperCase()] } }],
      allowed: true,
      code: 'ALLOWED',
    },
  ],
  [
    'groups miss',
    {
      policies: [{ id: 'a', principals: { groups: ['bbbbbbbb-0000-4000-8000-00000000000b'] } }],
      allowed: false,
      code: 'NO_MATCHING_POLICY',
    },
  ],
  [
    'tenants match tid',
    { policies: [{ id: 'a', principals: { tenants: [TID] } }], allowed: true, code: 'ALLOWED' },
  ],
  [
    'tenants miss',
    {
      policies: [{ id: 'a', principals: { tenants: ['11111111-2222-4333-8444-555555555555'] } }],
      allowed: false,
      code: 'NO_MATCHING_POLICY',
    },
  ],
  [
    'clients match azp',
    { policies: [{ id: 'a', principals: { clients: [AZP] } }], allowed: true, code: 'ALLOWED' },
  ],
  [
    'clients miss when azp absent',
    {
      policies: [{ id: 'a', principals: { clients: [AZP] } }],
      who: principal({ azp: undefined }),
      allowed: false,
      code: 'NO_MATCHING_POLICY',
    },
  ],
  [
    'users match oid',
    { policies: [{ id: 'a', principals: { users: [OID] } }], allowed: true, code: 'ALLOWED' },
  ],
  [
    'users miss when oid absent',
    {
      policies: [{ id: 'a', principals: { users: [OID] } }],
      who: principal({ oid: undefined }),
      allowed: false,
      code: 'NO_MATCHING_POLICY',
    },
  ],
  [
    'OR within a list',
    {
      policies: [{ id: 'a', principals: { roles: ['X', 'Orders.Reader', 'Y'] } }],
      allowed: true,
      code: 'ALLOWED',
    },
  ],
  [
    'AND across lists: all match',
    {
      policies: [{ id: 'a', principals: { roles: ['Orders.Reader'], tenants: [TID], users: [OID] } }],
      allowed: true,
      code: 'ALLOWED',
    },
  ],
  [
    'AND across lists: one misses',
    {
      policies: [{ id: 'a', principals: { roles: ['Orders.Reader'], tenants: ['other'] } }],
      allowed: false,
      code: 'NO_MATCHING_POLICY',
    },
  ],
  [
    'empty principals object matches everyone',
    {
      policies: [{ id: 'a', principals: {} }],
      who: principal({ roles: [] }),
      allowed: true,
      code: 'ALLOWED',
    },
  ],

  // Deny and allow
  [
    'deny wins over allow',
    {
      policies: [{ id: 'allow-all' }, { id: 'deny-all', effect: 'deny' }],
      allowed: false,
      code: 'EXPLICIT_DENY',
      ids: ['deny-all'],
    },
  ],
  [
    'every matching deny is named',
    {
      policies: [
        { id: 'd2', effect: 'deny' },
        { id: 'd1', effect: 'deny' },
        { id: 'd3', effect: 'deny', principals: { roles: ['X'] } },
        { id: 'a' },
      ],
      allowed: false,
      code: 'EXPLICIT_DENY',
      ids: ['d1', 'd2'],
    },
  ],
  [
    'every matching allow is named',
    {
      policies: [{ id: 'b' }, { id: 'a' }, { id: 'c', principals: { roles: ['X'] } }],
      allowed: true,
      code: 'ALLOWED',
      ids: ['a', 'b'],
    },
  ],
  [
    'deny for other principals does not apply',
    {
      policies: [{ id: 'a' }, { id: 'd', effect: 'deny', principals: { roles: ['Guest'] } }],
      allowed: true,
      code: 'ALLOWED',
      ids: ['a'],
    },
  ],
  [
    'deny alone still denies explicitly',
    { policies: [{ id: 'd', effect: 'deny' }], allowed: false, code: 'EXPLICIT_DENY', ids: ['d'] },
  ],
  [
    'disabled deny is ignored',
    {
      policies: [{ id: 'a' }, { id: 'd', effect: 'deny', enabled: false }],
      allowed: true,
      code: 'ALLOWED',
      ids: ['a'],
    },
  ],
  [
    'disabled allow is ignored',
    { policies: [{ id: 'a', enabled: false }], allowed: false, code: 'NO_MATCHING_POLICY', ids: [] },
  ],

  // Conditions
  [
    'equals holds',
    {
      policies: [{ id: 'a', conditions: [{ claim: 'ctry', operator: 'equals', value: 'NL' }] }],
      allowed: true,
      code: 'ALLOWED',
    },
  ],
  [
    'equals fails',
    {
      policies: [{ id: 'a', conditions: [{ claim: 'ctry', operator: 'equals', value: 'DE' }] }],
      allowed: false,
      code: 'NO_MATCHING_POLICY',
    },
  ],
  [
    'equals is strict (3 is not "3")',
    {
      policies: [{ id: 'a', conditions: [{ claim: 'lvl', operator: 'equals', value: '3' }] }],
      allowed: false,
      code: 'NO_MATCHING_POLICY',
    },
  ],
  [
    'equals on an array claim: contains',
    {
      policies: [{ id: 'a', conditions: [{ claim: 'amr', operator: 'equals', value: 'mfa' }] }],
      allowed: true,
      code: 'ALLOWED',
    },
  ],
  [
    'in holds',
    {
      policies: [{ id: 'a', conditions: [{ claim: 'ctry', operator: 'in', values: ['DE', 'NL'] }] }],
      allowed: true,
      code: 'ALLOWED',
    },
  ],
  [
    'in fails',
    {
      policies: [{ id: 'a', conditions: [{ claim: 'ctry', operator: 'in', values: ['DE', 'FR'] }] }],
      allowed: false,
      code: 'NO_MATCHING_POLICY',
    },
  ],
  [
    'in on an array claim: any element',
    {
      policies: [{ id: 'a', conditions: [{ claim: 'amr', operator: 'in', values: ['mfa', 'fido'] }] }],
      allowed: true,
      code: 'ALLOWED',
    },
  ],
  [
    'notIn holds',
    {
      policies: [{ id: 'a', conditions: [{ claim: 'ctry', operator: 'notIn', values: ['RU'] }] }],
      allowed: true,
      code: 'ALLOWED',
    },
  ],
  [
    'notIn fails',
    {
      policies: [{ id: 'a', conditions: [{ claim: 'ctry', operator: 'notIn', values: ['NL'] }] }],
      allowed: false,
      code: 'NO_MATCHING_POLICY',
    },
  ],
  [
    'notIn on an array claim: no element',
    {
      policies: [{ id: 'a', conditions: [{ claim: 'amr', operator: 'notIn', values: ['mfa'] }] }],
      allowed: false,
      code: 'NO_MATCHING_POLICY',
    },
  ],
  [
    'notIn with a missing claim fails',
    {
      policies: [{ id: 'a', conditions: [{ claim: 'region', operator: 'notIn', values: ['x'] }] }],
      allowed: false,
      code: 'NO_MATCHING_POLICY',
    },
  ],
  [
    'notIn with an object claim fails',
    {
      policies: [{ id: 'a', conditions: [{ claim: 'obj', operator: 'notIn', values: ['x'] }] }],
      who: principal({}, { obj: { a: 1 } }),
      allowed: false,
      code: 'NO_MATCHING_POLICY',
    },
  ],
  [
    'exists holds',
    {
      policies: [{ id: 'a', conditions: [{ claim: 'ctry', operator: 'exists' }] }],
      allowed: true,
      code: 'ALLOWED',
    },
  ],
  [
    'exists fails on a missing claim',
    {
      policies: [{ id: 'a', conditions: [{ claim: 'region', operator: 'exists' }] }],
      allowed: false,
      code: 'NO_MATCHING_POLICY',
    },
  ],
  [
    'exists fails on a null claim',
    {
      policies: [{ id: 'a', conditions: [{ claim: 'region', operator: 'exists' }] }],
      who: principal({}, { region: null }),
      allowed: false,
      code: 'NO_MATCHING_POLICY',
    },
  ],
  [
    'exists ignores inherited properties',
    {
      policies: [{ id: 'a', conditions: [{ claim: 'constructor', operator: 'exists' }] }],
      allowed: false,
      code: 'NO_MATCHING_POLICY',
    },
  ],
  [
    'equals with a missing claim fails',
    {
      policies: [{ id: 'a', conditions: [{ claim: 'region', operator: 'equals', value: 'x' }] }],
      allowed: false,
      code: 'NO_MATCHING_POLICY',
    },
  ],
  [
    'all conditions must hold',
    {
      policies: [
        {
          id: 'a',
          conditions: [
            { claim: 'ctry', operator: 'equals', value: 'NL' },
            { claim: 'lvl', operator: 'in', values: [4, 5] },
          ],
        },
      ],
      allowed: false,
      code: 'NO_MATCHING_POLICY',
    },
  ],
  [
    'deny condition with a missing claim does not apply',
    {
      policies: [
        { id: 'a' },
        { id: 'd', effect: 'deny', conditions: [{ claim: 'risk', operator: 'equals', value: 'high' }] },
      ],
      allowed: true,
      code: 'ALLOWED',
      ids: ['a'],
    },
  ],

  // Paths
  [
    'literal path matches',
    {
      policies: [{ id: 'a', paths: ['/customers/42'] }],
      path: '/customers/42',
      allowed: true,
      code: 'ALLOWED',
    },
  ],
  [
    'literal path misses a child',
    {
      policies: [{ id: 'a', paths: ['/customers/42'] }],
      path: '/customers/42/x',
      allowed: false,
      code: 'NO_MATCHING_POLICY',
    },
  ],
  [
    '* matches one segment',
    {
      policies: [{ id: 'a', paths: ['/customers/*'] }],
      path: '/customers/42',
      allowed: true,
      code: 'ALLOWED',
    },
  ],
  [
    '* does not match two',
    {
      policies: [{ id: 'a', paths: ['/customers/*'] }],
      path: '/customers/42/orders',
      allowed: false,
      code: 'NO_MATCHING_POLICY',
    },
  ],
  [
    '** matches any depth',
    {
      policies: [{ id: 'a', paths: ['/customers/**'] }],
      path: '/customers/42/orders/7',
      allowed: true,
      code: 'ALLOWED',
    },
  ],
  [
    '** matches zero depth',
    { policies: [{ id: 'a', paths: ['/customers/**'] }], path: '/customers', allowed: true, code: 'ALLOWED' },
  ],
  ['root path only', { policies: [{ id: 'a', paths: ['/'] }], path: '/', allowed: true, code: 'ALLOWED' }],
  [
    'any of several paths',
    {
      policies: [{ id: 'a', paths: ['/x', '/customers/*'] }],
      path: '/customers/1',
      allowed: true,
      code: 'ALLOWED',
    },
  ],
  [
    'path given as segments',
    {
      policies: [{ id: 'a', paths: ['/customers/*'] }],
      path: ['customers', '42'],
      allowed: true,
      code: 'ALLOWED',
    },
  ],
  [
    'trailing slash is the same path',
    {
      policies: [{ id: 'a', paths: ['/customers/42'] }],
      path: '/customers/42/',
      allowed: true,
      code: 'ALLOWED',
    },
  ],
  [
    'deny path ignores case',
    {
      policies: [{ id: 'a' }, { id: 'd', effect: 'deny', paths: ['/admin/**'] }],
      path: '/ADMIN/users',
      allowed: false,
      code: 'EXPLICIT_DENY',
      ids: ['d'],
    },
  ],
  [
    'allow path keeps case',
    {
      policies: [{ id: 'a', paths: ['/reports/**'] }],
      path: '/Reports/1',
      allowed: false,
      code: 'NO_MATCHING_POLICY',
    },
  ],
  [
    '.. in the path is refused',
    { policies: [{ id: 'a' }], path: '/customers/../admin', allowed: false, code: 'INVALID_PATH', ids: [] },
  ],
  [
    '. in segments is refused',
    { policies: [{ id: 'a' }], path: ['customers', '.', 'x'], allowed: false, code: 'INVALID_PATH' },
  ],
  [
    'empty segment is refused',
    { policies: [{ id: 'a' }], path: '/a//b', allowed: false, code: 'INVALID_PATH' },
  ],
  [
    'encoded dots are refused',
    { policies: [{ id: 'a' }], path: '/%2e%2e/x', allowed: false, code: 'INVALID_PATH' },
  ],
  ['backslash is refused', { policies: [{ id: 'a' }], path: ['a\\b'], allowed: false, code: 'INVALID_PATH' }],
  [
    'deny cannot be dodged with ..',
    {
      policies: [{ id: 'a' }, { id: 'd', effect: 'deny', paths: ['/admin/**'] }],
      path: '/x/../admin',
      allowed: false,
      code: 'INVALID_PATH',
    },
  ],

  // Claim substitution
  [
    'own customer',
    {
      policies: [{ id: 'own', paths: ['/customers/{claims.oid}/**'] }],
      path: `/customers/${OID}/orders`,
      allowed: true,
      code: 'ALLOWED',
    },
  ],
  [
    'other customer',
    {
      policies: [{ id: 'own', paths: ['/customers/{claims.oid}/**'] }],
      path: '/customers/someone-else',
      allowed: false,
      code: 'NO_MATCHING_POLICY',
    },
  ],
  [
    'numeric claim',
    {
      policies: [{ id: 'a', paths: ['/level/{claims.lvl}'] }],
      path: '/level/3',
      allowed: true,
      code: 'ALLOWED',
    },
  ],
  [
    'deny with a claim ignores case',
    {
      policies: [{ id: 'a' }, { id: 'd', effect: 'deny', paths: ['/blocked/{claims.oid}'] }],
      path: `/blocked/${OID.toUpperCase()}`,
      allowed: false,
      code: 'EXPLICIT_DENY',
    },
  ],
  ...(
    [
      ['a/b', '/t/a/b'],
      ['*', '/t/anything'],
      ['*', '/t/*'],
      ['**', '/t/x/y'],
      ['..', '/t/x'],
      ['.', '/t/x'],
      ['', '/t/x'],
      ['%2e%2e', '/t/x'],
      ['x\\y', '/t/x'],
      [true, '/t/true'],
      [['x'], '/t/x'],
      [{ x: 1 }, '/t/x'],
      [undefined, '/t/undefined'],
    ] as Array<[unknown, string]>
  ).map(([value, path]): [string, Case] => [
    `hostile claim value ${JSON.stringify(value)} never matches ${path}`,
    {
      policies: [{ id: 'a', paths: ['/t/{claims.x}', '/t/{claims.x}/**'] }],
      who: principal({}, value === undefined ? {} : { x: value }),
      path,
      allowed: false,
      code: 'NO_MATCHING_POLICY',
    },
  ]),

  // Resource and action wildcards
  [
    'resource * applies to every resource',
    { policies: [{ id: 'a', resource: '*' }], resource: 'invoices', allowed: true, code: 'ALLOWED' },
  ],
  [
    'resource * deny beats an exact allow',
    {
      policies: [{ id: 'a' }, { id: 'd', resource: '*', effect: 'deny' }],
      allowed: false,
      code: 'EXPLICIT_DENY',
      ids: ['d'],
    },
  ],
  [
    'exact policies are named before * ones',
    { policies: [{ id: 'z' }, { id: 'a', resource: '*' }], allowed: true, code: 'ALLOWED', ids: ['z', 'a'] },
  ],
  [
    'action * covers delete',
    { policies: [{ id: 'a', actions: ['*'] }], action: 'delete', allowed: true, code: 'ALLOWED' },
  ],
  [
    'listed actions only',
    {
      policies: [{ id: 'a', actions: ['read', 'create'] }],
      action: 'write',
      allowed: false,
      code: 'NO_MATCHING_POLICY',
    },
  ],
  [
    'policy for another resource',
    { policies: [{ id: 'a', resource: 'invoices' }], allowed: false, code: 'NO_MATCHING_POLICY' },
  ],

  // Lifetime caps
  [
    'lifetime cap is the smallest of the allows',
    {
      policies: [
        { id: 'a', maxTokenLifetimeSeconds: 900 },
        { id: 'b', maxTokenLifetimeSeconds: 600 },
        { id: 'c' },
      ],
      allowed: true,
      code: 'ALLOWED',
      ids: ['a', 'b', 'c'],
      cap: 600,
    },
  ],
  // Groups overage: the caller's groups are unknown; a policy on groups never lets it pass
  [
    'overage: an allow on a group does not grant',
    {
      policies: [{ id: 'g', principals: { groups: [GROUP] } }],
      who: principal({ groups: [], groupsOverage: true }),
      allowed: false,
      code: 'NO_MATCHING_POLICY',
      ids: [],
    },
  ],
  [
    'overage: a deny on another group applies (filed under groups, found anyway)',
    {
      policies: [
        { id: 'a' },
        { id: 'd', effect: 'deny', principals: { groups: ['bbbbbbbb-0000-4000-8000-00000000000b'] } },
      ],
      who: principal({ groups: [], groupsOverage: true }),
      allowed: false,
      code: 'GROUPS_OVERAGE',
      ids: ['d'],
    },
  ],
  [
    'overage: a deny on a role and a group applies to a role holder',
    {
      policies: [
        { id: 'a' },
        {
          id: 'd',
          effect: 'deny',
          principals: { roles: ['Orders.Reader'], groups: ['bbbbbbbb-0000-4000-8000-00000000000b'] },
        },
      ],
      who: principal({ groups: [], groupsOverage: true }),
      allowed: false,
      code: 'GROUPS_OVERAGE',
      ids: ['d'],
    },
  ],
  [
    'overage: a deny on a role and a group spares a caller without the role',
    {
      policies: [{ id: 'a' }, { id: 'd', effect: 'deny', principals: { roles: ['Other'], groups: [GROUP] } }],
      who: principal({ groups: [], groupsOverage: true }),
      allowed: true,
      code: 'ALLOWED',
      ids: ['a'],
    },
  ],
  [
    'overage: a deny with a groups condition applies; its other conditions still count',
    {
      policies: [
        { id: 'a' },
        {
          id: 'd',
          effect: 'deny',
          conditions: [
            { claim: 'groups', operator: 'in', values: [GROUP] },
            { claim: 'ctry', operator: 'equals', value: 'NL' },
          ],
        },
        {
          id: 'e',
          effect: 'deny',
          conditions: [
            { claim: 'groups', operator: 'in', values: [GROUP] },
            { claim: 'ctry', operator: 'equals', value: 'DE' },
          ],
        },
      ],
      who: principal({ groups: [], groupsOverage: true }),
      allowed: false,
      code: 'GROUPS_OVERAGE',
      ids: ['d'],
    },
  ],
  [
    'overage: a matching deny elsewhere is named first as an explicit deny',
    {
      policies: [
        { id: 'a' },
        { id: 'd1', effect: 'deny', principals: { roles: ['Orders.Reader'] } },
        { id: 'd2', effect: 'deny', principals: { groups: [GROUP] } },
      ],
      who: principal({ groups: [], groupsOverage: true }),
      allowed: false,
      code: 'EXPLICIT_DENY',
      ids: ['d1', 'd2'],
    },
  ],
  [
    'overage: policies that never test groups decide as usual',
    {
      policies: [{ id: 'a' }, { id: 'd', effect: 'deny', principals: { roles: ['Other'] } }],
      who: principal({ groups: [], groupsOverage: true }),
      allowed: true,
      code: 'ALLOWED',
      ids: ['a'],
    },
  ],
];

describe('evaluatePolicies', () => {
  it(`has a broad table (${cases.length} cases)`, () => {
    expect(cases.length).toBeGreaterThanOrEqual(45);
  });

  it.each(cases)('%s', (_label, c) => {
    const index = compilePolicies(c.policies.map(policy));
    const decision = evaluatePolicies(index, {
      resource: c.resource ?? 'orders',
      action: c.action ?? 'read',
      path: c.path ?? '/customers/42',
      principal: c.who ?? principal(),
    });
    expect(decision.allowed).toBe(c.allowed);
    expect(decision.decision).toBe(c.allowed ? 'allow' : 'deny');
    expect(decision.reasonCode).toBe(c.code);
    if (c.ids !== undefined) expect(decision.policies).toEqual(c.ids);
    expect(decision.maxTokenLifetimeSeconds).toBe(c.cap);
    expect(decision.reason.length).toBeGreaterThan(0);
  });

  it.each<[string, Action, boolean]>([
    ['GET', 'read', true],
    ['HEAD', 'read', true],
    ['POST', 'create', false],
    ['PUT', 'write', true],
    ['PATCH', 'write', true],
    ['DELETE', 'delete', false],
  ])('method %s maps to %s', (method, action, allowed) => {
    const index = compilePolicies([policy({ id: 'rw', actions: ['read', 'write'] })]);
    expect(actionForMethod(method)).toBe(action);
    const decision = evaluatePolicies(index, {
      resource: 'orders',
      action,
      path: '/',
      principal: principal(),
    });
    expect(decision.allowed).toBe(allowed);
  });

  it('denies an action that is not one (defensive)', () => {
    const index = compilePolicies([policy({ id: 'a', actions: ['*'] })]);
    const decision = evaluatePolicies(index, {
      resource: 'orders',
      action: 'OPTIONS' as Action,
      path: '/',
      principal: principal(),
    });
    expect(decision).toMatchObject({ allowed: false, reasonCode: 'UNKNOWN_ACTION', policies: [] });
  });

  it('unknownResourceDecision is a deny with its own code', () => {
    expect(unknownResourceDecision('nope')).toMatchObject({
      allowed: false,
      decision: 'deny',
      reasonCode: 'UNKNOWN_RESOURCE',
      policies: [],
    });
  });

  it('reads only the candidate lists of (resource, action) and (*, action)', () => {
    const index = compilePolicies([
      policy({ id: 'o-read' }),
      policy({ id: 'o-all', actions: ['*'] }),
      policy({ id: 'i-read', resource: 'invoices' }),
      policy({ id: 'any-write', resource: '*', actions: ['write'] }),
      policy({ id: 'off', enabled: false }),
    ]);
    expect(index.byResource.get('orders')?.read.allow.map((p) => p.id)).toEqual(['o-all', 'o-read']);
    expect(index.byResource.get('orders')?.write.allow.map((p) => p.id)).toEqual(['o-all']);
    expect(index.byResource.get('orders')?.read.disabled.map((p) => p.id)).toEqual(['off']);
    expect(index.anyResource.write.allow.map((p) => p.id)).toEqual(['any-write']);
    expect(index.anyResource.read.allow).toEqual([]);
    expect(isPolicyActive(index, 'o-read', '')).toBe(true);
    expect(isPolicyActive(index, 'o-read', 'another-tag')).toBe(false);
    expect(isPolicyActive(index, 'off', '')).toBe(false);
    expect(isPolicyActive(index, 'gone', '')).toBe(false);
  });

  it.each([3, 70])(
    'names exact policies before %i `*` ones whether or not they are folded in',
    (wildcards) => {
      const stars = Array.from({ length: wildcards }, (_, i) =>
        policy({ id: `any-${String(i).padStart(3, '0')}`, resource: '*' }),
      );
      const index = compilePolicies([...stars, policy({ id: 'zz-exact' })]);
      expect(index.byResource.get('orders')?.read.includesAnyResource).toBe(wildcards <= 64);
      const decision = evaluatePolicies(index, {
        resource: 'orders',
        action: 'read',
        path: '/',
        principal: principal(),
      });
      expect(decision.policies).toHaveLength(wildcards + 1);
      expect(decision.policies[0]).toBe('zz-exact');
      expect(decision.policies[1]).toBe('any-000');
    },
  );

  it('a later document with the same id replaces the earlier one', () => {
    const index = compilePolicies([policy({ id: 'a' }), policy({ id: 'a', effect: 'deny' })]);
    expect(index.byId.size).toBe(1);
    expect(
      evaluatePolicies(index, { resource: 'orders', action: 'read', path: '/', principal: principal() })
        .reasonCode,
    ).toBe('EXPLICIT_DENY');
  });
});

describe('explainDecision', () => {
  it('says why each candidate did or did not match', () => {
    const index = compilePolicies([
      policy({ id: 'match' }),
      policy({ id: 'off', enabled: false }),
      policy({ id: 'role', principals: { roles: ['X'] } }),
      policy({ id: 'cond', conditions: [{ claim: 'ctry', operator: 'equals', value: 'DE' }] }),
      policy({ id: 'path', paths: ['/elsewhere'] }),
      policy({ id: 'other-resource', resource: 'invoices' }),
    ]);
    const { decision, candidates } = explainDecision(index, {
      resource: 'orders',
      action: 'read',
      path: '/customers/42',
      principal: principal(),
    });
    expect(decision.policies).toEqual(['match']);
    expect(Object.fromEntries(candidates.map((c) => [c.id, c.outcome]))).toEqual({
      match: 'matched',
      off: 'disabled',
      role: 'principals',
      cond: 'conditions',
      path: 'path',
    });
  });
});

describe('evaluateScope', () => {
  const policies = [
    policy({
      id: 'own',
      paths: ['/customers/{claims.oid}/**'],
      actions: ['read', 'create'],
      maxTokenLifetimeSeconds: 600,
    }),
    policy({ id: 'one-level', paths: ['/shop/*'], actions: ['create'] }),
    policy({ id: 'catalog', paths: ['/catalog/**'], actions: ['read'], maxTokenLifetimeSeconds: 1200 }),
    policy({ id: 'no-secrets', effect: 'deny', paths: ['/catalog/**/secret'], actions: ['*'] }),
    policy({ id: 'writers', paths: ['/**'], actions: ['write'], principals: { roles: ['Orders.Writer'] } }),
  ];
  const index = compilePolicies(policies);

  it.each<[string, string, Action[], boolean, ReasonCode, string[], number | undefined]>([
    ['own subtree, read+create', `/customers/${OID}`, ['read', 'create'], true, 'ALLOWED', ['own'], 600],
    ['own subtree below', `/customers/${OID}/orders`, ['read'], true, 'ALLOWED', ['own'], 600],
    ['other customer', '/customers/someone', ['read'], false, 'NO_MATCHING_POLICY', [], undefined],
    ['all customers', '/customers', ['read'], false, 'NO_MATCHING_POLICY', [], undefined],
    [
      'a one-level glob does not cover a subtree',
      '/shop/items',
      ['create'],
      false,
      'NO_MATCHING_POLICY',
      [],
      undefined,
    ],
    [
      'a deny reaching into the subtree refuses it',
      '/catalog',
      ['read'],
      false,
      'EXPLICIT_DENY',
      [],
      undefined,
    ],
    ['a deny outside the subtree does not', `/customers/${OID}`, ['read'], true, 'ALLOWED', ['own'], 600],
    [
      'one refused action refuses the scope',
      `/customers/${OID}`,
      ['read', 'delete'],
      false,
      'NO_MATCHING_POLICY',
      [],
      undefined,
    ],
    ['role-gated action', '/customers', ['write'], false, 'NO_MATCHING_POLICY', [], undefined],
    [
      'a deny anywhere below the root refuses the root',
      '/',
      ['write'],
      false,
      'EXPLICIT_DENY',
      [],
      undefined,
    ],
    ['invalid prefix', '/customers/../x', ['read'], false, 'INVALID_PATH', [], undefined],
    ['no action', '/', [], false, 'UNKNOWN_ACTION', [], undefined],
  ])('%s', (_label, prefix, actions, allowed, code, ids, cap) => {
    const decision = evaluateScope(index, {
      resource: 'orders',
      actions,
      pathPrefix: prefix,
      principal: principal(),
    });
    expect(decision.allowed).toBe(allowed);
    expect(decision.reasonCode).toBe(code);
    expect(decision.policies).toEqual(ids);
    expect(decision.maxTokenLifetimeSeconds).toBe(cap);
  });

  it('names the denies per action and every granting allow for spi', () => {
    const writer = principal({ roles: ['Orders.Writer'] });
    const granted = evaluateScope(index, {
      resource: 'orders',
      actions: ['write', 'read'],
      pathPrefix: `/customers/${OID}`,
      principal: writer,
    });
    expect(granted).toMatchObject({
      allowed: true,
      policies: ['own', 'writers'],
      maxTokenLifetimeSeconds: 600,
    });
    const denied = evaluateScope(index, {
      resource: 'orders',
      actions: ['read'],
      pathPrefix: ['catalog', 'x'],
      principal: writer,
    });
    expect(denied.actions[0]).toMatchObject({ action: 'read', allowed: false, policies: ['no-secrets'] });
  });
});

describe('requireDpop (an allow that grants only DPoP-bound tokens)', () => {
  const index = compilePolicies([
    policy({ id: 'bound-only', requireDpop: true, principals: { roles: ['Orders.Reader'] } }),
    policy({ id: 'writers', actions: ['write'] }),
  ]);
  const request = { resource: 'orders', action: 'read' as const, path: '/customers/1' };

  it('does not match a caller without a DPoP proof, whatever its claims say', () => {
    // Not even a token claim named like the marker: only the gateway's own field counts.
    const caller = principal({}, { 'dpop-bound': true, dpopBound: true, cnf: { jkt: 'x' } });
    expect(evaluatePolicies(index, { ...request, principal: caller })).toMatchObject({
      allowed: false,
      reasonCode: 'NO_MATCHING_POLICY',
    });
    expect(explainDecision(index, { ...request, principal: caller }).candidates).toContainEqual({
      id: 'bound-only',
      effect: 'allow',
      outcome: 'dpop',
    });
  });

  it('matches a caller the gateway marked as bound, for a decision and a scope', () => {
    const caller = principal();
    const bound = { ...caller, dpopBound: true };
    expect(evaluatePolicies(index, { ...request, principal: bound })).toMatchObject({
      allowed: true,
      policies: ['bound-only'],
    });
    expect(
      evaluateScope(index, { resource: 'orders', actions: ['read'], pathPrefix: [], principal: bound }),
    ).toMatchObject({ allowed: true, policies: ['bound-only'] });
    expect(bound.claims).toBe(caller.claims); // the token's claims are untouched
  });

  it('is refused on a deny policy (a deny must not depend on how the credential is presented)', () => {
    expect(
      parsePolicy({ id: 'd', effect: 'deny', resource: 'orders', actions: ['read'], requireDpop: true }),
    ).toEqual({
      ok: false,
      field: 'requireDpop',
      error: 'requireDpop: only an allow policy can require DPoP',
    });
  });
});
