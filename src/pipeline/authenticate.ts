/**
 * The authenticate stage of the pipeline, and the one admin check: the request's credential in,
 * the caller out, noted for the audit trail and counted against the per-caller limit.
 */
import type { HttpRequest } from '@azure/functions';
import { authenticate, type CredentialVerifier } from '../auth/authenticate';
import type { Principal } from '../auth/principal';
import { GatewayError } from '../errors';
import { gatewayUrls } from '../http/request-context';
import type { Services } from '../services';
import type { RequestScope } from './operation';
import { enforce } from './rate-limits';

/** What the stage reads. */
export type AuthenticateDeps = Pick<Services, 'entra' | 'sas' | 'limits' | 'dpop' | 'config'>;

/**
 * `Authorization: DPoP <token>` (RFC 9449 section 7): a SAS token bound to a key, and the
 * request's `DPoP` proof signed by that key, for this method and URL, with `ath` the token's
 * hash, never seen before. Every refusal challenges with `DPoP`.
 */
function dpopCredential(deps: AuthenticateDeps, request: HttpRequest): CredentialVerifier {
  return {
    async verify(token: string): Promise<Principal> {
      let principal: Principal;
      try {
        principal = await deps.sas.verify(token);
      } catch (err) {
        if (err instanceof GatewayError && err.status === 401)
          throw new GatewayError(err.code, err.message, { challenge: ['DPoP'], cause: err.cause });
        throw err;
      }
      const jkt = principal.sas?.jkt;
      if (jkt === undefined) {
        throw new GatewayError(
          'ERR_DPOP_BINDING',
          'This token is not bound to a DPoP key: send it as "Authorization: SharedAccessSignature"',
          { challenge: ['DPoP'] },
        );
      }
      const proof = await deps.dpop.verify(
        request.headers.get('dpop'),
        { method: request.method, urls: gatewayUrls(deps.config, request.url), accessToken: token },
        'resource',
      );
      if (proof.jkt !== jkt) {
        throw new GatewayError(
          'ERR_DPOP_BINDING',
          'The DPoP proof is signed by another key than the token is bound to',
          {
            challenge: ['DPoP'],
          },
        );
      }
      return principal;
    },
  };
}

/** Options of {@link authenticateCaller}. */
export interface AuthenticateOptions {
  /**
   * Accept `SharedAccessSignature` and `DPoP` credentials too (and name them in the 401 challenge).
   * Only routes a SAS can be used on set it: `/api/authorize` and the proxy; never admin routes.
   */
  readonly acceptSas?: boolean;
}

/**
 * Verifies the request's credential (Entra; SAS too when asked).
 *
 * @throws {GatewayError} 401 for a missing or invalid credential, 429 past the caller's limit,
 *   503 when the identity provider or the policies were never reachable.
 */
export async function authenticateCaller(
  deps: AuthenticateDeps,
  scope: RequestScope,
  options: AuthenticateOptions = {},
): Promise<Principal> {
  const principal = await authenticate(
    scope.request.headers.get('authorization'),
    options.acceptSas
      ? { entra: deps.entra, sas: deps.sas, dpop: dpopCredential(deps, scope.request) }
      : { entra: deps.entra },
  );
  scope.audit.caller(principal);
  if (deps.limits.principal) {
    enforce(
      deps.limits.principal.take(`${principal.tid}/${principal.oid ?? principal.azp ?? 'anonymous'}`),
      'this caller',
    );
  }
  return principal;
}

/** What the admin check reads. */
export type AdminDeps = AuthenticateDeps & Pick<Services, 'config'>;

/** True when the principal holds the admin app role in an Entra token (a SAS never does). */
export function isAdmin(deps: Pick<Services, 'config'>, principal: Principal): boolean {
  return principal.kind === 'entra' && principal.roles.includes(deps.config.adminRole);
}

/**
 * Authenticates and requires the admin app role in an Entra token.
 *
 * @throws {GatewayError} 401, then 403 `ERR_ADMIN_ROLE_REQUIRED`.
 */
export async function requireAdmin(deps: AdminDeps, scope: RequestScope): Promise<Principal> {
  const principal = await authenticateCaller(deps, scope);
  if (!isAdmin(deps, principal)) {
    throw new GatewayError(
      'ERR_ADMIN_ROLE_REQUIRED',
      `This route needs the "${deps.config.adminRole}" app role`,
    );
  }
  return principal;
}
