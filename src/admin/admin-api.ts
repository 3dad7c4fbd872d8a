import type { HttpResponseInit } from '@azure/functions';
import { nowSeconds } from '../clock';
import { GatewayError } from '../errors';
import type { Gateway, RequestScope } from '../gateway';
import { readJsonBody } from '../http/request-context';
import type { DocumentAdmin } from './document-admin';

/**
 * One admin collection route (`policies/{id?}`, `resources/{name?}`): GET lists or reads, PUT
 * creates or replaces, DELETE soft-deletes. The caller needs the `GATEWAY_ADMIN_ROLE` app role in
 * an Entra token (a SAS token never carries admin rights).
 */
export async function adminRequest(
  gateway: Gateway,
  admin: DocumentAdmin<unknown>,
  collection: 'policies' | 'resources',
  idParam: string,
  { request, audit }: RequestScope,
): Promise<HttpResponseInit> {
  const id = request.params[idParam];
  // Changes are audited (refused ones too); reads are not.
  Object.assign(audit, {
    skip: request.method === 'GET',
    resource: `${collection}${id === undefined ? '' : `/${id}`}`,
    action: request.method === 'DELETE' ? 'delete' : 'write',
  });
  await gateway.requireAdmin(request);
  const ifMatch = request.headers.get('if-match');
  switch (request.method) {
    case 'GET':
      return id === undefined ? admin.list() : admin.get(id);
    case 'PUT':
      if (id === undefined) break;
      return admin.put(id, await readJsonBody(request), ifMatch);
    case 'DELETE':
      if (id === undefined) break;
      return admin.remove(id, ifMatch, nowSeconds(gateway.clock));
  }
  throw new GatewayError('ERR_METHOD_NOT_ALLOWED', `${request.method} needs a document ${idParam}`, {
    headers: { allow: id === undefined ? 'GET' : 'GET, PUT, DELETE' },
  });
}
