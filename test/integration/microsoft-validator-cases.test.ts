/**
 * Microsoft's own token-validation test cases, ported one row per case and run over HTTP against
 * the gateway (`POST /api/authorize`) in its three tenant modes: single tenant, `organizations`
 * and `common`, all in front of the dev identity provider (Entra's twin).
 *
 * Sources (their public test suites):
 * - MIM: AzureAD/azure-activedirectory-identitymodel-extensions-for-dotnet
 *   (Microsoft.IdentityModel.Validators.Tests, Microsoft.IdentityModel.Tokens.Tests/Validation)
 * - MIW: AzureAD/microsoft-identity-web (Microsoft.Identity.Web.Test/Resource)
 *
 * Each row names the Microsoft test it comes from, and the outcome in each mode: `ok` (200 with a
 * decision) or the 401 code. A row whose `differs` is set is a place where the gateway is stricter
 * on purpose; it says why, and docs/entra-validation.md lists the same differences.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { systemClock } from '../../src/clock';
import {
  DEV_API_CLIENT_ID,
  DEV_TENANT_ID,
  devV1IssuerBase,
  generateDevSigningKey,
  mintDevToken,
  startDevIdentityProvider,
  type DevIdentityProvider,
  type DevSigningKey,
  type MintTokenOptions,
} from '../../src/host/local/dev-identity-provider';
import {
  startGatewayInstance,
  startLocalStack,
  type GatewayInstance,
  type LocalStack,
} from '../../src/host/local/local-stack';
import { MemoryLogger } from '../../src/logger';
import type { ErrorCode } from '../../src/errors';
import { call } from '../helpers/http';
import { payloadOf } from '../helpers/entra';

const OTHER_TENANT = '11111111-2222-4333-8444-555555555555';
const UNLISTED_TENANT = '99999999-8888-4777-8666-555555555555';
const US_GOV_ISSUER = `https://login.microsoftonline.us/${DEV_TENANT_ID}/v2.0`;

type Mode = 'single' | 'organizations' | 'common';
type Outcome = 'ok' | ErrorCode;

/** What a row's token builder may use. */
interface Kit {
  readonly idp: DevIdentityProvider;
  readonly now: number;
  /** Mints with the IdP's own signing key. */
  mint(options?: MintTokenOptions): string;
  /** Mints with one of the extra published keys. */
  mintWith(key: DevSigningKey, options?: MintTokenOptions): string;
  readonly keys: {
    /** Its JWK names the US Gov cloud's issuer. */
    readonly otherCloud: DevSigningKey;
    /** Its JWK names a blank issuer. */
    readonly blank: DevSigningKey;
    /** Its JWK names the `{tenantid}` template. */
    readonly anyTenant: DevSigningKey;
    /** Its JWK names the home tenant's issuer only. */
    readonly homeOnly: DevSigningKey;
  };
}

interface Case {
  readonly name: string;
  /** The Microsoft test this row ports. */
  readonly source: string;
  readonly token: (kit: Kit) => string;
  readonly expect: Readonly<Record<Mode, Outcome>>;
  /** Why the gateway differs from Microsoft here (absent: it agrees). */
  readonly differs?: string;
}

const all = (outcome: Outcome): Record<Mode, Outcome> => ({
  single: outcome,
  organizations: outcome,
  common: outcome,
});
/** Accepted where other tenants are allowed (multi-tenant modes), refused in single tenant. */
const otherTenant = (multi: Outcome): Record<Mode, Outcome> => ({
  single: 'ERR_TOKEN_TENANT',
  organizations: multi,
  common: multi,
});

const CASES: readonly Case[] = [
  // ---- Signing key issuer (MIM AadSigningKeyIssuerValidatorTests.ValidateIssuerSigningKeyTests) --
  {
    name: 'a token of the home tenant, key issuer matching',
    source: 'MIM AadSigningKeyIssuerValidatorTests HappyPath_TokenIssuer_Matches_SigningKeyIssuer',
    token: (k) => k.mint(),
    expect: all('ok'),
  },
  {
    name: 'a key whose JWK issuer is another cloud',
    source:
      'MIM AadSigningKeyIssuerValidatorTests JWT_TokenIssuer_MismatchesWith_SigningKeyIssuer (IDX40005)',
    token: (k) => k.mintWith(k.keys.otherCloud),
    expect: all('ERR_TOKEN_KEY_ISSUER'),
  },
  {
    name: 'a key whose JWK issuer is blank',
    source: 'MIM AadSigningKeyIssuerValidatorTests WhitespaceForIssuerInConfiguration',
    token: (k) => k.mintWith(k.keys.blank),
    expect: all('ok'),
  },
  {
    name: 'a {tenantid} key signing for another allowed tenant',
    source:
      'MIM AadSigningKeyIssuerValidatorTests HappyPath_TokenIssuer_Matches_SigningKeyIssuer (common authority)',
    token: (k) => k.mintWith(k.keys.anyTenant, { tid: OTHER_TENANT }),
    expect: otherTenant('ok'),
  },
  {
    name: "a key bound to the home tenant signing another tenant's token",
    source:
      'MIM AadSigningKeyIssuerValidatorTests JST_TokenIssuer_MismatchesWith_SigningKeyIssuer (IDX40005)',
    token: (k) => k.mintWith(k.keys.homeOnly, { tid: OTHER_TENANT }),
    expect: otherTenant('ERR_TOKEN_KEY_ISSUER'),
  },
  {
    name: 'a v1 token (sts-style issuer): v1 keys name no issuer',
    source:
      'MIM AadTokenValidationParametersExtension.ValidateIssuerSigningKey (v1 tokens: keys without issuer)',
    token: (k) => k.mintWith(k.keys.homeOnly, { version: '1.0' }),
    expect: all('ok'),
  },
  {
    name: 'the issuer names another tenant than tid',
    source: 'MIM AadSigningKeyIssuerValidatorTests JWT_TokenIssuer_MismatchesWith_TenantIdInToken (IDX40004)',
    token: (k) => k.mint({ claims: { iss: `${k.idp.authority}/${OTHER_TENANT}/v2.0` } }),
    expect: all('ERR_TOKEN_ISSUER'),
  },
  {
    name: 'no tid claim',
    source: 'MIM AadSigningKeyIssuerValidatorTests MissingTenantIdClaimInToken (IDX40009)',
    token: (k) => k.mint({ claims: { tid: undefined } }),
    expect: all('ERR_TOKEN_CLAIMS'),
  },
  {
    name: 'both tid and TID',
    source: 'MIM AadSigningKeyIssuerValidatorTests Fails_With_Multiple_tids (IDX40011)',
    token: (k) => k.mint({ claims: { TID: OTHER_TENANT } }),
    expect: all('ERR_TOKEN_ISSUER'),
  },
  {
    name: 'tid and Tid (any spelling of the name)',
    source:
      'MIM AadSigningKeyIssuerValidatorTests Fails_With_Multiple_tids_alternate_order (IDX40011: names compared without case)',
    token: (k) => k.mint({ claims: { Tid: OTHER_TENANT } }),
    expect: all('ERR_TOKEN_ISSUER'),
  },
  // ---- Issuer (MIM MicrosoftIdentityIssuerValidatorTest) -------------------------------------
  {
    name: 'a v2 token whose issuer is the metadata issuer for its tid',
    source: 'MIM MicrosoftIdentityIssuerValidatorTest Validate_IssuerMatchedInValidIssuer_ReturnsIssuer',
    token: (k) => k.mint(),
    expect: all('ok'),
  },
  {
    name: 'a v1 token whose issuer is the v1 metadata issuer (another host)',
    source: 'MIM MicrosoftIdentityIssuerValidatorTest Validate_IssuerMatchedInValidV1Issuer_ReturnsIssuer',
    token: (k) => k.mint({ version: '1.0' }),
    expect: all('ok'),
  },
  {
    name: 'a v1 token of another allowed tenant (organizations reads the v1 metadata of common)',
    source:
      'MIM MicrosoftIdentityIssuerValidatorTest Validate_V1IssuerNotInTokenValidationParameters_ReturnsV1Issuer',
    token: (k) => k.mint({ version: '1.0', tid: OTHER_TENANT }),
    expect: otherTenant('ok'),
  },
  {
    name: 'an issuer on an untrusted host',
    source:
      'MIM MicrosoftIdentityIssuerValidatorTest Validate_InvalidIssuerToValidate_ThrowsException (IDX40001)',
    token: (k) => k.mint({ claims: { iss: `https://badissuer/${DEV_TENANT_ID}/v2.0` } }),
    expect: all('ERR_TOKEN_ISSUER'),
  },
  {
    name: 'the issuer matches, but there is no tid',
    source: 'MIM MicrosoftIdentityIssuerValidatorTest Validate_TenantIdInIssuerNotInToken_ReturnsIssuer',
    token: (k) => k.mint({ claims: { tid: undefined } }),
    expect: all('ERR_TOKEN_CLAIMS'),
    differs:
      'Microsoft accepts it; Entra access tokens always carry tid, and the gateway needs it for the tenant allow list, revocation and the audit trail',
  },
  {
    name: 'a tenant outside the allowed tenants',
    source:
      'MIM MicrosoftIdentityIssuerValidatorTest GetIssuerValidator_CommonAuthorityInAliases (any tenant)',
    token: (k) => k.mint({ tid: UNLISTED_TENANT }),
    expect: all('ERR_TOKEN_TENANT'),
    differs: 'Microsoft accepts any tenant under common; the gateway admits only ENTRA_ALLOWED_TENANTS',
  },
  // ---- Lifetime (MIM LifetimeValidationResultTests, skew 60 s here) ---------------------------
  {
    name: 'valid now',
    source: 'MIM LifetimeValidationResultTests Valid',
    token: (k) => k.mint(),
    expect: all('ok'),
  },
  {
    name: 'no nbf',
    source: 'MIM LifetimeValidationResultTests Valid_NotBeforeIsNull',
    token: (k) => k.mint({ claims: { nbf: undefined } }),
    expect: all('ok'),
  },
  {
    name: 'nbf ahead within the skew',
    source: 'MIM LifetimeValidationResultTests Valid_SkewForward',
    token: (k) => k.mint({ claims: { nbf: k.now + 30 } }),
    expect: all('ok'),
  },
  {
    name: 'expired within the skew',
    source: 'MIM LifetimeValidationResultTests Valid_SkewBackward',
    token: (k) => k.mint({ claims: { nbf: k.now - 3600, exp: k.now - 30 } }),
    expect: all('ok'),
  },
  {
    name: 'no exp',
    source: 'MIM LifetimeValidationResultTests Invalid_ExpiresIsNull (IDX10225)',
    token: (k) => k.mint({ claims: { exp: undefined } }),
    expect: all('ERR_TOKEN_NO_EXPIRY'),
  },
  {
    name: 'nbf after exp',
    source: 'MIM LifetimeValidationResultTests Invalid_NotBeforeIsAfterExpires (IDX10224)',
    token: (k) => k.mint({ claims: { nbf: k.now + 3600, exp: k.now - 3600 } }),
    expect: all('ERR_TOKEN_LIFETIME'),
  },
  {
    name: 'nbf after exp, both in the past',
    source: 'MIM LifetimeValidationResultTests Invalid_NotBeforeIsAfterExpires (IDX10224)',
    token: (k) => k.mint({ claims: { nbf: k.now - 600, exp: k.now - 1200 } }),
    expect: all('ERR_TOKEN_LIFETIME'),
  },
  {
    name: 'not yet valid',
    source: 'MIM LifetimeValidationResultTests Invalid_NotYetValid (IDX10222)',
    token: (k) => k.mint({ claims: { nbf: k.now + 3600, exp: k.now + 7200 } }),
    expect: all('ERR_TOKEN_NOT_YET_VALID'),
  },
  {
    name: 'expired',
    source: 'MIM LifetimeValidationResultTests Invalid_Expired (IDX10223)',
    token: (k) => k.mint({ claims: { nbf: k.now - 7200, exp: k.now - 3600 } }),
    expect: all('ERR_TOKEN_EXPIRED'),
  },
  {
    name: 'not yet valid beyond the skew',
    source: 'MIM LifetimeValidationResultTests Invalid_NotYetValid_SkewForward',
    token: (k) => k.mint({ claims: { nbf: k.now + 90 } }),
    expect: all('ERR_TOKEN_NOT_YET_VALID'),
  },
  {
    name: 'expired beyond the skew',
    source: 'MIM LifetimeValidationResultTests Invalid_Expired_SkewBackward',
    token: (k) => k.mint({ claims: { nbf: k.now - 3600, exp: k.now - 90 } }),
    expect: all('ERR_TOKEN_EXPIRED'),
  },
  // ---- Audience (MIM AudienceValidationResultTests; MIW RegisterValidAudienceTests) -----------
  {
    name: 'aud equal to the client id (v2)',
    source: 'MIW RegisterValidAudienceTests ValidateAudience_FromToken (V2)',
    token: (k) => k.mint(),
    expect: all('ok'),
  },
  {
    name: 'aud equal to the App ID URI (v1)',
    source: 'MIW RegisterValidAudienceTests ValidateAudience_FromToken (V1)',
    token: (k) => k.mint({ version: '1.0' }),
    expect: all('ok'),
  },
  {
    name: 'aud of another API',
    source: 'MIM AudienceValidationResultTests Invalid_SameLengthNotMatched (IDX10215)',
    token: (k) => k.mint({ audience: `api://${'0'.repeat(DEV_API_CLIENT_ID.length)}` }),
    expect: all('ERR_TOKEN_AUDIENCE'),
  },
  {
    name: 'aud with one trailing slash',
    source: 'MIM AudienceValidationResultTests Valid_TokenAudienceWithSlash_IgnoreTrailingSlashTrue',
    token: (k) => k.mint({ version: '1.0', audience: `api://${DEV_API_CLIENT_ID}/` }),
    expect: all('ok'),
  },
  {
    name: 'aud with two trailing slashes',
    source: 'MIM AudienceValidationResultTests TokenAudienceWithTwoSlashesVPTrue',
    token: (k) => k.mint({ version: '1.0', audience: `api://${DEV_API_CLIENT_ID}//` }),
    expect: all('ERR_TOKEN_AUDIENCE'),
  },
  {
    name: 'aud with a trailing slash on another API',
    source: 'MIM AudienceValidationResultTests Invalid_TokenAudienceWithSlashNotEqual',
    token: (k) => k.mint({ audience: 'api://someone-else/' }),
    expect: all('ERR_TOKEN_AUDIENCE'),
  },
  {
    name: 'aud one character longer',
    source: 'MIM AudienceValidationResultTests Invalid_ValidAudienceWithExtraChar',
    token: (k) => k.mint({ audience: `${DEV_API_CLIENT_ID}A` }),
    expect: all('ERR_TOKEN_AUDIENCE'),
  },
  {
    name: 'an unknown token version',
    source: 'MIW RegisterValidAudienceTests InvalidAudience_AssertFails (V3)',
    token: (k) => k.mint({ claims: { ver: '3.0' } }),
    expect: all('ERR_TOKEN_VERSION'),
  },
  {
    name: 'aud as an array holding ours',
    source: 'MIM AudienceValidationResultTests Valid_SameLengthMatched (audience list)',
    token: (k) => k.mint({ claims: { aud: [DEV_API_CLIENT_ID, 'api://other'] } }),
    expect: all('ERR_TOKEN_AUDIENCE'),
    differs:
      'Microsoft accepts a token whose audience list holds a valid one; Entra access tokens carry one aud, and a multi-audience token could be replayed to every API it names',
  },
  // ---- Scopes and roles (MIW JwtBearerEventsClaimsValidationTests) ----------------------------
  {
    name: 'neither scp nor roles (an app with no role on the API)',
    source: 'MIW JwtBearerEventsClaimsValidationTests TokenValidated_MissingScopesAndRoles (IDW10201)',
    token: (k) => k.mint({ app: true, roles: [] }),
    expect: all('ERR_TOKEN_NO_SCOPE_OR_ROLE'),
  },
  {
    name: 'scopes and roles',
    source: 'MIW JwtBearerEventsClaimsValidationTests TokenValidated_WithScopesAndRoles',
    token: (k) => k.mint({ scopes: ['access_as_user'], roles: ['Orders.Reader'] }),
    expect: all('ok'),
  },
  {
    name: 'an app token with a role',
    source: 'MIW JwtBearerEventsClaimsValidationTests TokenValidated_WithScopesAndRoles (roles only)',
    token: (k) => k.mint({ app: true, roles: ['Orders.Reader'] }),
    expect: all('ok'),
  },
  // ---- Algorithms and headers -----------------------------------------------------------------
  {
    name: 'RS384 signed with a published RSA key',
    source: 'MIM JsonWebTokenHandler signature validation (any algorithm the key supports)',
    token: (k) =>
      k.idp.signJwt({ alg: 'RS384', typ: 'JWT', kid: k.idp.currentKid }, payloadOf(k.mint()), 'RS384'),
    expect: all('ERR_TOKEN_ALGORITHM'),
    differs:
      'Microsoft verifies any algorithm the key supports; Entra signs access tokens with RS256 only, so the gateway pins it',
  },
  {
    name: 'a crit header',
    source: 'MIM JsonWebTokenHandler (crit is not processed)',
    token: (k) =>
      k.idp.signJwt({ alg: 'RS256', typ: 'JWT', kid: k.idp.currentKid, crit: ['exp'] }, payloadOf(k.mint())),
    expect: all('ERR_TOKEN_MALFORMED'),
    differs:
      'the gateway understands no critical extension, so RFC 7515 section 4.1.11 makes it refuse the token',
  },
];

describe("Microsoft's validator test cases, over HTTP, in three tenant modes", () => {
  let idp: DevIdentityProvider;
  let stack: LocalStack;
  let instances: Record<Exclude<Mode, 'single'>, GatewayInstance>;
  let kit: Kit;
  const urls = {} as Record<Mode, string>;

  beforeAll(async () => {
    idp = await startDevIdentityProvider();
    const keys = {
      otherCloud: generateDevSigningKey(),
      blank: generateDevSigningKey(),
      anyTenant: generateDevSigningKey(),
      homeOnly: generateDevSigningKey(),
    };
    // Published before any gateway loads the JWKS.
    idp.publishKey(keys.otherCloud, { issuer: US_GOV_ISSUER });
    idp.publishKey(keys.blank, { issuer: ' ' });
    idp.publishKey(keys.anyTenant, { issuer: `${idp.authority}/{tenantid}/v2.0` });
    idp.publishKey(keys.homeOnly, { issuer: `${idp.authority}/${DEV_TENANT_ID}/v2.0` });
    const context = {
      authority: idp.authority,
      tenantId: idp.tenantId,
      clientId: idp.clientId,
      clock: systemClock,
    };
    kit = {
      idp,
      now: Math.floor(Date.now() / 1000),
      mint: (options = {}) => idp.mintToken({ roles: ['Reader'], ...options }),
      mintWith: (key, options = {}) => mintDevToken(key, context, { roles: ['Reader'], ...options }),
      keys,
    };
    stack = await startLocalStack({
      env: {
        ENTRA_AUTHORITY: idp.authority,
        ENTRA_TENANT_ID: idp.tenantId,
        ENTRA_AUDIENCES: `${idp.clientId},${idp.audience}`,
      },
      port: 0,
      logger: new MemoryLogger(),
      seedDemo: false,
    });
    const multi = (tenant: string) =>
      startGatewayInstance(stack, {
        env: { ENTRA_TENANT_ID: tenant, ENTRA_ALLOWED_TENANTS: `${DEV_TENANT_ID},${OTHER_TENANT}` },
      });
    instances = { organizations: await multi('organizations'), common: await multi('common') };
    urls.single = stack.gatewayUrl!;
    urls.organizations = instances.organizations.url;
    urls.common = instances.common.url;
  });

  afterAll(async () => {
    await Promise.all(Object.values(instances ?? {}).map((i) => i.close()));
    await stack?.close();
    await idp?.close();
  });

  /** The outcome of one token at one gateway: `ok` for a decision, else the 401's code. */
  const outcome = async (mode: Mode, token: string): Promise<Outcome> => {
    const res = await call(`${urls[mode]}/api/authorize`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ resource: 'none', action: 'read' }),
    });
    if (res.status === 200) return 'ok';
    expect(res.status).toBe(401);
    return res.json.code as ErrorCode;
  };

  it('the table ports at least 35 cases, each naming its source', () => {
    expect(CASES.length).toBeGreaterThanOrEqual(35);
    for (const c of CASES) expect(c.source).toMatch(/^(MIM|MIW) /);
  });

  it('the v1 issuer is on another host than the authority, as sts.windows.net is', () => {
    const v1 = payloadOf(kit.mint({ version: '1.0' })).iss as string;
    expect(v1.startsWith(devV1IssuerBase(idp.authority))).toBe(true);
    expect(v1.startsWith(idp.authority)).toBe(false);
  });

  it.each(CASES.map((c) => [c.name, c]))('%s', async (_name, c) => {
    const token = c.token(kit);
    const seen: Record<string, Outcome> = {};
    for (const mode of ['single', 'organizations', 'common'] as const)
      seen[mode] = await outcome(mode, token);
    expect(seen).toEqual(c.expect);
  });

  it('every deliberate difference is written down in docs/entra-validation.md', () => {
    const doc = readFileSync(join(__dirname, '../../docs/entra-validation.md'), 'utf8');
    const section = doc.slice(doc.indexOf('## Differences from Microsoft'));
    const differences = CASES.filter((c) => c.differs !== undefined);
    expect(differences.length).toBeGreaterThan(0);
    for (const c of differences) expect(section).toContain(c.name);
  });
});
