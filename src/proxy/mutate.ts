/**
 * The proxy's mutate stage: what the gateway adds to a forwarded call, the resource's downstream
 * credential and the `x-gateway-principal` statement of who the caller is.
 */
import type { HttpRequest } from '@azure/functions';
import type { Principal } from '../auth/principal';
import { nowSeconds } from '../clock';
import { GatewayError } from '../errors';
import type { Resource } from '../policy/model';
import { createPrincipalStatement } from '../verifier/principal-statement';
import type { GatewayProxy } from './gateway-proxy';

/** Lifetime of `x-gateway-principal`: one call, with room for a slow upstream and clock skew. */
export const PRINCIPAL_STATEMENT_TTL_SECONDS = 60;

/** The caller's Entra token, for on-behalf-of. */
function bearerToken(request: HttpRequest): string | undefined {
  const header = request.headers.get('authorization');
  return header !== null && /^bearer /i.test(header) ? header.slice(7) : undefined;
}

/**
 * The downstream credential's headers and the signed caller statement.
 *
 * @throws {GatewayError} 502 `ERR_UPSTREAM_CREDENTIAL` (the cause logged), 403 `ERR_OBO_REQUIRES_BEARER`
 */
export async function gatewayHeaders(
  proxy: GatewayProxy,
  request: HttpRequest,
  principal: Principal,
  resource: Resource,
  correlationId: string,
): Promise<Record<string, string>> {
  let headers: Record<string, string> = {};
  if (resource.auth.type !== 'none') {
    try {
      const credential = proxy.credentials.for(resource.auth);
      headers = await credential.headers(
        principal,
        principal.kind === 'entra' ? bearerToken(request) : undefined,
      );
    } catch (err) {
      if (err instanceof GatewayError) throw err;
      throw new GatewayError('ERR_UPSTREAM_CREDENTIAL', undefined, { cause: err });
    }
  }
  return {
    ...headers,
    'x-gateway-principal': createPrincipalStatement(
      {
        oid: principal.oid,
        tid: principal.tid,
        azp: principal.azp,
        roles: principal.roles,
        resource: resource.name,
        correlationId,
      },
      proxy.keyRing,
      nowSeconds(proxy.clock),
      PRINCIPAL_STATEMENT_TTL_SECONDS,
    ),
  };
}
