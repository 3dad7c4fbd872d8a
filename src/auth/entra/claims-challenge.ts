/**
 * Step-up with a Conditional Access authentication context (docs/step-up.md): the answer to a
 * caller that would be allowed but for a context its token's `acrs` lacks, in the format
 * Microsoft's identity platform uses for a claims challenge ("Claims challenges, claims requests
 * and client capabilities"; "Developer guide to Conditional Access authentication context"):
 *
 * - `claims` is the standard base64 of the OpenID Connect claims request
 *   `{"access_token":{"acrs":{"essential":true,"value":"c1"}}}`; MSAL clients decode it and pass it
 *   as `claims` to their next token request, and Entra runs the policy mapped to `c1`;
 * - a client that declares it can answer claims challenges (client capability `cp1`, which Entra
 *   puts in the token's `xms_cc`) gets 401 with
 *   `WWW-Authenticate: Bearer realm="…", authorization_uri="…", error="insufficient_claims", claims="…"`;
 *   any other gets 403 with the same code and `claims` in the body, as Microsoft's guide says of
 *   clients that did not declare the capability.
 */
import type { Config } from '../../config/load-config';
import { GatewayError } from '../../errors';
import type { Claims } from '../../policy/subject';

/** The client capability that says a client can answer claims challenges. */
export const CLAIMS_CHALLENGE_CAPABILITY = 'cp1';

/** The `claims` value asking for authentication context `context` (`c1`...`c99`). */
export function authContextClaims(context: string): string {
  return Buffer.from(
    JSON.stringify({ access_token: { acrs: { essential: true, value: context } } }),
  ).toString('base64');
}

/** Whether the token says its client handles claims challenges (`xms_cc` lists `cp1`). */
export function answersClaimsChallenges(claims: Claims): boolean {
  const capabilities = Object.hasOwn(claims, 'xms_cc') ? claims.xms_cc : undefined;
  return Array.isArray(capabilities) && capabilities.includes(CLAIMS_CHALLENGE_CAPABILITY);
}

/**
 * The refusal of a request that needs authentication context `context`: 401 with the claims
 * challenge for a capable client, 403 otherwise, or (`tokenEndpoint`) the exchange's 400
 * `interaction_required`. Every variant carries `claims` in its body.
 */
export function authContextRequired(
  entra: Pick<Config['entra'], 'authority' | 'tenantId' | 'multiTenant'>,
  callerClaims: Claims,
  context: string,
  tokenEndpoint = false,
): GatewayError {
  const claims = authContextClaims(context);
  const capable = answersClaimsChallenges(callerClaims);
  return new GatewayError(
    'ERR_AUTH_CONTEXT_REQUIRED',
    `This request needs authentication context ${context}: get a new token with the claims in "claims"`,
    {
      status: tokenEndpoint ? 400 : capable ? 401 : 403,
      extensions: { claims, authContext: context },
      claimsChallenge: {
        // Microsoft's format: the tenant, or "" through the common endpoints.
        realm: entra.multiTenant ? '' : entra.tenantId,
        authorizationUri: `${entra.authority}/${entra.tenantId}/oauth2/v2.0/authorize`,
        claims,
      },
    },
  );
}
