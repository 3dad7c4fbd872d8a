import {
  checkSigningKeyIssuer,
  principalFromEntraClaims,
  type ClaimExpectations,
} from '../../../../src/auth/entra/claims';
import type { ErrorCode } from '../../../../src/errors';
import { GatewayError } from '../../../../src/errors';

const TID = '9f1c2c3e-0d1a-4b7e-9c55-2f0c6d1e7a01';
const OTHER = '11111111-2222-4333-8444-555555555555';
const CLIENT = '5e7d1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b';
const AUTH = 'https://login.example.test';

const single: ClaimExpectations = {
  config: {
    tenantId: TID,
    multiTenant: false,
    allowedTenants: [TID],
    audiences: [CLIENT, `api://${CLIENT}`],
    allowAclAuthorization: false,
  },
  issuerTemplate: `${AUTH}/${TID}/v2.0`,
};
const multi: ClaimExpectations = {
  config: {
    tenantId: 'organizations',
    multiTenant: true,
    allowedTenants: [TID, OTHER],
    audiences: [CLIENT],
    allowAclAuthorization: false,
  },
  issuerTemplate: `${AUTH}/{tenantid}/v2.0`,
};

const base = {
  aud: CLIENT,
  iss: `${AUTH}/${TID}/v2.0`,
  tid: TID,
  exp: 2_000_000_000,
  oid: 'o1',
  sub: 'pairwise',
  scp: 'a b',
  ver: '2.0',
};

function codeOf(claims: Record<string, unknown>, expect: ClaimExpectations = single): ErrorCode | 'ok' {
  try {
    principalFromEntraClaims(claims, expect);
    return 'ok';
  } catch (err) {
    return err instanceof GatewayError ? err.code : ('not-a-gateway-error' as ErrorCode);
  }
}

describe('principalFromEntraClaims: checks', () => {
  it.each<[string, Record<string, unknown>, ClaimExpectations, ErrorCode | 'ok']>([
    ['valid single-tenant', base, single, 'ok'],
    ['App ID URI audience', { ...base, aud: `api://${CLIENT}` }, single, 'ok'],
    ['no exp', { ...base, exp: undefined }, single, 'ERR_TOKEN_NO_EXPIRY'],
    ['wrong aud', { ...base, aud: 'api://other' }, single, 'ERR_TOKEN_AUDIENCE'],
    ['aud array of ours', { ...base, aud: [CLIENT] }, single, 'ERR_TOKEN_AUDIENCE'],
    ['aud case changed', { ...base, aud: CLIENT.toUpperCase() }, single, 'ERR_TOKEN_AUDIENCE'],
    ['aud with one trailing slash', { ...base, aud: `api://${CLIENT}/` }, single, 'ok'],
    ['aud with two trailing slashes', { ...base, aud: `api://${CLIENT}//` }, single, 'ERR_TOKEN_AUDIENCE'],
    ['aud with another character added', { ...base, aud: `api://${CLIENT}x` }, single, 'ERR_TOKEN_AUDIENCE'],
    ['neither scp nor roles', { ...base, scp: undefined }, single, 'ERR_TOKEN_NO_SCOPE_OR_ROLE'],
    ['empty scp, no roles', { ...base, scp: '' }, single, 'ERR_TOKEN_NO_SCOPE_OR_ROLE'],
    ['empty roles, no scp', { ...base, scp: undefined, roles: [] }, single, 'ERR_TOKEN_NO_SCOPE_OR_ROLE'],
    ['roles only', { ...base, scp: undefined, roles: ['R'] }, single, 'ok'],
    [
      'neither scp nor roles, ACL authorization on',
      { ...base, scp: undefined },
      { ...single, config: { ...single.config, allowAclAuthorization: true } },
      'ok',
    ],
    ['missing tid', { ...base, tid: undefined }, single, 'ERR_TOKEN_CLAIMS'],
    ['tid not a GUID', { ...base, tid: 'contoso' }, single, 'ERR_TOKEN_TENANT'],
    ['tid not allowed', { ...base, tid: OTHER, iss: `${AUTH}/${OTHER}/v2.0` }, single, 'ERR_TOKEN_TENANT'],
    [
      'single-tenant with a second allowed tenant still wants the configured one',
      { ...base, tid: OTHER, iss: `${AUTH}/${OTHER}/v2.0` },
      { ...single, config: { ...single.config, allowedTenants: [TID, OTHER] } },
      'ERR_TOKEN_TENANT',
    ],
    ['foreign issuer', { ...base, iss: `https://evil.test/${TID}/v2.0` }, single, 'ERR_TOKEN_ISSUER'],
    ['issuer with trailing slash', { ...base, iss: `${AUTH}/${TID}/v2.0/` }, single, 'ERR_TOKEN_ISSUER'],
    ['no issuer', { ...base, iss: undefined }, single, 'ERR_TOKEN_ISSUER'],
    ['multi: allowed other tenant', { ...base, tid: OTHER, iss: `${AUTH}/${OTHER}/v2.0` }, multi, 'ok'],
    [
      'multi: tid/issuer mismatch',
      { ...base, tid: OTHER, iss: `${AUTH}/${TID}/v2.0` },
      multi,
      'ERR_TOKEN_ISSUER',
    ],
    [
      'multi: literal template issuer',
      { ...base, iss: `${AUTH}/{tenantid}/v2.0` },
      multi,
      'ERR_TOKEN_ISSUER',
    ],
    ['roles a string', { ...base, roles: 'Admin' }, single, 'ERR_TOKEN_CLAIMS'],
    ['groups with a number', { ...base, groups: ['g', 1] }, single, 'ERR_TOKEN_CLAIMS'],
    ['scp an array', { ...base, scp: ['a'] }, single, 'ERR_TOKEN_CLAIMS'],
    ['oid a number', { ...base, oid: 7 }, single, 'ERR_TOKEN_CLAIMS'],
    ['azp an object', { ...base, azp: {} }, single, 'ERR_TOKEN_CLAIMS'],
    ['idtyp a boolean', { ...base, idtyp: true }, single, 'ERR_TOKEN_CLAIMS'],
  ])('%s → %s', (_name, claims, expectations, expected) => {
    expect(codeOf(claims, expectations)).toBe(expected);
  });
});

describe('principalFromEntraClaims: mapping', () => {
  it.each<[string, Record<string, unknown>, Record<string, unknown>]>([
    ['scp split on spaces', { scp: ' a  b c ' }, { scopes: ['a', 'b', 'c'], idtyp: 'user' }],
    ['azp from v2 azp', { azp: 'client-v2' }, { azp: 'client-v2' }],
    ['azp from v1 appid', { appid: 'client-v1' }, { azp: 'client-v1' }],
    ['idtyp app claim', { idtyp: 'app', scp: undefined, roles: ['R'] }, { idtyp: 'app' }],
    ['no scp and oid === sub → app', { scp: undefined, roles: ['R'], sub: 'o1' }, { idtyp: 'app' }],
    ['no scp but sub !== oid → user', { scp: undefined, roles: ['R'] }, { idtyp: 'user' }],
    ['scp present and oid === sub → user', { sub: 'o1' }, { idtyp: 'user' }],
    [
      'idtyp user wins over oid === sub',
      { idtyp: 'user', scp: undefined, roles: ['R'], sub: 'o1' },
      { idtyp: 'user' },
    ],
    ['absent lists are empty', {}, { roles: [], groups: [] }],
    [
      'roles and groups',
      { roles: ['R'], groups: ['G'] },
      { roles: ['R'], groups: ['G'], groupsOverage: false },
    ],
    [
      'groups overage (_claim_names.groups): groups unknown',
      { groups: ['G'], _claim_names: { groups: 'src1' }, _claim_sources: { src1: {} } },
      { groups: [], groupsOverage: true },
    ],
    ['groups overage (hasgroups)', { hasgroups: true }, { groups: [], groupsOverage: true }],
    [
      '_claim_names without groups is no overage',
      { _claim_names: { other: 'src1' } },
      { groupsOverage: false },
    ],
  ])('%s', (_name, claims, expected) => {
    expect(principalFromEntraClaims({ ...base, ...claims }, single)).toMatchObject({
      kind: 'entra',
      expiresAt: base.exp,
      ...expected,
    });
  });

  it.each([
    ['app-only without idtyp (no scp, oid === sub)', { scp: undefined, roles: ['R'], sub: 'o1' }, 'app'],
    ['delegated without idtyp', {}, 'user'],
    ['idtyp app', { idtyp: 'app' }, 'app'],
  ])("policies see the gateway's classification as the idtyp claim: %s", (_name, claims, idtyp) => {
    const principal = principalFromEntraClaims({ ...base, ...claims }, single);
    expect({ idtyp: principal.idtyp, claim: principal.claims.idtyp }).toEqual({ idtyp, claim: idtyp });
  });

  it('with the overage marker, policies see no groups claim at all', () => {
    const principal = principalFromEntraClaims({ ...base, groups: ['G'], hasgroups: true }, single);
    expect(principal.claims).not.toHaveProperty('groups');
  });

  it("lower-cases tid (multi-tenant issuer built from the token's own tid)", () => {
    const upper = TID.toUpperCase();
    expect(principalFromEntraClaims({ ...base, tid: upper, iss: `${AUTH}/${upper}/v2.0` }, multi).tid).toBe(
      TID,
    );
  });

  it('drops email, upn, preferred_username and unique_name from claims; keeps the rest', () => {
    const principal = principalFromEntraClaims(
      { ...base, email: 'e', upn: 'u', preferred_username: 'p', unique_name: 'n', ctry: 'NL' },
      single,
    );
    expect(Object.keys(principal.claims)).toEqual(expect.arrayContaining(['ctry', 'oid', 'tid']));
    for (const name of ['email', 'upn', 'preferred_username', 'unique_name'])
      expect(principal.claims).not.toHaveProperty(name);
    expect(Object.isFrozen(principal.claims)).toBe(true);
  });
});

describe('checkSigningKeyIssuer (Microsoft ValidateIssuerSigningKey, IDX40005)', () => {
  const token = { iss: `${AUTH}/${TID}/v2.0`, tid: TID };
  const v2Template = `${AUTH}/{tenantid}/v2.0`;
  it.each<[string, string | undefined, Record<string, unknown>, string | undefined, ErrorCode | 'ok']>([
    ['a key without issuer', undefined, token, v2Template, 'ok'],
    ['a key with a blank issuer', '  ', token, v2Template, 'ok'],
    ['tenant-specific key issuer equal to iss', `${AUTH}/${TID}/v2.0`, token, v2Template, 'ok'],
    ['{tenantid} key issuer, filled with tid', `${AUTH}/{tenantid}/v2.0`, token, v2Template, 'ok'],
    ['key issuer of another tenant', `${AUTH}/${OTHER}/v2.0`, token, v2Template, 'ERR_TOKEN_KEY_ISSUER'],
    [
      'key issuer of another cloud',
      `https://login.microsoftonline.us/${TID}/v2.0`,
      token,
      v2Template,
      'ERR_TOKEN_KEY_ISSUER',
    ],
    [
      'v1 token (sts issuer) with a v2 key issuer: matches the v2 issuer of its tid',
      `${AUTH}/{tenantid}/v2.0`,
      { iss: `https://sts.example.test/${TID}/`, tid: TID },
      v2Template,
      'ok',
    ],
  ])('%s', (_name, keyIssuer, payload, v2, expected) => {
    let outcome: ErrorCode | 'ok' = 'ok';
    try {
      checkSigningKeyIssuer(keyIssuer, payload, v2);
    } catch (err) {
      outcome = (err as GatewayError).code;
    }
    expect(outcome).toBe(expected);
  });
});
