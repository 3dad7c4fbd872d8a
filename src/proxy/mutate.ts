/**
 * The proxy's mutate stage: what the gateway adds to a forwarded call, the resource's downstream
 * credential and the `x-gateway-principal` statement of who the caller is.
 */
import type { HttpRequest } from '@azure/functions';
import type { Principal } from '../auth/principal';
import { GatewayError } from '../errors';
import { apiBaseUrl } from '../http/request-context';
import type { Resource } from '../policy/model';
import type { GatewayProxy } from './gateway-proxy';
import type { NormalizedPath } from './normalize-path';

/** The caller's Entra token, for on-behalf-of. */
function bearerToken(request: HttpRequest): string | undefined {
  const header = request.headers.get('authorization');
  return header !== null && /^bearer /i.test(header) ? header.slice(7) : undefined;
}

/** The statement of who calls: reused per caller and downstream, or bound to this request. */
function statement(
  proxy: GatewayProxy,
  request: HttpRequest,
  principal: Principal,
  resource: Resource,
  path: NormalizedPath,
): string {
  const issuer = proxy.issuer ?? apiBaseUrl(request.url);
  const audience = resource.audience ?? resource.name;
  if (!resource.boundStatement) return proxy.statements.statementFor(principal, audience, issuer);
  const target = proxy.target(resource.upstream);
  return proxy.statements.boundStatementFor(principal, audience, issuer, {
    method: request.method,
    url: `${target.origin}${target.basePath}${path.forwardPath || '/'}`,
  });
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
  path: NormalizedPath,
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
  return { ...headers, 'x-gateway-principal': statement(proxy, request, principal, resource, path) };
}
