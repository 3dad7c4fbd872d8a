/**
 * The checks on a signature-verified payload (expiry present, audience, tenant, issuer, claim
 * types); the claims become the gateway's {@link Principal} through the one mapping policies
 * use, `subjectFromClaims` (src/policy/subject.ts), which the admin what-if uses too.
 */
import type { Config } from '../../config/load-config';
import { GatewayError } from '../../errors';
import type { Principal } from '../principal';
import { ClaimTypeError, subjectFromClaims, type ClaimsSubject } from '../../policy/subject';
import { expectedIssuer } from './openid-metadata';

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

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

  let subject: ClaimsSubject;
  try {
    subject = subjectFromClaims(payload);
  } catch (err) {
    if (err instanceof ClaimTypeError) throw claims(err.message);
    throw err;
  }
  // A token that grants nothing: any client of an allowed tenant can get one for this API
  // (client credentials) without being granted a role. Microsoft.Identity.Web refuses it
  // (IDW10201) unless the API authorizes apps by client id (its ACL mode; ours is a setting).
  if (!config.allowAclAuthorization && subject.scopes.length === 0 && subject.roles.length === 0) {
    throw new GatewayError('ERR_TOKEN_NO_SCOPE_OR_ROLE');
  }
  return Object.freeze({ kind: 'entra', ...subject, tid, expiresAt: payload.exp });
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

function claims(reason: string): GatewayError {
  return new GatewayError('ERR_TOKEN_CLAIMS', `The token has a bad claim: ${reason}`);
}
