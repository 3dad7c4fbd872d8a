/**
 * The gateway's published keys and their discovery document, so a downstream (or any
 * OIDC-aware JWT library) verifies `x-gateway-principal` knowing only the gateway's issuer URL:
 *
 * - `GET /api/.well-known/openid-configuration`: `issuer` and `jwks_uri`;
 * - `GET /api/.well-known/jwks.json`: the public statement keys (signing key first), never a
 *   private member.
 *
 * No credential: public keys are public. Cached by clients for 5 minutes, so a key added for
 * rotation is seen well before it signs (docs/downstream-trust.md).
 */
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

export const openIdConfiguration: Route<Deps> = {
  name: 'openid-configuration',
  template: '.well-known/openid-configuration',
  methods: ['GET'],
  throttled: false,
  run: (deps, { request }) => {
    const issuer = issuerOf(deps, request.url);
    const document = {
      issuer,
      jwks_uri: `${issuer}/.well-known/jwks.json`,
      id_token_signing_alg_values_supported: ['ES256'],
      // What the gateway issues besides statements: SAS tokens through RFC 8693 exchange.
      token_endpoint: `${issuer}/token`,
      grant_types_supported: ['urn:ietf:params:oauth:grant-type:token-exchange'],
      subject_types_supported: ['public'],
      response_types_supported: ['none'],
    };
    return Promise.resolve({
      status: 200,
      headers: { ...CACHE, 'content-type': 'application/json' },
      body: JSON.stringify(document),
    });
  },
};
