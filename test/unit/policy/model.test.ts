import { parsePolicy, parseResource, POLICY_LIMITS } from '../../../src/policy/model';

const basePolicy = { id: 'orders-read-own', effect: 'allow', resource: 'orders', actions: ['read'] };
const baseResource = {
  name: 'orders',
  upstream: 'https://func-orders.azurewebsites.net/api',
  auth: { type: 'none' },
};
const HOSTS_LIST = ['*.azurewebsites.net', '127.0.0.1', 'localhost'];
/** The deployment's rules: these hosts, and the one key setting listed (DOWNSTREAM_KEY_SETTINGS). */
const HOSTS = { allowedHosts: HOSTS_LIST, keySettings: ['ORDERS_KEY'] };

describe('parsePolicy', () => {
  it('accepts the contract example and keeps every field', () => {
    const doc = {
      id: 'orders-read-own',
      effect: 'allow',
      resource: 'orders',
      paths: ['/customers/{claims.oid}/**'],
      actions: ['read'],
      principals: { roles: ['Orders.Reader'] },
      conditions: [{ claim: 'ctry', operator: 'in', values: ['NL', 'DE'] }],
      maxTokenLifetimeSeconds: 600,
      enabled: true,
      description: 'Readers see their own orders',
    };
    expect(parsePolicy(doc)).toEqual({ ok: true, value: doc });
  });

  it('fills in the defaults', () => {
    const result = parsePolicy(basePolicy);
    expect(result.ok && result.value.paths).toEqual(['/**']);
    expect(result.ok && result.value.enabled).toBe(true);
  });

  it.each<[string, Record<string, unknown>]>([
    ['resource *', { resource: '*' }],
    ['action *', { actions: ['*'] }],
    ['every action', { actions: ['read', 'create', 'write', 'delete'] }],
    ['deny', { effect: 'deny' }],
    ['disabled', { enabled: false }],
    ['id with . _ : -', { id: 'A.b_c:d-9' }],
    [
      'every principal list',
      {
        principals: {
          roles: ['r'],
          scopes: ['s'],
          groups: ['g'],
          tenants: ['t'],
          clients: ['c'],
          users: ['u'],
        },
      },
    ],
    ['empty principals object', { principals: {} }],
    ['equals string', { conditions: [{ claim: 'ctry', operator: 'equals', value: 'NL' }] }],
    ['equals number', { conditions: [{ claim: 'lvl', operator: 'equals', value: 3 }] }],
    ['equals boolean', { conditions: [{ claim: 'mfa', operator: 'equals', value: true }] }],
    ['notIn', { conditions: [{ claim: 'ctry', operator: 'notIn', values: ['RU'] }] }],
    ['exists', { conditions: [{ claim: 'ctry', operator: 'exists' }] }],
    [
      'URI claim name',
      {
        conditions: [
          { claim: 'http://schemas.microsoft.com/claims/authnmethodsreferences', operator: 'exists' },
        ],
      },
    ],
    ['root path', { paths: ['/'] }],
  ])('accepts %s', (_label, patch) => {
    expect(parsePolicy({ ...basePolicy, ...patch }).ok).toBe(true);
  });

  it.each<[string, unknown, string]>([
    ['not an object', 'nope', ''],
    ['unknown top-level field', { ...basePolicy, principal: { roles: ['r'] } }, 'principal'],
    ['unknown principals field', { ...basePolicy, principals: { role: ['r'] } }, 'principals.role'],
    [
      'unknown condition field',
      { ...basePolicy, conditions: [{ claim: 'c', operator: 'exists', value: 1 }] },
      'conditions[0].value',
    ],
    ['missing id', { ...basePolicy, id: undefined }, 'id'],
    ['bad id character', { ...basePolicy, id: 'a/b' }, 'id'],
    ['empty id', { ...basePolicy, id: '' }, 'id'],
    ['id too long', { ...basePolicy, id: 'a'.repeat(129) }, 'id'],
    ['bad effect', { ...basePolicy, effect: 'permit' }, 'effect'],
    ['bad resource', { ...basePolicy, resource: 'Orders' }, 'resource'],
    ['empty actions', { ...basePolicy, actions: [] }, 'actions'],
    ['bad action', { ...basePolicy, actions: ['read', 'GET'] }, 'actions[1]'],
    ['empty paths', { ...basePolicy, paths: [] }, 'paths'],
    ['glob with ..', { ...basePolicy, paths: ['/a', '/b', '/c/../d'] }, 'paths[2]'],
    ['glob without /', { ...basePolicy, paths: ['orders'] }, 'paths[0]'],
    ['glob with %', { ...basePolicy, paths: ['/a%2e'] }, 'paths[0]'],
    ['glob with backslash', { ...basePolicy, paths: ['/a\\b'] }, 'paths[0]'],
    ['partial wildcard', { ...basePolicy, paths: ['/*.json'] }, 'paths[0]'],
    ['partial placeholder', { ...basePolicy, paths: ['/u-{claims.oid}'] }, 'paths[0]'],
    [
      'too many paths',
      { ...basePolicy, paths: Array.from({ length: POLICY_LIMITS.maxPaths + 1 }, (_, i) => `/p${i}`) },
      'paths',
    ],
    ['empty role list', { ...basePolicy, principals: { roles: [] } }, 'principals.roles'],
    ['empty role', { ...basePolicy, principals: { roles: [''] } }, 'principals.roles[0]'],
    [
      'unknown operator',
      { ...basePolicy, conditions: [{ claim: 'c', operator: 'like', value: 'x' }] },
      'conditions[0].operator',
    ],
    [
      'in with value',
      { ...basePolicy, conditions: [{ claim: 'c', operator: 'in', value: 'x' }] },
      'conditions[0].values',
    ],
    [
      'in with empty values',
      { ...basePolicy, conditions: [{ claim: 'c', operator: 'in', values: [] }] },
      'conditions[0].values',
    ],
    [
      'equals without value',
      { ...basePolicy, conditions: [{ claim: 'c', operator: 'equals' }] },
      'conditions[0].value',
    ],
    [
      'equals with object',
      { ...basePolicy, conditions: [{ claim: 'c', operator: 'equals', value: {} }] },
      'conditions[0].value',
    ],
    [
      'empty claim name',
      { ...basePolicy, conditions: [{ claim: '', operator: 'exists' }] },
      'conditions[0].claim',
    ],
    ['zero lifetime', { ...basePolicy, maxTokenLifetimeSeconds: 0 }, 'maxTokenLifetimeSeconds'],
    ['fractional lifetime', { ...basePolicy, maxTokenLifetimeSeconds: 1.5 }, 'maxTokenLifetimeSeconds'],
    ['string enabled', { ...basePolicy, enabled: 'true' }, 'enabled'],
    ['long description', { ...basePolicy, description: 'x'.repeat(1025) }, 'description'],
  ])('refuses %s, naming %j', (_label, doc, field) => {
    const result = parsePolicy(doc);
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.field).toBe(field);
      expect(result.error.startsWith(`${field || '(document)'}: `)).toBe(true);
    }
  });
});

describe('parseResource', () => {
  it('accepts the contract example and defaults timeoutMs, boundStatement and quotaStoreFailure', () => {
    expect(parseResource(baseResource, HOSTS)).toEqual({
      ok: true,
      value: { ...baseResource, timeoutMs: 30000, boundStatement: false, quotaStoreFailure: 'allow' },
    });
  });

  it.each<[string, Record<string, unknown>, boolean]>([
    ['a statement audience', { audience: 'api://orders-downstream' }, true],
    ['bound statements', { boundStatement: true }, true],
    ['an empty audience', { audience: '' }, false],
    ['an audience with spaces', { audience: 'a b' }, false],
    ['boundStatement not a boolean', { boundStatement: 'yes' }, false],
  ])('%s', (_name, extra, ok) => {
    expect(parseResource({ ...baseResource, ...extra }, HOSTS).ok).toBe(ok);
  });

  it.each<[string, Record<string, unknown>]>([
    ['functionKey', { auth: { type: 'functionKey', keySetting: 'ORDERS_KEY' } }],
    ['managedIdentity', { auth: { type: 'managedIdentity', scope: 'api://0000-1111/.default' } }],
    ['onBehalfOf', { auth: { type: 'onBehalfOf', scopes: ['api://orders/Orders.Read'] } }],
    ['http on loopback', { upstream: 'http://127.0.0.1:7072/api' }],
    ['http on localhost', { upstream: 'http://localhost:7072' }],
    ['timeout', { timeoutMs: 300000 }],
    ['one-character name', { name: 'a' }],
  ])('accepts %s', (_label, patch) => {
    expect(parseResource({ ...baseResource, ...patch }, HOSTS).ok).toBe(true);
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['unknown field', { id: 'orders' }, 'id'],
    ['bad name', { name: '-orders' }, 'name'],
    ['upper-case name', { name: 'Orders' }, 'name'],
    ['host not allowed', { upstream: 'https://evil.example.com/api' }, 'upstream'],
    ['bare suffix host', { upstream: 'https://azurewebsites.net/api' }, 'upstream'],
    ['http non-loopback', { upstream: 'http://func-orders.azurewebsites.net/api' }, 'upstream'],
    ['not a URL', { upstream: 'orders' }, 'upstream'],
    ['credentials in URL', { upstream: 'https://u:p@func-orders.azurewebsites.net' }, 'upstream'],
    ['query in URL', { upstream: 'https://func-orders.azurewebsites.net/api?code=x' }, 'upstream'],
    ['ftp', { upstream: 'ftp://127.0.0.1/' }, 'upstream'],
    ['unknown auth type', { auth: { type: 'basic' } }, 'auth.type'],
    ['auth extra field', { auth: { type: 'none', key: 'x' } }, 'auth.key'],
    ['functionKey without setting', { auth: { type: 'functionKey' } }, 'auth.keySetting'],
    [
      'functionKey bad setting name',
      { auth: { type: 'functionKey', keySetting: 'ORDERS-KEY' } },
      'auth.keySetting',
    ],
    [
      'functionKey reading the SAS keys',
      { auth: { type: 'functionKey', keySetting: 'SAS_SIGNING_KEYS' } },
      'auth.keySetting',
    ],
    [
      'functionKey reading the Cosmos key',
      { auth: { type: 'functionKey', keySetting: 'COSMOS_KEY' } },
      'auth.keySetting',
    ],
    [
      'functionKey reading platform storage',
      { auth: { type: 'functionKey', keySetting: 'AzureWebJobsStorage' } },
      'auth.keySetting',
    ],
    ...[
      'CONTAINER_ENCRYPTION_KEY',
      'CONTAINER_START_CONTEXT_SAS_URI',
      'APPINSIGHTS_INSTRUMENTATIONKEY',
      'OTHER_DOWNSTREAM_KEY',
      'orders_key',
    ].map((keySetting): [string, Record<string, unknown>, string] => [
      `functionKey naming a setting not listed in DOWNSTREAM_KEY_SETTINGS (${keySetting})`,
      { auth: { type: 'functionKey', keySetting } },
      'auth.keySetting',
    ]),
    [
      'managedIdentity without .default',
      { auth: { type: 'managedIdentity', scope: 'api://x/Orders.Read' } },
      'auth.scope',
    ],
    ['onBehalfOf empty scopes', { auth: { type: 'onBehalfOf', scopes: [] } }, 'auth.scopes'],
    ['onBehalfOf blank scope', { auth: { type: 'onBehalfOf', scopes: ['a b'] } }, 'auth.scopes[0]'],
    ['zero timeout', { timeoutMs: 0 }, 'timeoutMs'],
    ['timeout too long', { timeoutMs: 300001 }, 'timeoutMs'],
  ])('refuses %s, naming %j', (_label, patch, field) => {
    const result = parseResource({ ...baseResource, ...patch }, HOSTS);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.field).toBe(field);
  });

  it('refuses an upstream when no host is allowed', () => {
    const result = parseResource(baseResource, { allowedHosts: [], keySettings: [] });
    expect(result.ok ? '' : result.field).toBe('upstream');
  });
});
