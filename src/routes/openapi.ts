/**
 * `GET /api/openapi.json`: the OpenAPI 3.1 document of every route (contract section 9), no
 * credential needed. Its server is the gateway's public address (`GATEWAY_ISSUER`'s origin) or
 * the one the request reached.
 */
import { apiBaseUrl } from '../http/request-context';
import { openApiDocument } from '../openapi/openapi-document';
import type { Route } from '../pipeline/operation';
import type { Services } from '../services';

type Deps = Pick<Services, 'config'>;

export const openapi: Route<Deps> = {
  name: 'openapi',
  template: 'openapi.json',
  methods: ['GET'],
  throttled: false,
  run: (deps, { request }) => {
    const issuer = deps.config.statement.issuer;
    const base = (issuer ?? apiBaseUrl(request.url)).replace(/\/api\/?$/, '');
    return Promise.resolve({
      status: 200,
      headers: {
        'cache-control': 'public, max-age=300',
        'content-type': 'application/json',
        ...(issuer === undefined ? { vary: 'Host' } : {}),
      },
      body: JSON.stringify(openApiDocument(base)),
    });
  },
};
