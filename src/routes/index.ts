/**
 * The route table: every route the gateway serves, each defined whole in its own module. The
 * Functions host registers this list (`functions/index.ts`) and the local stack serves the same
 * list, so the two can never disagree.
 */
import type { AnyRoute } from '../pipeline/operation';
import { policies, resources } from './admin-documents';
import { audit } from './audit';
import { authorize } from './authorize';
import { health } from './health';
import { openapi } from './openapi';
import { proxy } from './proxy';
import { revocations } from './revocations';
import { token } from './token';
import { jwks, oauthAuthorizationServer, openIdConfiguration } from './well-known';

/** Every route, in no particular order (the hosts order templates by precedence themselves). */
export const ROUTES: readonly AnyRoute[] = Object.freeze([
  health,
  authorize,
  token,
  policies,
  resources,
  revocations,
  audit,
  proxy,
  jwks,
  openIdConfiguration,
  oauthAuthorizationServer,
  openapi,
]);
