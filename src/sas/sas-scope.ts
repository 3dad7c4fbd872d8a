/**
 * The scope check of a verified SAS: does a request (resource, action, path) fall inside the
 * token's `sr` and `sp`? Its one caller is the authorize stage (src/decision/authorize.ts), which
 * the decision API, the proxy and the token exchange all go through.
 *
 * A path scope covers its subtree at `/` boundaries: `orders/customers/42` covers
 * `/customers/42` and `/customers/42/orders`, never `/customers/420`. Segments compare exactly
 * (case-sensitive): a case variant is refused, which can only narrow what the token grants.
 */
import { isAction, type Action as SasAction } from '../policy/actions';
import { splitPath } from '../policy/path-glob';

/** What a SAS scope check reads of a grant. */
export interface SasScope {
  readonly resource: string;
  readonly pathPrefix: readonly string[];
  readonly actions: readonly SasAction[];
}

/** The request to check; a member left out is not checked. */
export interface SasScopeRequest {
  readonly resource?: string;
  /** `read`, `create`, `write` or `delete`. */
  readonly action?: string;
  /** A normalized request path inside the resource: `/customers/42/orders`. */
  readonly path?: string;
}

export type SasScopeResult = { readonly inside: true } | { readonly inside: false; readonly reason: string };

/**
 * Whether the request is inside the scope, and why not.
 *
 * @example
 * ```ts
 * checkSasScope(grant, { resource: 'orders', action: 'read', path: '/customers/420' });
 * // { inside: false, reason: 'The path is outside the token's path scope' }
 * ```
 */
export function checkSasScope(scope: SasScope, request: SasScopeRequest): SasScopeResult {
  if (request.resource !== undefined && request.resource !== scope.resource) {
    return { inside: false, reason: `The token is for resource "${scope.resource}"` };
  }
  if (request.action !== undefined) {
    const action = request.action;
    if (!isAction(action) || !scope.actions.includes(action)) {
      return { inside: false, reason: `The token does not grant "${request.action}"` };
    }
  }
  if (request.path !== undefined) {
    const segments = splitPath(request.path);
    if (segments === undefined) return { inside: false, reason: 'The path is not a normalized path' };
    const prefix = scope.pathPrefix;
    if (segments.length < prefix.length)
      return { inside: false, reason: "The path is outside the token's path scope" };
    for (let i = 0; i < prefix.length; i++) {
      if (segments[i] !== prefix[i])
        return { inside: false, reason: "The path is outside the token's path scope" };
    }
  }
  return { inside: true };
}
