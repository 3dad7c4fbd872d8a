import {
  expectedIssuer,
  fetchOpenIdMetadata,
  openIdMetadataUrl,
  parseOpenIdMetadata,
} from '../../../../src/auth/entra/openid-metadata';
import { FakeFetch } from '../../../helpers/fake-fetch';

const TID = '9f1c2c3e-0d1a-4b7e-9c55-2f0c6d1e7a01';

describe('openIdMetadataUrl', () => {
  it.each([
    [
      'https://login.microsoftonline.com',
      TID,
      '2.0',
      `https://login.microsoftonline.com/${TID}/v2.0/.well-known/openid-configuration`,
    ],
    [
      'https://login.microsoftonline.com',
      TID,
      '1.0',
      `https://login.microsoftonline.com/${TID}/.well-known/openid-configuration`,
    ],
    [
      'https://login.microsoftonline.com/',
      'organizations',
      '2.0',
      'https://login.microsoftonline.com/organizations/v2.0/.well-known/openid-configuration',
    ],
    [
      'http://127.0.0.1:7072',
      'common',
      '1.0',
      'http://127.0.0.1:7072/common/.well-known/openid-configuration',
    ],
    // Entra answers /organizations v1 metadata with AADSTS90002: Microsoft reads /common's.
    [
      'https://login.microsoftonline.com',
      'organizations',
      '1.0',
      'https://login.microsoftonline.com/common/.well-known/openid-configuration',
    ],
  ] as const)('%s + %s (v%s)', (authority, tenant, version, url) => {
    expect(openIdMetadataUrl(authority, tenant, version)).toBe(url);
  });
});

describe('expectedIssuer', () => {
  it.each([
    [
      'https://login.microsoftonline.com/{tenantid}/v2.0',
      TID,
      `https://login.microsoftonline.com/${TID}/v2.0`,
    ],
    ['https://sts.windows.net/{tenantid}/', TID, `https://sts.windows.net/${TID}/`],
    [
      `https://login.microsoftonline.com/${TID}/v2.0`,
      'other',
      `https://login.microsoftonline.com/${TID}/v2.0`,
    ],
  ])('%s for %s', (template, tid, issuer) => {
    expect(expectedIssuer(template, tid)).toBe(issuer);
  });
});

describe('parseOpenIdMetadata', () => {
  it.each<[string, unknown, RegExp | { issuer: string; jwksUri: string }]>([
    [
      'valid https',
      { issuer: 'i', jwks_uri: 'https://login.example/common/discovery/v2.0/keys' },
      { issuer: 'i', jwksUri: 'https://login.example/common/discovery/v2.0/keys' },
    ],
    [
      'valid loopback http',
      { issuer: 'i', jwks_uri: 'http://127.0.0.1:7072/keys' },
      { issuer: 'i', jwksUri: 'http://127.0.0.1:7072/keys' },
    ],
    ['jwks_uri plain http off loopback', { issuer: 'i', jwks_uri: 'http://evil.example/keys' }, /jwks_uri/],
    ['jwks_uri not a URL', { issuer: 'i', jwks_uri: 'keys' }, /jwks_uri/],
    ['no jwks_uri', { issuer: 'i' }, /jwks_uri/],
    ['no issuer', { jwks_uri: 'https://x/keys' }, /issuer/],
    ['not an object', 'x', /object/],
  ])('%s', (_name, document, expected) => {
    if (expected instanceof RegExp) expect(() => parseOpenIdMetadata(document)).toThrow(expected);
    else expect(parseOpenIdMetadata(document)).toEqual(expected);
  });
});

describe('fetchOpenIdMetadata', () => {
  const url = `https://login.example/${TID}/v2.0/.well-known/openid-configuration`;
  it.each([
    ['HTTP 500', { status: 500, body: {} }, /answered 500/],
    ['network failure', 'network-error' as const, /failed/],
  ])('fails with a MetadataError on %s', async (_name, answer, message) => {
    const fake = new FakeFetch().answer(url, answer);
    await expect(fetchOpenIdMetadata(fake.fetch, 'https://login.example', TID, '2.0', 1000)).rejects.toThrow(
      message,
    );
  });
});
