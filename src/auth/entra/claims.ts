/**
 * The checks on a signature-verified payload (expiry present, audience, tenant, issuer, claim
 * types), and the mapping of Entra claims to the gateway's {@link Principal}.
 */
import type { Config } from '../../config/load-config';
import { GatewayError } from '../../errors';
import type { Principal } from '../principal';
import { expectedIssuer } from './openid-metadata';

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Claims dropped from `Principal.claims`: mutable, user-editable or recyclable identifiers that
 * must never decide access (docs/reference.md §3). Dropping them means a policy condition on
 * them can never match, rather than matching on spoofable data.
 */
export const UNTRUSTED_IDENTITY_CLAIMS: readonly string[] = [
  'email',
  'upn',
  'preferred_username',
  'unique_name',
];

/** What the claims are checked against. */
export interface ClaimExpectations {
  readonly config: Pick<
    Config['entra'],
    'tenantId' | 'multiTenant' | 'allowedTenants' | 'audiences' | 'allowAclAuthorization'
  >;
  /** The metadata issuer; may contain `{tenantid}`. */
  readonly issuerTemplate: string;
}

/**
 * Checks the claims of a token whose signature, `exp` and `nbf` values jsonwebtoken already
 * verified, and maps them to a Principal.
 *
 * Order matters for the code a client sees: expiry, audience, tenant, then issuer, so a token of
 * a foreign tenant reports the tenant rather than the issuer derived from it.
 *
 * @throws {GatewayError} `ERR_TOKEN_NO_EXPIRY`, `ERR_TOKEN_AUDIENCE`, `ERR_TOKEN_TENANT`,
 *   `ERR_TOKEN_ISSUER`, `ERR_TOKEN_CLAIMS`.
 */
export function principalFromEntraClaims(
  payload: Readonly<Record<string, unknown>>,
  expect: ClaimExpectations,
): Principal {
  const { config } = expect;
  if (typeof payload.exp !== 'number' || !Number.isFinite(payload.exp))
    throw new GatewayError('ERR_TOKEN_NO_EXPIRY');

  // Entra access tokens carry exactly one audience; an array (even one containing ours) is not
  // an Entra token, and accepting it would let a token for several APIs be replayed here.
  if (
    typeof payload.aud !== 'string' ||
    !config.audiences.some((valid) => audienceMatches(payload.aud as string, valid))
  ) {
    throw new GatewayError('ERR_TOKEN_AUDIENCE');
  }

  if (payload.tid === undefined) throw claims('"tid" is missing');
  // Microsoft.IdentityModel refuses a token with two claims named `tid` without regard to case
  // (IDX40011, an invalid issuer): which one names the tenant would be the reader's guess.
  let tids = 0;
  for (const name in payload) if (name.length === 3 && name.toLowerCase() === 'tid') tids++;
  if (tids > 1) throw new GatewayError('ERR_TOKEN_ISSUER', 'The token has more than one "tid" claim');
  if (typeof payload.tid !== 'string' || !GUID.test(payload.tid)) throw new GatewayError('ERR_TOKEN_TENANT');
  const tid = payload.tid.toLowerCase();
  if (!config.allowedTenants.includes(tid)) throw new GatewayError('ERR_TOKEN_TENANT');
  // Single-tenant: the metadata (and so the keys and issuer) is the configured tenant's own.
  if (!config.multiTenant && tid !== config.tenantId.toLowerCase())
    throw new GatewayError('ERR_TOKEN_TENANT');

  // Multi-tenant metadata shares one key set across all tenants; the issuer, bound to `tid`, is
  // what stops tenant A's token from claiming to be tenant B's.
  if (typeof payload.iss !== 'string' || payload.iss !== expectedIssuer(expect.issuerTemplate, payload.tid)) {
    throw new GatewayError('ERR_TOKEN_ISSUER');
  }

  const roles = optionalStringArray(payload, 'roles');
  const groupsOverage = hasGroupsOverage(payload);
  // With the overage marker, whatever `groups` holds is not the whole membership: ignore it.
  const groups = groupsOverage ? [] : optionalStringArray(payload, 'groups');
  const scp = optionalString(payload, 'scp');
  const oid = optionalString(payload, 'oid');
  const sub = optionalString(payload, 'sub');
  const idtyp = optionalString(payload, 'idtyp');
  // v2 names the client `azp`, v1 `appid`.
  const azp = optionalString(payload, 'azp') ?? optionalString(payload, 'appid');
  const scopes = scp === undefined ? [] : scp.split(' ').filter((s) => s.length > 0);
  // A token that grants nothing: any client of an allowed tenant can get one for this API
  // (client credentials) without being granted a role. Microsoft.Identity.Web refuses it
  // (IDW10201) unless the API authorizes apps by client id (its ACL mode; ours is a setting).
  if (!config.allowAclAuthorization && scopes.length === 0 && roles.length === 0) {
    throw new GatewayError('ERR_TOKEN_NO_SCOPE_OR_ROLE');
  }

  // Entra sets `idtyp: app` only when the app opts into the optional claim; without it, an
  // app-only token is recognised by having no delegated scopes and `sub === oid`.
  const isApp =
    idtyp === 'app' || (idtyp === undefined && scp === undefined && oid !== undefined && oid === sub);

  const kept: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(payload)) {
    if (!UNTRUSTED_IDENTITY_CLAIMS.includes(name)) kept[name] = value;
  }
  if (groupsOverage) delete kept.groups;
  // Policies see the gateway's classification, not only what the token says: an app-only token
  // without the optional `idtyp` claim still meets a condition on `idtyp equals app`.
  kept.idtyp = isApp ? 'app' : 'user';
  return Object.freeze({
    kind: 'entra',
    oid,
    tid,
    azp,
    roles: Object.freeze(roles),
    scopes: Object.freeze(scopes),
    groups: Object.freeze(groups),
    groupsOverage,
    idtyp: isApp ? 'app' : 'user',
    expiresAt: payload.exp,
    claims: Object.freeze(kept),
  });
}

/**
 * `aud` against one configured audience, ignoring one trailing `/` on either side as Microsoft's
 * validators do by default (`IgnoreTrailingSlashWhenValidatingAudience`): `api://x/` (what a v1
 * client asking for `api://x/` gets) is `api://x`; `api://x//` is not.
 */
export function audienceMatches(aud: string, valid: string): boolean {
  if (aud === valid) return true;
  const [longer, shorter] = aud.length > valid.length ? [aud, valid] : [valid, aud];
  return longer.length === shorter.length + 1 && longer.endsWith('/') && longer.startsWith(shorter);
}

/**
 * Whether the JWK that verified a token may sign for the token's issuer (Microsoft's
 * `ValidateIssuerSigningKey`, IDX40005): a JWK's `issuer` (with `{tenantid}` replaced by the
 * token's `tid`) must equal the token's `iss` or the v2 issuer of that tenant. A JWK without an
 * `issuer` (all v1 keys), or with a blank one, may sign for any issuer the metadata trusts. In
 * multi-tenant mode this is what ties a key to the tenants it signs for.
 *
 * @param v2IssuerTemplate the v2 metadata issuer (may hold `{tenantid}`), when loaded
 * @throws {GatewayError} `ERR_TOKEN_KEY_ISSUER`
 */
export function checkSigningKeyIssuer(
  keyIssuer: string | undefined,
  payload: Readonly<Record<string, unknown>>,
  v2IssuerTemplate: string | undefined,
): void {
  if (keyIssuer === undefined || keyIssuer.trim() === '') return;
  const tid = payload.tid as string;
  const effective = keyIssuer.replaceAll('{tenantid}', tid);
  const v2Issuer = v2IssuerTemplate?.replaceAll('{tenantid}', tid);
  if (effective !== payload.iss && effective !== v2Issuer) throw new GatewayError('ERR_TOKEN_KEY_ISSUER');
}

/**
 * Entra's groups-overage marker: a token for a user in more groups than fit (200 in a JWT) names
 * a Graph source under `_claim_names.groups` instead; implicit-flow tokens say `hasgroups: true`.
 */
export function hasGroupsOverage(claims: Readonly<Record<string, unknown>>): boolean {
  if (claims.hasgroups === true || claims.hasgroups === 'true') return true;
  const names = claims._claim_names;
  return typeof names === 'object' && names !== null && Object.hasOwn(names, 'groups');
}

function optionalString(payload: Readonly<Record<string, unknown>>, name: string): string | undefined {
  const value = payload[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw claims(`"${name}" must be a string`);
  return value;
}

function optionalStringArray(payload: Readonly<Record<string, unknown>>, name: string): string[] {
  const value = payload[name];
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every((v): v is string => typeof v === 'string')) {
    throw claims(`"${name}" must be an array of strings`);
  }
  return [...value];
}

function claims(reason: string): GatewayError {
  return new GatewayError('ERR_TOKEN_CLAIMS', `The token has a bad claim: ${reason}`);
}
