import * as msal from '@azure/msal-node';
import type { AccessToken, TokenCredential } from '@azure/core-auth';
import type { Principal } from '../../../src/auth/principal';
import { ManualClock } from '../../../src/clock';
import { isGatewayError } from '../../../src/errors';
import { AccessTokenCache } from '../../../src/http/access-token-cache';
import { DownstreamCredentials } from '../../../src/proxy/credentials/downstream-credential';
import { functionKeyCredential } from '../../../src/proxy/credentials/function-key';
import { managedIdentityCredential } from '../../../src/proxy/credentials/managed-identity';
import { OnBehalfOfClient, onBehalfOfCredential } from '../../../src/proxy/credentials/on-behalf-of';
import {
  loopbackNetworkClient,
  startFakeTokenEndpoint,
  type FakeTokenEndpoint,
} from '../../helpers/fake-token-endpoint';
import { principalWith } from '../../helpers/principal';

const TENANT = '9f1c2c3e-0d1a-4b7e-9c55-2f0c6d1e7a01';

const principal = (kind: 'entra' | 'sas' = 'entra'): Principal =>
  principalWith({ kind, oid: 'o1', tid: TENANT, azp: 'a1' });

async function failure(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected a failure');
}

describe('functionKeyCredential', () => {
  it('sends x-functions-key from the named setting, read at every call', async () => {
    const env: Record<string, string> = { ORDERS_KEY: 'k1' };
    const credential = functionKeyCredential('ORDERS_KEY', env);
    expect(await credential.headers(principal())).toEqual({ 'x-functions-key': 'k1' });
    env.ORDERS_KEY = 'k2';
    expect(await credential.headers(principal())).toEqual({ 'x-functions-key': 'k2' });
  });

  it('is 502 ERR_UPSTREAM_CREDENTIAL without the setting, naming it only in the cause', async () => {
    const err = await failure(functionKeyCredential('MISSING', {}).headers(principal()));
    expect(isGatewayError(err, 'ERR_UPSTREAM_CREDENTIAL')).toBe(true);
    expect((err as Error).message).not.toContain('MISSING');
    expect(String((err as Error).cause)).toContain('MISSING');
  });
});

class FakeTokenCredential implements TokenCredential {
  calls = 0;
  fail = false;
  constructor(private readonly clock: ManualClock) {}
  getToken(scope: string | string[]): Promise<AccessToken | null> {
    this.calls += 1;
    if (this.fail) return Promise.reject(new Error('IMDS said: secret detail'));
    return Promise.resolve({
      token: `mi-${String(scope)}-${this.calls}`,
      expiresOnTimestamp: this.clock.now() + 60 * 60 * 1000,
    });
  }
}

describe('managedIdentityCredential', () => {
  it('caches the token until 5 minutes before expiry, single-flight', async () => {
    const clock = new ManualClock();
    const fake = new FakeTokenCredential(clock);
    const credential = managedIdentityCredential(
      'api://x/.default',
      () => Promise.resolve(fake),
      new AccessTokenCache(clock),
    );
    const burst = await Promise.all([1, 2, 3].map(() => credential.headers(principal())));
    expect(burst.map((h) => h.authorization)).toEqual(Array(3).fill('Bearer mi-api://x/.default-1'));
    expect(fake.calls).toBe(1);
    clock.advance(54 * 60 * 1000);
    expect((await credential.headers(principal())).authorization).toBe('Bearer mi-api://x/.default-1');
    clock.advance(2 * 60 * 1000); // 56 min: inside the 5-minute margin
    expect((await credential.headers(principal())).authorization).toBe('Bearer mi-api://x/.default-2');
    expect(fake.calls).toBe(2);
  });

  it('is 502 ERR_UPSTREAM_CREDENTIAL on a token service failure, and retries next call', async () => {
    const clock = new ManualClock();
    const fake = new FakeTokenCredential(clock);
    fake.fail = true;
    const credential = managedIdentityCredential(
      'api://x/.default',
      () => Promise.resolve(fake),
      new AccessTokenCache(clock),
    );
    const err = await failure(credential.headers(principal()));
    expect(isGatewayError(err, 'ERR_UPSTREAM_CREDENTIAL')).toBe(true);
    expect((err as Error).message).not.toContain('secret');
    fake.fail = false;
    expect((await credential.headers(principal())).authorization).toMatch(/^Bearer mi-/);
  });
});

describe('DownstreamCredentials', () => {
  it('builds one credential per distinct auth block and keeps it', () => {
    const built: string[] = [];
    const registry = new DownstreamCredentials({
      none: () => ({ headers: () => Promise.resolve({}) }),
      functionKey: (auth) => (built.push(auth.keySetting), { headers: () => Promise.resolve({}) }),
      managedIdentity: () => ({ headers: () => Promise.resolve({}) }),
      onBehalfOf: () => ({ headers: () => Promise.resolve({}) }),
    });
    const a = registry.for({ type: 'functionKey', keySetting: 'A' });
    expect(registry.for({ type: 'functionKey', keySetting: 'A' })).toBe(a);
    expect(registry.for({ type: 'functionKey', keySetting: 'B' })).not.toBe(a);
    expect(built).toEqual(['A', 'B']);
  });
});

describe('onBehalfOfCredential with msal-node against a loopback token endpoint', () => {
  let idp: FakeTokenEndpoint;
  let client: OnBehalfOfClient;
  const assertion = 'eyJhbGciOiJSUzI1NiJ9.eyJvaWQiOiJvMSJ9.c2ln';

  beforeAll(async () => {
    idp = await startFakeTokenEndpoint();
    client = new OnBehalfOfClient({
      settings: { clientId: 'gw-client', clientSecret: 'gw-secret' },
      authorityHost: idp.authorityHost,
      tenantId: TENANT,
      multiTenant: false,
      loadMsal: () => Promise.resolve(msal),
      networkClient: loopbackNetworkClient(),
    });
  });
  afterAll(() => idp?.close());

  it('exchanges the caller token (jwt-bearer, on_behalf_of) and reuses msal’s cached result', async () => {
    const credential = onBehalfOfCredential(['api://orders/read'], client);
    expect(await credential.headers(principal(), assertion)).toEqual({ authorization: 'Bearer obo-1' });
    expect(idp.requests[0]).toMatchObject({
      grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer',
      requested_token_use: 'on_behalf_of',
      assertion,
      client_id: 'gw-client',
      client_secret: 'gw-secret',
    });
    expect(idp.requests[0]!.scope).toContain('api://orders/read');
    expect(await credential.headers(principal(), assertion)).toEqual({ authorization: 'Bearer obo-1' });
    expect(idp.requests).toHaveLength(1);
  });

  it('refuses a SAS caller with 403 ERR_OBO_REQUIRES_BEARER', async () => {
    const err = await failure(onBehalfOfCredential(['api://orders/read'], client).headers(principal('sas')));
    expect(isGatewayError(err, 'ERR_OBO_REQUIRES_BEARER')).toBe(true);
    expect((err as { status: number }).status).toBe(403);
  });

  it('is 502 ERR_UPSTREAM_CREDENTIAL when Entra refuses, without its message', async () => {
    idp.fail = true;
    try {
      const err = await failure(
        onBehalfOfCredential(['api://other/read'], client).headers(principal(), assertion),
      );
      expect(isGatewayError(err, 'ERR_UPSTREAM_CREDENTIAL')).toBe(true);
      expect((err as Error).message).not.toContain('AADSTS');
    } finally {
      idp.fail = false;
    }
  });

  it('is 502 ERR_UPSTREAM_CREDENTIAL when GATEWAY_CLIENT_ID is not set', async () => {
    const unconfigured = new OnBehalfOfClient({
      settings: undefined,
      authorityHost: idp.authorityHost,
      tenantId: TENANT,
      multiTenant: false,
      loadMsal: () => Promise.resolve(msal),
    });
    const err = await failure(onBehalfOfCredential(['x'], unconfigured).headers(principal(), assertion));
    expect(isGatewayError(err, 'ERR_UPSTREAM_CREDENTIAL')).toBe(true);
  });
});
