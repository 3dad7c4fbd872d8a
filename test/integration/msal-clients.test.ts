/**
 * Real MSAL clients against the dev identity provider, and the gateway in between: msal-node's
 * `ConfidentialClientApplication` acquires an app token (client credentials) and calls the
 * gateway with it; the gateway's own on-behalf-of downstream credential runs msal-node against
 * the same token endpoint. Nothing here fakes msal: it discovers the authority's metadata, posts
 * its forms and parses the answers as it does against Entra (its documented `knownAuthorities`
 * and `system.networkClient` options point it at the loopback provider and trust the local CA).
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as msalNode from '@azure/msal-node';
import { ConfidentialClientApplication } from '@azure/msal-node';
import jwt from 'jsonwebtoken';
import {
  DEV_API_CLIENT_ID,
  DEV_API_CLIENT_SECRET,
  DEV_SERVICE_CLIENT_ID,
  DEV_SERVICE_CLIENT_SECRET,
  DEV_USER_OID,
} from '../../src/host/local/dev-identity-provider';
import { startLocalStack, type LocalStack } from '../../src/host/local/local-stack';
import { msalNetworkClient } from '../../src/host/local/local-trust';
import { MemoryLogger } from '../../src/logger';
import { call, jsonCall, putDocuments } from '../helpers/http';
import { startSecondGateway } from '../helpers/second-gateway';

const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';

describe('msal-node clients against the dev identity provider and the gateway', () => {
  let stack: LocalStack;
  let api: string;
  let admin: string;
  let downstream: Server;
  let downstreamUrl: string;
  const received: IncomingHttpHeaders[] = [];
  const logger = new MemoryLogger();

  /** A confidential client as an app developer would write it, pointed at the dev IdP. */
  const confidentialClient = (clientId: string, clientSecret: string) =>
    new ConfidentialClientApplication({
      auth: {
        clientId,
        clientSecret,
        authority: `${stack.idp!.authority}/${stack.idp!.tenantId}`,
        knownAuthorities: [new URL(stack.idp!.authority).host],
      },
      system: { networkClient: msalNetworkClient(stack.idp!.fetch) },
    });

  /** The gateway API's own registration holds no role on itself: its app token has neither roles nor scp. */
  const rolelessAppToken = () =>
    confidentialClient(DEV_API_CLIENT_ID, DEV_API_CLIENT_SECRET).acquireTokenByClientCredential({
      scopes: [`${DEV_API_CLIENT_ID}/.default`],
    });

  beforeAll(async () => {
    stack = await startLocalStack({
      env: {},
      port: 0,
      logger,
      seedDemo: false,
      // jest cannot run the gateway's dynamic import() of msal-node: hand it the same module.
      io: { proxy: { loadMsal: () => Promise.resolve(msalNode) } },
    });
    api = `${stack.gatewayUrl}/api`;
    admin = stack.idp!.mintToken({ roles: ['Gateway.Admin'] });
    downstream = createServer((req, res) => {
      received.push(req.headers);
      res.end('{}');
    });
    await new Promise<void>((resolve) => downstream.listen(0, '127.0.0.1', resolve));
    downstreamUrl = `http://127.0.0.1:${(downstream.address() as AddressInfo).port}`;
    await putDocuments(api, admin, {
      resources: [
        {
          name: 'as-user',
          upstream: downstreamUrl,
          auth: { type: 'onBehalfOf', scopes: ['api://downstream-app/Orders.Read'] },
        },
      ],
      policies: [
        {
          id: 'readers',
          effect: 'allow',
          resource: '*',
          actions: ['read'],
          principals: { roles: ['Orders.Reader'] },
        },
      ],
    });
  });

  afterAll(async () => {
    await stack?.close();
    await new Promise<void>((resolve) => downstream?.close(() => resolve()));
  });

  it('client credentials: msal gets an app token with its app role, and the gateway accepts it', async () => {
    const result = await confidentialClient(
      DEV_SERVICE_CLIENT_ID,
      DEV_SERVICE_CLIENT_SECRET,
    ).acquireTokenByClientCredential({
      scopes: [`api://${DEV_API_CLIENT_ID}/.default`],
    });
    expect(result?.tokenType).toBe('Bearer');
    const claims = jwt.decode(result!.accessToken) as Record<string, unknown>;
    expect(claims).toMatchObject({
      aud: DEV_API_CLIENT_ID,
      azp: DEV_SERVICE_CLIENT_ID,
      idtyp: 'app',
      roles: ['Orders.Reader'],
    });

    const res = await call(`${api}/authorize`, {
      method: 'POST',
      headers: { authorization: `Bearer ${result!.accessToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ resource: 'as-user', action: 'read', path: '/x' }),
    });
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ allowed: true, policies: ['readers'] });
  });

  it('client credentials without an app role: a token the gateway refuses (IDW10201 rule)', async () => {
    const result = await rolelessAppToken();
    const res = await call(`${api}/authorize`, {
      method: 'POST',
      headers: { authorization: `Bearer ${result!.accessToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ resource: 'as-user', action: 'read' }),
    });
    expect(res.status).toBe(401);
    expect(res.json.code).toBe('ERR_TOKEN_NO_SCOPE_OR_ROLE');
  });

  it('ENTRA_ALLOW_ACL_AUTHORIZATION=true: the same roleless app token is admitted, and policy decides by client id', async () => {
    const result = await rolelessAppToken();
    const byClient = await call(
      `${api}/policies/api-by-client`,
      jsonCall('PUT', admin, {
        id: 'api-by-client',
        effect: 'allow',
        resource: 'as-user',
        actions: ['read'],
        principals: { clients: [DEV_API_CLIENT_ID] },
      }),
    );
    expect(byClient.status).toBe(201);
    // A second instance on the same database, in ACL mode; the first one stays in the default.
    const acl = await startSecondGateway(stack, { ENTRA_ALLOW_ACL_AUTHORIZATION: 'true' });
    try {
      const ask = (base: string) =>
        call(`${base}/authorize`, {
          method: 'POST',
          headers: { authorization: `Bearer ${result!.accessToken}`, 'content-type': 'application/json' },
          body: JSON.stringify({ resource: 'as-user', action: 'read', path: '/x' }),
        });
      const admitted = await ask(`${acl.url}/api`);
      expect(admitted.status).toBe(200);
      expect(admitted.json).toMatchObject({ allowed: true, policies: ['api-by-client'] });
      const refused = await ask(api);
      expect(refused.status).toBe(401);
      expect(refused.json.code).toBe('ERR_TOKEN_NO_SCOPE_OR_ROLE');
    } finally {
      await acl.close();
    }
  });

  it.each([
    ['a wrong client secret', DEV_SERVICE_CLIENT_ID, 'wrong', 'invalid_client'],
    ['an unknown client', '00000000-0000-4000-8000-000000000000', 'x', 'unauthorized_client'],
  ])("msal surfaces Entra's error for %s", async (_name, clientId, secret, error) => {
    await expect(
      confidentialClient(clientId, secret).acquireTokenByClientCredential({
        scopes: [`api://${DEV_API_CLIENT_ID}/.default`],
      }),
    ).rejects.toMatchObject({ errorCode: error });
  });

  // The twin's token endpoint refuses what Entra refuses (the last column: a tenant other than the
  // dev IdP's; every row has it, or jest would pass its `done` callback there), with Entra's status and `error` (RFC 6749
  // section 5.2) and an AADSTS code in the description: msal reads exactly these fields.
  it.each<[string, () => Record<string, string>, number, string, string | undefined]>([
    [
      'an unknown grant type',
      () => ({ grant_type: 'password', client_id: DEV_SERVICE_CLIENT_ID }),
      400,
      'unsupported_grant_type',
      undefined,
    ],
    [
      'client credentials for an unknown client',
      () => ({
        grant_type: 'client_credentials',
        client_id: 'nobody',
        client_secret: 'x',
        scope: `api://${DEV_API_CLIENT_ID}/.default`,
      }),
      400,
      'unauthorized_client',
      undefined,
    ],
    [
      'client credentials with a wrong secret',
      () => ({
        grant_type: 'client_credentials',
        client_id: DEV_SERVICE_CLIENT_ID,
        client_secret: 'wrong',
        scope: `api://${DEV_API_CLIENT_ID}/.default`,
      }),
      401,
      'invalid_client',
      undefined,
    ],
    [
      'client credentials with a scope other than <api>/.default',
      () => ({
        grant_type: 'client_credentials',
        client_id: DEV_SERVICE_CLIENT_ID,
        client_secret: DEV_SERVICE_CLIENT_SECRET,
        scope: `api://${DEV_API_CLIENT_ID}/Orders.Read`,
      }),
      400,
      'invalid_scope',
      undefined,
    ],
    [
      'client credentials for an API the tenant does not have',
      () => ({
        grant_type: 'client_credentials',
        client_id: DEV_SERVICE_CLIENT_ID,
        client_secret: DEV_SERVICE_CLIENT_SECRET,
        scope: 'api://unknown-api/.default',
      }),
      400,
      'invalid_resource',
      undefined,
    ],
    [
      'on-behalf-of without requested_token_use',
      () => ({
        grant_type: JWT_BEARER,
        client_id: DEV_API_CLIENT_ID,
        client_secret: DEV_API_CLIENT_SECRET,
        assertion: stack.idp!.mintToken({ roles: ['Orders.Reader'] }),
        scope: 'api://downstream-app/Orders.Read',
      }),
      400,
      'invalid_request',
      undefined,
    ],
    [
      'on-behalf-of with a tampered assertion',
      () => {
        const user = stack.idp!.mintToken({ roles: ['Orders.Reader'] });
        const [header, , signature] = user.split('.');
        const forged = Buffer.from(
          JSON.stringify({ ...(jwt.decode(user) as object), roles: ['Gateway.Admin'] }),
        ).toString('base64url');
        return {
          grant_type: JWT_BEARER,
          requested_token_use: 'on_behalf_of',
          client_id: DEV_API_CLIENT_ID,
          client_secret: DEV_API_CLIENT_SECRET,
          assertion: `${header}.${forged}.${signature}`,
          scope: 'api://downstream-app/Orders.Read',
        };
      },
      400,
      'invalid_grant',
      undefined,
    ],
    [
      'on-behalf-of with an assertion issued to another app',
      () => ({
        grant_type: JWT_BEARER,
        requested_token_use: 'on_behalf_of',
        client_id: DEV_SERVICE_CLIENT_ID,
        client_secret: DEV_SERVICE_CLIENT_SECRET,
        assertion: stack.idp!.mintToken({ roles: ['Orders.Reader'] }),
        scope: 'api://downstream-app/Orders.Read',
      }),
      400,
      'invalid_grant',
      undefined,
    ],
    [
      'on-behalf-of without an API scope',
      () => ({
        grant_type: JWT_BEARER,
        requested_token_use: 'on_behalf_of',
        client_id: DEV_API_CLIENT_ID,
        client_secret: DEV_API_CLIENT_SECRET,
        assertion: stack.idp!.mintToken({ roles: ['Orders.Reader'] }),
        scope: 'openid profile offline_access',
      }),
      400,
      'invalid_scope',
      undefined,
    ],
    [
      'a form over 64 KiB',
      () => ({
        grant_type: 'client_credentials',
        client_id: DEV_SERVICE_CLIENT_ID,
        padding: 'x'.repeat(70 * 1024),
      }),
      400,
      'invalid_request',
      undefined,
    ],
    [
      'an unknown tenant',
      () => ({
        grant_type: 'client_credentials',
        client_id: DEV_SERVICE_CLIENT_ID,
        client_secret: DEV_SERVICE_CLIENT_SECRET,
        scope: `api://${DEV_API_CLIENT_ID}/.default`,
      }),
      400,
      'invalid_tenant',
      '00000000-0000-4000-8000-000000000000',
    ],
  ])("the dev IdP's token endpoint refuses %s", async (_case, form, status, error, tenant) => {
    const res = await stack.idp!.fetch(
      `${stack.idp!.authority}/${tenant ?? stack.idp!.tenantId}/oauth2/v2.0/token`,
      {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(form()).toString(),
      },
    );
    const body = (await res.json()) as Record<string, unknown>;
    expect(res.status).toBe(status);
    expect(body.error).toBe(error);
    expect(body.error_description).toMatch(/^AADSTS\d+: /);
    expect(JSON.stringify(body)).not.toContain(DEV_SERVICE_CLIENT_SECRET);
  });

  it('on-behalf-of: the proxy gets a token for the downstream from the dev IdP through msal, for the same user', async () => {
    const user = stack.idp!.mintToken({ roles: ['Orders.Reader'] });
    const before = stack.idp!.tokenRequests.length;
    const res = await call(`${api}/proxy/as-user/orders`, { headers: { authorization: `Bearer ${user}` } });
    expect(res.status).toBe(200);

    const sent = stack.idp!.tokenRequests.slice(before);
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({
      grant_type: JWT_BEARER,
      requested_token_use: 'on_behalf_of',
      client_id: DEV_API_CLIENT_ID,
      assertion: user,
    });
    const authorization = received.at(-1)!.authorization!;
    expect(authorization).toMatch(/^Bearer /);
    const obo = jwt.decode(authorization.slice(7)) as Record<string, unknown>;
    expect(obo).toMatchObject({
      aud: 'api://downstream-app',
      scp: 'Orders.Read',
      azp: DEV_API_CLIENT_ID,
      oid: DEV_USER_OID,
      tid: stack.idp!.tenantId,
    });

    // msal's cache answers the same caller again: no second round trip to the identity provider.
    const again = await call(`${api}/proxy/as-user/orders`, { headers: { authorization: `Bearer ${user}` } });
    expect(again.status).toBe(200);
    expect(stack.idp!.tokenRequests.length - before).toBe(1);
  });
});
