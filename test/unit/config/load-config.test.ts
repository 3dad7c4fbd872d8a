import { ConfigError, loadConfig, type Environment } from '../../../src/config/load-config';
import { generateKeyPairSync } from 'node:crypto';
import { DEFAULTS } from '../../../src/config/defaults';

const TENANT = '9f1c2c3e-0d1a-4b7e-9c55-2f0c6d1e7a01';
const OTHER_TENANT = '11111111-2222-4333-8444-555555555555';
const KEY_A = Buffer.alloc(32, 1).toString('base64');
const KEY_B = Buffer.alloc(48, 2).toString('base64url');
const pkcs8 = (type: 'ec' | 'rsa', options: object) =>
  (
    generateKeyPairSync(type as 'ec', options as { namedCurve: string }).privateKey.export({
      format: 'der',
      type: 'pkcs8',
    }) as Buffer
  ).toString('base64');
const EC_KEY = pkcs8('ec', { namedCurve: 'P-256' });

/** The smallest environment the Functions host accepts. */
const valid: Environment = {
  ENTRA_AUTHORITY: 'https://login.microsoftonline.com',
  ENTRA_TENANT_ID: TENANT,
  ENTRA_AUDIENCES: '5e7d1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b,api://gateway',
  COSMOS_ENDPOINT: 'https://acct.documents.azure.com:443/',
  SAS_SIGNING_KEYS: `k1=${KEY_A}`,
  STATEMENT_SIGNING_KEYS: `s1=${EC_KEY}`,
  DOWNSTREAM_ALLOWED_HOSTS: '*.azurewebsites.net',
};

function failure(env: Environment, mode: 'functions' | 'local' = 'functions'): ConfigError {
  try {
    loadConfig(env, { mode });
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('applies the contract defaults', () => {
    const config = loadConfig(valid, { mode: 'functions' });
    expect(config.entra.clockSkewSeconds).toBe(60);
    expect(config.adminRole).toBe('Gateway.Admin');
    expect(config.cosmos.database).toBe('gateway');
    expect(config.cosmos.key).toBeUndefined();
    expect(config.sas.defaultTtlSeconds).toBe(300);
    expect(config.sas.maxTtlSeconds).toBe(3600);
    expect(config.policyRefreshSeconds).toBe(10);
    expect(config.policyMaxStalenessSeconds).toBe(30);
    expect(config.proxyMaxBodyBytes).toBe(104_857_600);
    expect(config.port).toBe(7071);
    expect(config.entra.allowedTenants).toEqual([TENANT]);
    expect(config.entra.multiTenant).toBe(false);
    expect(config.entra.authority).toBe('https://login.microsoftonline.com');
  });

  it('returns a deeply frozen object', () => {
    const config = loadConfig(valid, { mode: 'functions' });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.entra)).toBe(true);
    expect(Object.isFrozen(config.entra.audiences)).toBe(true);
    expect(Object.isFrozen(config.sas.signingKeys[0])).toBe(true);
  });

  it('parses key rings in order: the first signs', () => {
    const config = loadConfig(
      { ...valid, SAS_SIGNING_KEYS: `new=${KEY_B}, old=${KEY_A}` },
      { mode: 'functions' },
    );
    expect(config.sas.signingKeys.map((k) => k.name)).toEqual(['new', 'old']);
    expect(config.sas.signingKeys[0]?.secret.length).toBe(48);
  });

  it('accepts multi-tenant mode with allowed tenants', () => {
    const config = loadConfig(
      {
        ...valid,
        ENTRA_TENANT_ID: 'organizations',
        ENTRA_ALLOWED_TENANTS: `${TENANT},${OTHER_TENANT.toUpperCase()}`,
      },
      { mode: 'functions' },
    );
    expect(config.entra.multiTenant).toBe(true);
    expect(config.entra.allowedTenants).toEqual([TENANT, OTHER_TENANT]);
  });

  it('allows plain http only on loopback hosts', () => {
    expect(
      loadConfig({ ...valid, ENTRA_AUTHORITY: 'http://127.0.0.1:7072' }, { mode: 'functions' }).entra
        .authority,
    ).toBe('http://127.0.0.1:7072');
    expect(
      loadConfig({ ...valid, ENTRA_AUTHORITY: 'http://[::1]:7072/' }, { mode: 'functions' }).entra.authority,
    ).toBe('http://[::1]:7072');
  });

  it('generates a SAS key and allows loopback downstreams in the local stack, with a warning', () => {
    const warnings: string[] = [];
    const { SAS_SIGNING_KEYS: _k, DOWNSTREAM_ALLOWED_HOSTS: _h, ...rest } = valid;
    const config = loadConfig(rest, { mode: 'local', warn: (line) => warnings.push(line) });
    expect(config.sas.keysGenerated).toBe(true);
    expect(config.sas.signingKeys[0]?.secret.length).toBe(32);
    expect(config.downstreamAllowedHosts).toEqual(DEFAULTS.localDownstreamAllowedHosts);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('SAS_SIGNING_KEYS');
  });

  it('lists no usable function key setting under the host unless DOWNSTREAM_KEY_SETTINGS says so', () => {
    expect(loadConfig(valid, { mode: 'functions' }).downstreamKeySettings).toEqual([]);
    const { SAS_SIGNING_KEYS: _k, ...local } = valid;
    expect(loadConfig(local, { mode: 'local' }).downstreamKeySettings).toEqual(['ORDERS_KEY']);
    expect(
      loadConfig({ ...valid, DOWNSTREAM_KEY_SETTINGS: 'ORDERS_KEY, billing_fn_key' }, { mode: 'functions' })
        .downstreamKeySettings,
    ).toEqual(['ORDERS_KEY', 'billing_fn_key']);
  });

  it('reads DPOP_REPLAY_STORE as shared, local or (with REDIS_URL) redis, shared by default', () => {
    const store = (value: string | undefined) =>
      loadConfig(
        { ...valid, DPOP_REPLAY_STORE: value, REDIS_URL: 'rediss://c.example.net:10000' },
        { mode: 'functions' },
      ).dpopReplayStore;
    expect([store(undefined), store('shared'), store('local'), store('redis')]).toEqual([
      'shared',
      'shared',
      'local',
      'redis',
    ]);
  });

  it.each([
    [
      'rediss://gw.swedencentral.redis.azure.net:10000',
      { host: 'gw.swedencentral.redis.azure.net', port: 10000, tls: true, password: undefined },
    ],
    ['redis://127.0.0.1:6380', { host: '127.0.0.1', port: 6380, tls: false, password: undefined }],
    [
      'rediss://default:s%40cret@cache.example.net',
      { host: 'cache.example.net', port: 6379, tls: true, username: 'default', password: 's@cret' },
    ],
    ['redis://[::1]:7000/2', { host: '::1', port: 7000, tls: false, database: 2 }],
  ])('reads REDIS_URL %s', (url, expected) => {
    expect(loadConfig({ ...valid, REDIS_URL: url }, { mode: 'functions' }).redis).toMatchObject(expected);
  });

  it('leaves Redis out (quotas per instance) without REDIS_URL', () => {
    expect(loadConfig(valid, { mode: 'functions' }).redis).toBeUndefined();
  });

  it('reads ENTRA_ALLOW_ACL_AUTHORIZATION as true or false, false by default', () => {
    const allow = (value: string | undefined) =>
      loadConfig({ ...valid, ENTRA_ALLOW_ACL_AUTHORIZATION: value }, { mode: 'functions' }).entra
        .allowAclAuthorization;
    expect(allow(undefined)).toBe(false);
    expect(allow('true')).toBe(true);
    expect(allow('false')).toBe(false);
  });

  it('treats an empty setting as unset', () => {
    expect(
      loadConfig({ ...valid, ENTRA_CLOCK_SKEW_SECONDS: '  ' }, { mode: 'functions' }).entra.clockSkewSeconds,
    ).toBe(60);
  });

  // Each row: the settings changed, the setting the one-line error must name.
  it.each<[string, Environment, string]>([
    ['authority missing', { ENTRA_AUTHORITY: undefined }, 'ENTRA_AUTHORITY'],
    ['authority not a URL', { ENTRA_AUTHORITY: 'login.microsoftonline.com' }, 'ENTRA_AUTHORITY'],
    [
      'authority plain http off loopback',
      { ENTRA_AUTHORITY: 'http://login.microsoftonline.com' },
      'ENTRA_AUTHORITY',
    ],
    [
      'authority with credentials',
      { ENTRA_AUTHORITY: 'https://u:p@login.microsoftonline.com' },
      'ENTRA_AUTHORITY',
    ],
    [
      'authority with a query',
      { ENTRA_AUTHORITY: 'https://login.microsoftonline.com/?x=1' },
      'ENTRA_AUTHORITY',
    ],
    ['authority ftp', { ENTRA_AUTHORITY: 'ftp://127.0.0.1' }, 'ENTRA_AUTHORITY'],
    ['tenant missing', { ENTRA_TENANT_ID: undefined }, 'ENTRA_TENANT_ID'],
    ['tenant not a GUID', { ENTRA_TENANT_ID: 'contoso.onmicrosoft.com' }, 'ENTRA_TENANT_ID'],
    ['tenant "consumers"', { ENTRA_TENANT_ID: 'consumers' }, 'ENTRA_TENANT_ID'],
    ['multi-tenant without allowed tenants', { ENTRA_TENANT_ID: 'common' }, 'ENTRA_ALLOWED_TENANTS'],
    [
      'allowed tenants not GUIDs',
      { ENTRA_TENANT_ID: 'organizations', ENTRA_ALLOWED_TENANTS: 'a,b' },
      'ENTRA_ALLOWED_TENANTS',
    ],
    [
      'allowed tenants without the single tenant',
      { ENTRA_ALLOWED_TENANTS: OTHER_TENANT },
      'ENTRA_ALLOWED_TENANTS',
    ],
    ['audiences missing', { ENTRA_AUDIENCES: undefined }, 'ENTRA_AUDIENCES'],
    ['audience neither GUID nor URI', { ENTRA_AUDIENCES: 'my-api' }, 'ENTRA_AUDIENCES'],
    ['audience list of commas', { ENTRA_AUDIENCES: ',,' }, 'ENTRA_AUDIENCES'],
    ['skew not a number', { ENTRA_CLOCK_SKEW_SECONDS: 'abc' }, 'ENTRA_CLOCK_SKEW_SECONDS'],
    ['skew negative', { ENTRA_CLOCK_SKEW_SECONDS: '-5' }, 'ENTRA_CLOCK_SKEW_SECONDS'],
    ['skew fractional', { ENTRA_CLOCK_SKEW_SECONDS: '1.5' }, 'ENTRA_CLOCK_SKEW_SECONDS'],
    ['skew above 10 minutes', { ENTRA_CLOCK_SKEW_SECONDS: '601' }, 'ENTRA_CLOCK_SKEW_SECONDS'],
    [
      'ACL authorization not a boolean',
      { ENTRA_ALLOW_ACL_AUTHORIZATION: 'yes' },
      'ENTRA_ALLOW_ACL_AUTHORIZATION',
    ],
    [
      'ACL authorization in capitals',
      { ENTRA_ALLOW_ACL_AUTHORIZATION: 'TRUE' },
      'ENTRA_ALLOW_ACL_AUTHORIZATION',
    ],
    ['admin role with a space', { GATEWAY_ADMIN_ROLE: 'Gateway Admin' }, 'GATEWAY_ADMIN_ROLE'],
    [
      'a replay store that is none of shared, local, redis',
      { DPOP_REPLAY_STORE: 'cosmos' },
      'DPOP_REPLAY_STORE',
    ],
    ['the redis replay store without REDIS_URL', { DPOP_REPLAY_STORE: 'redis' }, 'DPOP_REPLAY_STORE'],
    ['a Redis URL that is not one', { REDIS_URL: 'cache.example.net:10000' }, 'REDIS_URL'],
    ['a Redis URL of another scheme', { REDIS_URL: 'https://cache.example.net' }, 'REDIS_URL'],
    ['plain redis:// off loopback', { REDIS_URL: 'redis://cache.example.net:10000' }, 'REDIS_URL'],
    ['a Redis URL with a query', { REDIS_URL: 'rediss://cache.example.net:10000?tls=1' }, 'REDIS_URL'],
    ['a Redis URL with a path', { REDIS_URL: 'rediss://cache.example.net:10000/keys' }, 'REDIS_URL'],
    ['cosmos endpoint missing', { COSMOS_ENDPOINT: undefined }, 'COSMOS_ENDPOINT'],
    ['cosmos endpoint plain http', { COSMOS_ENDPOINT: 'http://acct.documents.azure.com' }, 'COSMOS_ENDPOINT'],
    ['database id with a slash', { COSMOS_DATABASE: 'a/b' }, 'COSMOS_DATABASE'],
    ['SAS keys missing under the host', { SAS_SIGNING_KEYS: undefined }, 'SAS_SIGNING_KEYS'],
    ['SAS key without a name', { SAS_SIGNING_KEYS: KEY_A }, 'SAS_SIGNING_KEYS'],
    [
      'SAS key under 32 bytes',
      { SAS_SIGNING_KEYS: `k=${Buffer.alloc(31).toString('base64')}` },
      'SAS_SIGNING_KEYS',
    ],
    ['SAS key not base64', { SAS_SIGNING_KEYS: 'k=not*base64!' }, 'SAS_SIGNING_KEYS'],
    ['SAS key name twice', { SAS_SIGNING_KEYS: `k=${KEY_A},k=${KEY_B}` }, 'SAS_SIGNING_KEYS'],
    [
      'statement keys missing under the host',
      { STATEMENT_SIGNING_KEYS: undefined },
      'STATEMENT_SIGNING_KEYS',
    ],
    ['statement key not base64', { STATEMENT_SIGNING_KEYS: 's=not*base64!' }, 'STATEMENT_SIGNING_KEYS'],
    ['statement key not a private key', { STATEMENT_SIGNING_KEYS: `s=${KEY_A}` }, 'STATEMENT_SIGNING_KEYS'],
    [
      'statement key on another curve (P-384)',
      { STATEMENT_SIGNING_KEYS: `s=${pkcs8('ec', { namedCurve: 'P-384' })}` },
      'STATEMENT_SIGNING_KEYS',
    ],
    [
      'statement key of RSA',
      { STATEMENT_SIGNING_KEYS: `s=${pkcs8('rsa', { modulusLength: 2048 })}` },
      'STATEMENT_SIGNING_KEYS',
    ],
    [
      'statement key name twice',
      { STATEMENT_SIGNING_KEYS: `s=${EC_KEY},s=${EC_KEY}` },
      'STATEMENT_SIGNING_KEYS',
    ],
    ['issuer not https', { GATEWAY_ISSUER: 'http://gw.example.com/api' }, 'GATEWAY_ISSUER'],
    [
      'SAS default above max',
      { SAS_DEFAULT_TTL_SECONDS: '900', SAS_MAX_TTL_SECONDS: '600' },
      'SAS_DEFAULT_TTL_SECONDS',
    ],
    ['SAS default zero', { SAS_DEFAULT_TTL_SECONDS: '0' }, 'SAS_DEFAULT_TTL_SECONDS'],
    ['SAS max not a number', { SAS_MAX_TTL_SECONDS: '1h' }, 'SAS_MAX_TTL_SECONDS'],
    [
      'downstream hosts missing under the host',
      { DOWNSTREAM_ALLOWED_HOSTS: undefined },
      'DOWNSTREAM_ALLOWED_HOSTS',
    ],
    [
      'downstream host with a path',
      { DOWNSTREAM_ALLOWED_HOSTS: 'example.net/api' },
      'DOWNSTREAM_ALLOWED_HOSTS',
    ],
    ['downstream host bare wildcard', { DOWNSTREAM_ALLOWED_HOSTS: '*' }, 'DOWNSTREAM_ALLOWED_HOSTS'],
    ['key setting not a name', { DOWNSTREAM_KEY_SETTINGS: 'ORDERS-KEY' }, 'DOWNSTREAM_KEY_SETTINGS'],
    [
      'key setting is the SAS keys',
      { DOWNSTREAM_KEY_SETTINGS: 'A_KEY,SAS_SIGNING_KEYS' },
      'DOWNSTREAM_KEY_SETTINGS',
    ],
    ['key setting is the Cosmos key', { DOWNSTREAM_KEY_SETTINGS: 'cosmos_key' }, 'DOWNSTREAM_KEY_SETTINGS'],
    ['refresh zero', { POLICY_REFRESH_SECONDS: '0' }, 'POLICY_REFRESH_SECONDS'],
    ['staleness bound not a number', { POLICY_MAX_STALENESS_SECONDS: '30s' }, 'POLICY_MAX_STALENESS_SECONDS'],
    [
      'staleness bound under two refresh intervals',
      { POLICY_REFRESH_SECONDS: '10', POLICY_MAX_STALENESS_SECONDS: '19' },
      'POLICY_MAX_STALENESS_SECONDS',
    ],
    ['body limit not a number', { PROXY_MAX_BODY_BYTES: '10MB' }, 'PROXY_MAX_BODY_BYTES'],
    ['port out of range', { PORT: '70000' }, 'PORT'],
  ])('refuses %s, naming the setting', (_case, change, setting) => {
    const err = failure({ ...valid, ...change });
    expect(err.setting).toBe(setting);
    expect(err.message.startsWith(`${setting}: `)).toBe(true);
    expect(err.message).not.toContain('\n');
  });

  it('never echoes a secret in its error', () => {
    const secret = Buffer.alloc(16, 7).toString('base64');
    const err = failure({ ...valid, SAS_SIGNING_KEYS: `k=${secret}` });
    expect(err.message).not.toContain(secret);
  });
});

describe('loadConfig warnings', () => {
  it('reports a wrong setting without first warning about generated keys', () => {
    const warnings: string[] = [];
    expect(() =>
      loadConfig(
        { ...valid, SAS_SIGNING_KEYS: undefined, PORT: 'x' },
        { mode: 'local', warn: (line) => warnings.push(line) },
      ),
    ).toThrow(ConfigError);
    expect(warnings).toEqual([]);
  });
});

describe('POLICY_MAX_STALENESS_SECONDS', () => {
  it.each<[Environment, number]>([
    [{}, 30],
    [{ POLICY_REFRESH_SECONDS: '2' }, 6],
    [{ POLICY_REFRESH_SECONDS: '2', POLICY_MAX_STALENESS_SECONDS: '4' }, 4],
    [{ POLICY_MAX_STALENESS_SECONDS: '3600' }, 3600],
  ])('%j gives %i s (three refresh intervals unless set)', (change, seconds) => {
    expect(loadConfig({ ...valid, ...change }, { mode: 'functions' }).policyMaxStalenessSeconds).toBe(
      seconds,
    );
  });
});

describe('the on-behalf-of settings (GATEWAY_CLIENT_*)', () => {
  it('are off when GATEWAY_CLIENT_ID is unset', () => {
    expect(loadConfig(valid, { mode: 'functions' }).onBehalfOf).toBeUndefined();
  });

  it.each([
    [{ GATEWAY_CLIENT_ID: 'gw' }, 'GATEWAY_CLIENT_SECRET'],
    [{ GATEWAY_CLIENT_SECRET: 's' }, 'GATEWAY_CLIENT_ID'],
    [{ GATEWAY_CLIENT_CERTIFICATE_PATH: '/c.pem' }, 'GATEWAY_CLIENT_ID'],
    [{ GATEWAY_CLIENT_ID: 'g w', GATEWAY_CLIENT_SECRET: 's' }, 'GATEWAY_CLIENT_ID'],
  ])('refuse %j at start, naming the setting', (settings, setting) => {
    expect(failure({ ...valid, ...settings }).setting).toBe(setting);
  });

  it.each([
    [
      { GATEWAY_CLIENT_ID: 'gw', GATEWAY_CLIENT_SECRET: 's' },
      { clientId: 'gw', clientSecret: 's' },
    ],
    [
      { GATEWAY_CLIENT_ID: 'gw', GATEWAY_CLIENT_CERTIFICATE_PATH: '/c.pem' },
      { clientId: 'gw', certificatePath: '/c.pem' },
    ],
  ])('read %j', (settings, expected) => {
    expect(loadConfig({ ...valid, ...settings }, { mode: 'functions' }).onBehalfOf).toEqual(expected);
  });
});
