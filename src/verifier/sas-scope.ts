/**
 * The scope check of a verified SAS: does a request (resource, action, path) fall inside the
 * token's `sr` and `sp`? Pure and shared: the gateway's decision API and proxy, and downstream
 * verification ({@link verifySasToken}) all ask this one function.
 *
 * A path scope covers its subtree at `/` boundaries: `orders/customers/42` covers
 * `/customers/42` and `/customers/42/orders`, never `/customers/420`. Segments compare exactly
 * (case-sensitive): a case variant is refused, which can only narrow what the token grants.
 */
import { isAction, type Action as SasAction } from '../policy/actions';
import { splitPath } from '../policy/path-glob';
import { VerifierError } from './verifier-error';

/** What a SAS scope check reads of a grant. */
export interface SasScope {
  readonly resource: string;
  readonly pathPrefix: readonly string[];
  readonly actions: readonly SasAction[];
}

/** The request to check; a member left out is not checked. */
export interface SasScopeRequest {
  readonly resource?: string;
  /** `read`, `create`, `write` or `delete` (see {@link sasActionForMethod}). */
  readonly action?: string;
  /** A normalized request path inside the resource: `/customers/42/orders`. */
  readonly path?: string;
}

export type SasScopeResult = { readonly inside: true } | { readonly inside: false; readonly reason: string };

/** The action an HTTP method performs (`GET` → `read`), or undefined for any other method. */
export { actionForMethod as sasActionForMethod } from '../policy/actions';

/**
 * Segments of a normalized path (`/a/b`, one trailing `/` ignored), or undefined when it is not
 * one: no leading `/`, an empty, `.` or `..` segment, a `\`, `%` or NUL. The policy evaluator's
 * own rule, so a SAS and a policy read a path alike.
 */
export { splitPath as requestPathSegments } from '../policy/path-glob';

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

/**
 * {@link checkSasScope}, throwing when outside.
 *
 * @throws {VerifierError} `ERR_SAS_SCOPE` (403) when the request is outside the token's scope.
 */
export function assertSasScope(scope: SasScope, request: SasScopeRequest): void {
  const result = checkSasScope(scope, request);
  if (!result.inside) throw new VerifierError('ERR_SAS_SCOPE', result.reason);
}
