/**
 * `x-gateway-principal` as a downstream meets it: a JWT verified with jsonwebtoken and jwks-rsa
 * (libraries no one here wrote) through the gateway's own discovery document and JWKS, served
 * over HTTP by the local stack. Real downstream servers capture what the proxy sends.
 * test/esm/statement-jose.test.mjs verifies the same statements with jose (run below).
 */
import { createPublicKey } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import jwt from 'jsonwebtoken';
import { ManualClock } from '../../src/clock';
import { generateStatementKey, statementKeySetting } from '../../src/config/signing-keys';
import { startGatewayInstance, startLocalStack, type LocalStack } from '../../src/host/local/local-stack';
import { MemoryLogger } from '../../src/logger';
import { STATEMENT_TTL_SECONDS } from '../../src/proxy/principal-statement';
import {
  createJwksVerifier,
  createStatementVerifier,
  MemoryStatementReplay,
  VerifierError,
} from '../../packages/verifier/src/index';
import { runEsmTests } from '../helpers/dist';
import { call, putDocuments } from '../helpers/http';
import { issue } from '../helpers/gateway-stack';

const OLD_KEY = generateStatementKey('old');
const NEW_KEY = generateStatementKey('new');

describe('x-gateway-principal: a standard JWT a downstream verifies through the JWKS', () => {
  let stack: LocalStack;
  let api: string;
  let downstream: Server;
  let downstreamUrl: string;
  const seen: IncomingHttpHeaders[] = [];
  const clock = new ManualClock(Date.now());
  let user: string;

  const statementOf = async (
    path: string,
    headers: Record<string, string> = { authorization: `Bearer ${user}` },
    base = api,
    method = 'GET',
  ) => {
    const before = seen.length;
    const res = await call(`${base}/proxy/${path}`, { method, headers });
    expect(res.status).toBe(200);
    expect(seen.length).toBe(before + 1);
    return seen.at(-1)!['x-gateway-principal'] as string;
  };

  beforeAll(async () => {
    stack = await startLocalStack({
      // The injected clock jumps past statement lifetimes; the state's age is on it too.
      env: { STATEMENT_SIGNING_KEYS: statementKeySetting([OLD_KEY]), POLICY_MAX_STALENESS_SECONDS: '86400' },
      port: 0,
      logger: new MemoryLogger(),
      seedDemo: false,
      io: { clock },
    });
    api = `${stack.gatewayUrl}/api`;
    downstream = createServer((req, res) => {
      seen.push(req.headers);
      res.end('{}');
    });
    await new Promise<void>((resolve) => downstream.listen(0, '127.0.0.1', resolve));
    downstreamUrl = `http://127.0.0.1:${(downstream.address() as AddressInfo).port}`;
    const admin = stack.idp!.mintToken({ roles: ['Gateway.Admin'] });
    await putDocuments(api, admin, {
      resources: [
        { name: 'plain', upstream: `${downstreamUrl}/base`, auth: { type: 'none' } },
        {
          name: 'custom',
          upstream: downstreamUrl,
          auth: { type: 'none' },
          audience: 'api://custom-downstream',
        },
        { name: 'bound', upstream: `${downstreamUrl}/base`, auth: { type: 'none' }, boundStatement: true },
        // The hazard docs/downstream-trust.md warns of: an unbound resource with the bound one's audience.
        {
          name: 'unbound-twin',
          upstream: `${downstreamUrl}/base`,
          auth: { type: 'none' },
          audience: 'bound',
        },
      ],
      policies: [
        { id: 'all', effect: 'allow', resource: '*', actions: ['*'], principals: { roles: ['User'] } },
      ],
    });
    user = stack.idp!.mintToken({ roles: ['User'], scopes: ['orders.read', 'orders.write'] });
  });

  afterAll(async () => {
    await stack?.close();
    await new Promise<void>((resolve) => downstream?.close(() => resolve()));
  });

  it('discovery names the issuer and the JWKS; the JWKS holds public EC keys only', async () => {
    const discovery = await call(`${api}/.well-known/openid-configuration`);
    expect(discovery.status).toBe(200);
    expect(discovery.json).toMatchObject({ issuer: api, jwks_uri: `${api}/.well-known/jwks.json` });
    // No GATEWAY_ISSUER here: the issuer follows the Host sent, so a cache must key on it.
    expect(discovery.headers.get('vary')).toBe('Host');
    const jwks = await call(discovery.json.jwks_uri as string);
    expect(jwks.json.keys).toEqual([
      {
        kty: 'EC',
        crv: 'P-256',
        x: expect.any(String),
        y: expect.any(String),
        kid: 'old',
        use: 'sig',
        alg: 'ES256',
      },
    ]);
    expect(JSON.stringify(jwks.json)).not.toContain('"d"');
  });

  it.each([
    ['POST', '.well-known/jwks.json', 405],
    ['DELETE', '.well-known/openid-configuration', 405],
    ['GET', '.well-known/jwks', 404],
    ['GET', '.well-known/../.well-known/jwks.json', 400],
  ])('%s /api/%s: %s, never a key', async (method, path, status) => {
    const res = await call(`${api}/${path}`, { method });
    expect(res.status).toBe(status);
    expect(JSON.stringify(res.json)).not.toContain('"d"');
  });

  it('answers GET with a cacheable document and ignores a query', async () => {
    const res = await call(`${api}/.well-known/jwks.json?kid=old&x=${'a'.repeat(2000)}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('public, max-age=300');
    expect(res.json.keys).toHaveLength(1);
  });

  it('jsonwebtoken + jwks-rsa verify it: issuer, audience = the resource, the caller, 60 s', async () => {
    const statement = await statementOf('plain/x');
    const verify = createJwksVerifier({
      jwksUri: `${api}/.well-known/jwks.json`,
      issuer: api,
      audience: 'plain',
      algorithms: ['ES256'],
    });
    const claims = await verify(statement);
    expect(claims).toMatchObject({
      iss: api,
      aud: 'plain',
      tid: stack.idp!.tenantId,
      roles: ['User'],
      scp: 'orders.read orders.write',
      idtyp: 'user',
      cred: 'entra',
    });
    expect(claims.sub).toBe(claims.oid);
    expect(claims.exp! - claims.iat!).toBe(STATEMENT_TTL_SECONDS);
    expect(jwt.decode(statement, { complete: true })!.header).toEqual({
      alg: 'ES256',
      typ: 'JWT',
      kid: 'old',
    });
  });

  it("is refused after it expires, and for another resource's audience", async () => {
    const statement = await statementOf('plain/x');
    const { iat } = jwt.decode(statement) as { iat: number };
    const key = (await call(`${api}/.well-known/jwks.json`)).json.keys as object[];
    const publicKey = createPublicKey({ key: key[0] as never, format: 'jwk' });
    expect(() =>
      jwt.verify(statement, publicKey, { algorithms: ['ES256'], clockTimestamp: iat + 59 }),
    ).not.toThrow();
    expect(() =>
      jwt.verify(statement, publicKey, { algorithms: ['ES256'], clockTimestamp: iat + 61 }),
    ).toThrow(jwt.TokenExpiredError);
    const other = createStatementVerifier({ issuer: api, audience: 'custom' });
    await expect(other(statement)).rejects.toMatchObject({ code: 'ERR_PRINCIPAL_STATEMENT_INVALID' });
  });

  it("carries the resource's own audience when it names one", async () => {
    const statement = await statementOf('custom/y');
    const verify = createStatementVerifier({ issuer: api, audience: 'api://custom-downstream' });
    await expect(verify(statement)).resolves.toMatchObject({ aud: 'api://custom-downstream' });
  });

  it('is signed once per caller and downstream, reused for 30 s, then signed again', async () => {
    const first = await statementOf('plain/a');
    expect(await statementOf('plain/b')).toBe(first);
    clock.advance(29_000);
    expect(await statementOf('plain/c')).toBe(first);
    clock.advance(2_000);
    const next = await statementOf('plain/d');
    expect(next).not.toBe(first);
    // Another downstream gets its own statement.
    expect(await statementOf('custom/a')).not.toBe(next);
  });

  it('a SAS caller is named too, with the credential it used', async () => {
    const sas = await issue(api, { subject_token: user, resource: 'plain', scope: 'read' });
    const statement = await statementOf('plain/sas', { authorization: `SharedAccessSignature ${sas}` });
    const verify = createStatementVerifier({ issuer: api, audience: 'plain' });
    await expect(verify(statement)).resolves.toMatchObject({ cred: 'sas', roles: [] });
  });

  it('bound: method and upstream URL in it, signed per call, refused for another method or path', async () => {
    const first = await statementOf('bound/customers/42?page=2');
    const second = await statementOf('bound/customers/42?page=2');
    expect(second).not.toBe(first);
    const claims = jwt.decode(first) as Record<string, unknown>;
    expect(claims).toMatchObject({ htm: 'GET', htu: `${downstreamUrl}/base/customers/42`, aud: 'bound' });
    expect(claims.jti).toEqual(expect.any(String));
    expect(claims.jti).not.toBe((jwt.decode(second) as Record<string, unknown>).jti);
    const verify = createStatementVerifier({ issuer: api, audience: 'bound' });
    await expect(
      verify(first, { method: 'GET', url: `${downstreamUrl}/base/customers/42?page=9` }),
    ).resolves.toMatchObject({ htm: 'GET' });
    for (const request of [
      { method: 'DELETE', url: `${downstreamUrl}/base/customers/42` },
      { method: 'GET', url: `${downstreamUrl}/base/customers/43` },
    ]) {
      await expect(verify(first, request)).rejects.toBeInstanceOf(VerifierError);
    }
    await expect(verify(first)).rejects.toMatchObject({ code: 'ERR_PRINCIPAL_STATEMENT_INVALID' });
  });

  it('requireBound: an unbound statement for the same audience is refused; a bound one passes once with a replay memory', async () => {
    const unbound = await statementOf('unbound-twin/customers/42');
    expect(jwt.decode(unbound)).toMatchObject({ aud: 'bound' });
    expect((jwt.decode(unbound) as Record<string, unknown>).htm).toBeUndefined();
    const request = { method: 'DELETE', url: `${downstreamUrl}/base/admin` };
    // Without the option, nothing in an unbound statement ties it to a request: it passes.
    await expect(
      createStatementVerifier({ issuer: api, audience: 'bound' })(unbound, request),
    ).resolves.toBeDefined();

    const verify = createStatementVerifier({
      issuer: api,
      audience: 'bound',
      requireBound: true,
      replay: new MemoryStatementReplay(),
    });
    await expect(verify(unbound, request)).rejects.toMatchObject({ code: 'ERR_PRINCIPAL_STATEMENT_INVALID' });
    const bound = await statementOf('bound/customers/42');
    await expect(verify(bound)).rejects.toMatchObject({ code: 'ERR_PRINCIPAL_STATEMENT_INVALID' });
    const asSent = { method: 'GET', url: `${downstreamUrl}/base/customers/42` };
    await expect(verify(bound, asSent)).resolves.toMatchObject({ htm: 'GET' });
    await expect(verify(bound, asSent)).rejects.toMatchObject({
      code: 'ERR_PRINCIPAL_STATEMENT_INVALID',
      message: 'The statement was used before',
    });
  });

  it('two instances behind one issuer: one downstream verifier, fetching one JWKS, accepts what either signs', async () => {
    // As in Azure (one host name, every instance) and as the banner starts a second local instance.
    const second = await startGatewayInstance(stack, { env: { GATEWAY_ISSUER: api } });
    try {
      const verify = createStatementVerifier({ issuer: api, audience: 'plain' });
      const fromFirst = await statementOf('plain/one', { authorization: `Bearer ${user}` }, api);
      const fromSecond = await statementOf(
        'plain/two',
        { authorization: `Bearer ${user}` },
        `${second.url}/api`,
      );
      for (const statement of [fromFirst, fromSecond]) {
        await expect(verify(statement)).resolves.toMatchObject({
          iss: api,
          aud: 'plain',
          oid: (jwt.decode(user) as { oid: string }).oid,
        });
      }
      const secondJwks = await call(`${second.url}/api/.well-known/jwks.json`);
      expect(secondJwks.json).toEqual((await call(`${api}/.well-known/jwks.json`)).json);
    } finally {
      await second.close();
    }
  });

  it('key rotation: a new key published beside the old verifies both; once the old is gone its statements fail', async () => {
    const old = await statementOf('plain/rot');
    const overlap = await startGatewayInstance(stack, {
      env: { STATEMENT_SIGNING_KEYS: statementKeySetting([NEW_KEY, OLD_KEY]) },
    });
    const only = await startGatewayInstance(stack, {
      env: { STATEMENT_SIGNING_KEYS: statementKeySetting([NEW_KEY]) },
    });
    try {
      const overlapApi = `${overlap.url}/api`;
      const fresh = await statementOf('plain/rot', undefined, overlapApi);
      expect(jwt.decode(fresh, { complete: true })!.header.kid).toBe('new');
      for (const statement of [old, fresh]) {
        const verify = createJwksVerifier({
          jwksUri: `${overlapApi}/.well-known/jwks.json`,
          issuer: /* each names its own */ (jwt.decode(statement) as { iss: string }).iss,
          audience: 'plain',
          algorithms: ['ES256'],
        });
        await expect(verify(statement)).resolves.toMatchObject({ aud: 'plain' });
      }
      const onlyNew = createJwksVerifier({
        jwksUri: `${only.url}/api/.well-known/jwks.json`,
        issuer: api,
        audience: 'plain',
        algorithms: ['ES256'],
      });
      await expect(onlyNew(old)).rejects.toThrow();
    } finally {
      await Promise.all([overlap.close(), only.close()]);
    }
  });

  it('jose (an independent JOSE library, ESM) verifies the same statements through discovery', () => {
    runEsmTests('statement-jose.test.mjs', 3);
  });
});
