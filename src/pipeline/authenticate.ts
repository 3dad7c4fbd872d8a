/**
 * The authenticate stage of the pipeline, and the one admin check: the request's credential in,
 * the caller out, noted for the audit trail and counted against the per-caller limit.
 */
import { authenticate } from '../auth/authenticate';
import type { Principal } from '../auth/principal';
import { GatewayError } from '../errors';
import type { Services } from '../services';
import type { RequestScope } from './operation';
import { enforce } from './rate-limits';

/** What the stage reads. */
export type AuthenticateDeps = Pick<Services, 'entra' | 'sas' | 'limits'>;

/** Options of {@link authenticateCaller}. */
export interface AuthenticateOptions {
  /**
   * Accept `SharedAccessSignature` credentials too (and name that scheme in the 401 challenge).
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
    options.acceptSas ? { entra: deps.entra, sas: deps.sas } : { entra: deps.entra },
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
