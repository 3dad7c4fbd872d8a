import type { TokenCredential } from '@azure/core-auth';
import { GatewayError } from '../../errors';
import type { AccessTokenCache } from '../../http/access-token-cache';
import type { DownstreamCredential } from './downstream-credential';

/**
 * `auth.type: managedIdentity`: `Authorization: Bearer <token for scope>` from the Function App's
 * managed identity. The token is cached per scope (see {@link AccessTokenCache}); any failure of
 * the token service is 502 `ERR_UPSTREAM_CREDENTIAL`, its message in the log only.
 *
 * @param credential resolves the `TokenCredential` (lazily: `@azure/identity` is loaded on the
 *   first managed identity call, not at cold start)
 */
export function managedIdentityCredential(
  scope: string,
  credential: () => Promise<TokenCredential>,
  cache: AccessTokenCache,
): DownstreamCredential {
  return {
    async headers() {
      try {
        const token = await cache.get(`mi:${scope}`, async () => {
          const result = await (await credential()).getToken(scope);
          if (result === null) throw new Error(`no token for scope ${scope}`);
          return { token: result.token, expiresOnTimestamp: result.expiresOnTimestamp };
        });
        return { authorization: `Bearer ${token}` };
      } catch (err) {
        throw new GatewayError('ERR_UPSTREAM_CREDENTIAL', undefined, { cause: err });
      }
    },
  };
}
