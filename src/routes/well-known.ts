/**
 * The gateway's published keys and their discovery document, so a downstream (or any
 * OIDC-aware JWT library) verifies `x-gateway-principal` knowing only the gateway's issuer URL:
 *
 * - `GET /api/.well-known/openid-configuration` and `GET /api/.well-known/oauth-authorization-server`
 *   (RFC 8414): `issuer`, `jwks_uri`, the token endpoint, its grant and DPoP algorithms;
 * - `GET /api/.well-known/jwks.json`: the public statement keys (signing key first), never a
 *   private member.
 *
 * No credential: public keys are public. Cached by clients for 5 minutes, so a key added for
 * rotation is seen well before it signs (docs/downstream-trust.md).
 */
import { DPOP_ALGS } from '../errors';
import { apiBaseUrl } from '../http/request-context';
import type { Route } from '../pipeline/operation';
import type { Services } from '../services';

type Deps = Pick<Services, 'statements' | 'config'>;

const CACHE = { 'cache-control': 'public, max-age=300' };

/** The issuer: `GATEWAY_ISSUER`, or the base URL the caller reached. */
function issuerOf(deps: Deps, url: string): string {
  return deps.config.statement.issuer ?? apiBaseUrl(url);
}

export const jwks: Route<Deps> = {
  name: 'jwks',
  template: '.well-known/jwks.json',
  methods: ['GET'],
  throttled: false,
  run: (deps) =>
    Promise.resolve({
      status: 200,
      headers: { ...CACHE, 'content-type': 'application/json' },
      body: JSON.stringify(deps.statements.jwks),
    }),
};

/**
 * RFC 8414 authorization server metadata: what a standard OAuth client needs to exchange an Entra
 * token at `/api/token` with no configuration but the issuer URL. Public clients (no client
 * authentication: the subject token is the credential), DPoP with the proof algorithms accepted.
 */
function authorizationServerMetadata(issuer: string): Record<string, unknown> {
  return {
    issuer,
    token_endpoint: `${issuer}/token`,
    jwks_uri: `${issuer}/.well-known/jwks.json`,
    grant_types_supported: ['urn:ietf:params:oauth:grant-type:token-exchange'],
    token_endpoint_auth_methods_supported: ['none'],
    dpop_signing_alg_values_supported: [...DPOP_ALGS],
    response_types_supported: ['none'],
  };
}

function metadataRoute(name: string, template: string, extra: Record<string, unknown>): Route<Deps> {
  return {
    name,
    template,
    methods: ['GET'],
    throttled: false,
    run: (deps, { request }) => {
      const document = { ...authorizationServerMetadata(issuerOf(deps, request.url)), ...extra };
      // Without GATEWAY_ISSUER the document follows the Host the caller sent: a shared cache must
      // not serve one host's issuer for another's.
      const vary: Record<string, string> = deps.config.statement.issuer === undefined ? { vary: 'Host' } : {};
      return Promise.resolve({
        status: 200,
        headers: { ...CACHE, ...vary, 'content-type': 'application/json' },
        body: JSON.stringify(document),
      });
    },
  };
}

/** `GET /api/.well-known/oauth-authorization-server` (RFC 8414). */
export const oauthAuthorizationServer = metadataRoute(
  'oauth-authorization-server',
  '.well-known/oauth-authorization-server',
  {},
);

/**
 * `GET /api/.well-known/openid-configuration`: the same metadata where OIDC-style discovery (and
 * JWT libraries that find keys from an issuer) look, plus what OIDC discovery requires.
 */
export const openIdConfiguration = metadataRoute('openid-configuration', '.well-known/openid-configuration', {
  id_token_signing_alg_values_supported: ['ES256'],
  subject_types_supported: ['public'],
});
