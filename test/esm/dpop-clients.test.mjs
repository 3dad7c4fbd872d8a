// DPoP and discovery with OAuth clients no one here wrote (ESM-only: jest cannot load them, so
// this runs under `node --test`, started by test/integration/dpop.test.ts): oauth4webapi
// discovers the gateway from its metadata, exchanges an Entra token for a DPoP-bound token with
// its own DPoP support and calls a downstream through the proxy; proofs made by the `dpop`
// package are accepted once; jose's RFC 7638 thumbprint is the token's `jkt`. The gateway is the
// compiled local stack, over HTTP.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as oauth from 'oauth4webapi';
import { generateKeyPair, generateProof } from 'dpop';
import { calculateJwkThumbprint, exportJWK } from 'jose';
import { startGateway } from './local-gateway.mjs';
import sasToken from '../../dist/src/sas/sas-token.js';

const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';
const insecure = { [oauth.allowInsecureRequests]: true }; // the local stack is plain http on loopback

let stack;
let api;
let as;
let subjectToken;
const client = { client_id: 'mobile-app' };

before(async () => {
  let put;
  ({ stack, api, put } = await startGateway());
  await put('resources/vault', {
    name: 'vault',
    upstream: `${stack.orders.url}/api/orders`,
    auth: { type: 'functionKey', keySetting: 'ORDERS_KEY' },
    audience: 'orders', // the sample downstream checks the statement is meant for it
    requireDpop: true,
  });
  await put('policies/vault-read', {
    id: 'vault-read',
    effect: 'allow',
    resource: 'vault',
    actions: ['read'],
    principals: { roles: ['Vault.Reader'] },
  });
  subjectToken = stack.idp.mintToken({ roles: ['Vault.Reader'] });
});

after(() => stack?.close());

async function discover() {
  const issuer = new URL(api);
  const response = await oauth.discoveryRequest(issuer, { algorithm: 'oidc', ...insecure });
  return oauth.processDiscoveryResponse(issuer, response);
}

async function exchangeWith(DPoP) {
  const response = await oauth.genericTokenEndpointRequest(
    as,
    client,
    oauth.None(),
    TOKEN_EXCHANGE,
    new URLSearchParams({
      subject_token: subjectToken,
      subject_token_type: ACCESS_TOKEN,
      resource: 'vault',
      scope: 'read',
    }),
    { DPoP, ...insecure },
  );
  return oauth.processGenericTokenEndpointResponse(as, client, response);
}

test('oauth4webapi discovers the gateway (OIDC-style and RFC 8414 documents agree)', async () => {
  as = await discover();
  assert.equal(as.issuer, api);
  assert.equal(as.token_endpoint, `${api}/token`);
  assert.ok(as.dpop_signing_alg_values_supported.includes('ES256'));
  assert.ok(as.grant_types_supported.includes(TOKEN_EXCHANGE));
  const rfc8414 = await (await fetch(`${api}/.well-known/oauth-authorization-server`)).json();
  for (const [member, value] of Object.entries(rfc8414)) assert.deepEqual(as[member], value, member);
});

test('oauth4webapi exchanges with DPoP, gets a token bound to its key, and calls the proxy with it', async () => {
  as ??= await discover();
  const keyPair = await oauth.generateKeyPair('ES256');
  const DPoP = oauth.DPoP(client, keyPair);
  const tokens = await exchangeWith(DPoP);
  assert.equal(tokens.token_type, 'dpop');
  // The token's signed jkt is the RFC 7638 thumbprint jose computes for the client's key.
  const jkt = await calculateJwkThumbprint(await exportJWK(keyPair.publicKey));
  assert.equal(sasToken.parseSasToken(tokens.access_token).jkt, jkt);

  for (let i = 0; i < 2; i++) {
    const response = await oauth.protectedResourceRequest(
      tokens.access_token,
      'GET',
      new URL(`${api}/proxy/vault/customers/1/orders`),
      new Headers(),
      null,
      { DPoP, ...insecure },
    );
    assert.equal(response.status, 200, await response.clone().text());
  }
});

test('a stolen token is refused without its key; the dpop package makes proofs the gateway accepts once', async () => {
  as ??= await discover();
  const owner = await generateKeyPair('ES256');
  const tokenUrl = `${api}/token`;
  const exchanged = await fetch(tokenUrl, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      dpop: await generateProof(owner, tokenUrl, 'POST'),
    },
    body: new URLSearchParams({
      grant_type: TOKEN_EXCHANGE,
      subject_token: subjectToken,
      subject_token_type: ACCESS_TOKEN,
      resource: 'vault',
      scope: 'read',
    }),
  });
  const body = await exchanged.json();
  assert.equal(body.token_type, 'DPoP', JSON.stringify(body));
  const token = body.access_token;
  const url = `${api}/proxy/vault/customers/1/orders`;

  const proof = await generateProof(owner, url, 'GET', undefined, token);
  const call = (headers) => fetch(url, { headers });
  assert.equal((await call({ authorization: `DPoP ${token}`, dpop: proof })).status, 200);

  const replayed = await call({ authorization: `DPoP ${token}`, dpop: proof });
  assert.equal(replayed.status, 401);
  assert.equal((await replayed.json()).code, 'ERR_DPOP_PROOF_REPLAYED');

  const thief = await generateKeyPair('ES256');
  const stolen = await call({
    authorization: `DPoP ${token}`,
    dpop: await generateProof(thief, url, 'GET', undefined, token),
  });
  assert.equal(stolen.status, 401);
  assert.match(stolen.headers.get('www-authenticate'), /^DPoP .*error="invalid_token"/);
  assert.equal((await stolen.json()).code, 'ERR_DPOP_BINDING');

  const asBearer = await call({ authorization: `SharedAccessSignature ${token}` });
  assert.equal(asBearer.status, 401);
  assert.equal((await asBearer.json()).code, 'ERR_DPOP_BINDING');
});

test('oauth4webapi reads the DPoP challenge of a refused call as a DPoP error', async () => {
  as ??= await discover();
  const keyPair = await oauth.generateKeyPair('ES256');
  const DPoP = oauth.DPoP(client, keyPair);
  const tokens = await exchangeWith(DPoP);
  const otherDPoP = oauth.DPoP(client, await oauth.generateKeyPair('ES256'));
  await assert.rejects(
    oauth.protectedResourceRequest(
      tokens.access_token,
      'GET',
      new URL(`${api}/proxy/vault/x`),
      new Headers(),
      null,
      {
        DPoP: otherDPoP,
        ...insecure,
      },
    ),
    (err) => {
      assert.ok(err instanceof oauth.WWWAuthenticateChallengeError, String(err));
      assert.equal(err.cause[0].scheme, 'dpop');
      assert.equal(err.cause[0].parameters.error, 'invalid_token');
      return true;
    },
  );
});
