/**
 * The admin API's two document routes, `policies/{id?}` and `resources/{name?}`: GET lists or
 * reads, PUT creates or replaces, DELETE soft-deletes. The caller needs the `GATEWAY_ADMIN_ROLE`
 * app role in an Entra token (a SAS token never carries admin rights). Changes are audited
 * (refused ones too); reads are not.
 */
import type { HttpResponseInit } from '@azure/functions';
import type { DocumentAdmin } from '../admin/document-admin';
import { DOCUMENT_KINDS, type DocumentKindName } from '../admin/document-kinds';
import { nowSeconds } from '../clock';
import { GatewayError } from '../errors';
import { readJsonBody } from '../http/request-context';
import { requireAdmin, type AdminDeps } from '../pipeline/authenticate';
import type { RequestScope, Route } from '../pipeline/operation';
import type { Services } from '../services';

type Deps = AdminDeps & Pick<Services, 'admin' | 'clock'>;

/** One admin collection route, served by one of the services' document kinds. */
function documentRoute(
  collection: DocumentKindName,
  kind: (deps: Deps) => DocumentAdmin<unknown>,
): Route<Deps> {
  return {
    name: collection,
    template: `${collection}/{${DOCUMENT_KINDS[collection].idField}?}`,
    methods: ['GET', 'PUT', 'DELETE'],
    audit: 'admin',
    run: (deps, scope) => serve(deps, scope, collection, DOCUMENT_KINDS[collection].idField, kind(deps)),
  };
}

async function serve(
  deps: Deps,
  scope: RequestScope,
  collection: string,
  idParam: string,
  admin: DocumentAdmin<unknown>,
): Promise<HttpResponseInit> {
  const { request, audit } = scope;
  const id = request.params[idParam];
  if (request.method === 'GET') audit.skip();
  audit.target(
    `${collection}${id === undefined ? '' : `/${id}`}`,
    request.method === 'DELETE' ? 'delete' : 'write',
    null,
  );
  await requireAdmin(deps, scope);
  const ifMatch = request.headers.get('if-match');
  switch (request.method) {
    case 'GET':
      return id === undefined ? admin.list() : admin.get(id);
    case 'PUT':
      if (id === undefined) break;
      return admin.put(id, await readJsonBody(request), ifMatch);
    case 'DELETE':
      if (id === undefined) break;
      return admin.remove(id, ifMatch, nowSeconds(deps.clock));
  }
  throw new GatewayError('ERR_METHOD_NOT_ALLOWED', `${request.method} needs a document ${idParam}`, {
    headers: { allow: id === undefined ? 'GET' : 'GET, PUT, DELETE' },
  });
}

/** `GET|PUT|DELETE /api/policies/{id?}`. */
export const policies = documentRoute('policies', (deps) => deps.admin.policies);

/** `GET|PUT|DELETE /api/resources/{name?}`. */
export const resources = documentRoute('resources', (deps) => deps.admin.resources);
