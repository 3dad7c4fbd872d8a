// The gateway's x-gateway-principal statement verified with jose (panva/jose, ESM-only: jest
// cannot load it, so this runs under `node --test`, started by
// test/integration/principal-statement.test.ts). The gateway is the compiled local stack, over
// HTTP; jose discovers the keys from the gateway's own openid-configuration.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { after, before, test } from 'node:test';
import { createRemoteJWKSet, decodeJwt, errors, jwtVerify } from 'jose';
import { startGateway } from './local-gateway.mjs';

let stack;
let api;
let downstream;
let downstreamUrl;
const seen = [];

async function json(url, init) {
  const res = await fetch(url, init);
  return { status: res.status, body: await res.json() };
}

before(async () => {
  let put;
  ({ stack, api, put } = await startGateway());
  downstream = createServer((req, res) => {
    seen.push(req.headers);
    res.end('{}');
  });
  await new Promise((resolve) => downstream.listen(0, '127.0.0.1', resolve));
  downstreamUrl = `http://127.0.0.1:${downstream.address().port}`;
  await put('resources/plain', { name: 'plain', upstream: downstreamUrl, auth: { type: 'none' } });
  await put('resources/bound', {
    name: 'bound',
    upstream: downstreamUrl,
    auth: { type: 'none' },
    boundStatement: true,
  });
  await put('policies/all', {
    id: 'all',
    effect: 'allow',
    resource: '*',
    actions: ['*'],
    principals: { roles: ['User'] },
  });
});

after(async () => {
  await stack?.close();
  await new Promise((resolve) => downstream?.close(resolve));
});

async function statementVia(path, method = 'GET') {
  const user = stack.idp.mintToken({ roles: ['User'] });
  const res = await fetch(`${api}/proxy/${path}`, { method, headers: { authorization: `Bearer ${user}` } });
  assert.equal(res.status, 200);
  await res.arrayBuffer();
  return seen.at(-1)['x-gateway-principal'];
}

async function keySet() {
  const { body } = await json(`${api}/.well-known/openid-configuration`);
  assert.equal(body.issuer, api);
  return { issuer: body.issuer, jwks: createRemoteJWKSet(new URL(body.jwks_uri)) };
}

test('jose verifies a statement from discovery: ES256, issuer, audience', async () => {
  const statement = await statementVia('plain/x');
  const { issuer, jwks } = await keySet();
  const { payload, protectedHeader } = await jwtVerify(statement, jwks, {
    issuer,
    audience: 'plain',
    algorithms: ['ES256'],
  });
  assert.equal(protectedHeader.alg, 'ES256');
  assert.equal(payload.cred, 'entra');
  assert.deepEqual(payload.roles, ['User']);
  assert.equal(payload.exp - payload.iat, 60);
});

test('jose refuses it after expiry and for another audience', async () => {
  const statement = await statementVia('plain/y');
  const { issuer, jwks } = await keySet();
  const { iat } = decodeJwt(statement);
  await assert.rejects(
    jwtVerify(statement, jwks, { issuer, audience: 'plain', currentDate: new Date((iat + 61) * 1000) }),
    errors.JWTExpired,
  );
  await assert.rejects(
    jwtVerify(statement, jwks, { issuer, audience: 'other' }),
    errors.JWTClaimValidationFailed,
  );
  await assert.rejects(
    jwtVerify(statement, jwks, { issuer: 'https://another-gateway.example/api', audience: 'plain' }),
    errors.JWTClaimValidationFailed,
  );
});

test('jose reads a bound statement: htm and htu of the forwarded request', async () => {
  const statement = await statementVia('bound/customers/7?x=1', 'DELETE');
  const { issuer, jwks } = await keySet();
  const { payload } = await jwtVerify(statement, jwks, { issuer, audience: 'bound' });
  assert.equal(payload.htm, 'DELETE');
  assert.equal(payload.htu, `${downstreamUrl}/customers/7`);
  assert.equal(typeof payload.jti, 'string');
});
