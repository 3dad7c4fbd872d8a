/**
 * `{any method} /api/proxy/{resource}/{*path}`: the request walks normalize → authenticate →
 * authorize → mutate → forward, and the downstream's answer streams back as is.
 *
 * Nothing reaches the downstream unless every earlier stage passed: a hostile path is refused
 * before the credential is even read, and a deny never opens a connection.
 */
import type { HttpResponseInit } from '@azure/functions';
import { authContextRequired } from '../auth/entra/claims-challenge';
import type { Principal } from '../auth/principal';
import { GatewayError } from '../errors';
import type { Resource } from '../policy/model';
import type { PolicySnapshot } from '../state/policy-state';
import { authenticateCaller, type AuthenticateDeps } from '../pipeline/authenticate';
import { authorize } from '../decision/authorize';
import type { RequestScope, Route } from '../pipeline/operation';
import { ACTION_METHODS, actionForMethod, type Action } from '../policy/actions';
import { forward } from '../proxy/forward';
import { gatewayHeaders } from '../proxy/mutate';
import { normalizeProxyUrl, type NormalizedPath } from '../proxy/normalize-path';
import type { Services } from '../services';

type Deps = AuthenticateDeps & Pick<Services, 'state' | 'proxy' | 'logger' | 'config' | 'quotas'>;

/** The action of the method, or 405 (OPTIONS, TRACE, CONNECT and custom verbs have none). */
function actionOf(method: string): Action {
  const action = actionForMethod(method);
  if (action === undefined) {
    throw new GatewayError('ERR_METHOD_NOT_ALLOWED', `Use ${ACTION_METHODS.join(', ')}`, {
      headers: { allow: ACTION_METHODS.join(', ') },
    });
  }
  return action;
}

/**
 * @throws {GatewayError} 400 `ERR_PATH_TRAVERSAL`, 401 (credential; `ERR_DPOP_REQUIRED` on a
 *   resource that accepts only DPoP-bound tokens), 403 `ERR_POLICY_DENIED` /
 *   `ERR_SAS_SCOPE` / `ERR_OBO_REQUIRES_BEARER`, 401 or 403 `ERR_AUTH_CONTEXT_REQUIRED` (step-up), 404 `ERR_RESOURCE_NOT_FOUND`, 405, 413
 *   `ERR_PAYLOAD_TOO_LARGE`, 502 `ERR_UPSTREAM_UNREACHABLE` / `ERR_UPSTREAM_CREDENTIAL`, 504
 *   `ERR_UPSTREAM_TIMEOUT`; the pipeline turns each into problem+json.
 */
async function proxyCall(deps: Deps, scope: RequestScope): Promise<HttpResponseInit> {
  const { request, audit } = scope;
  const action = actionOf(request.method);
  const { resource: name, path } = normalizeProxyUrl(request.url);
  audit.target(name, action, `/${path.segments.join('/')}`);
  const declared = request.headers.get('content-length');
  const principal = await authenticateCaller(deps, scope, { acceptSas: true });
  const snapshot = deps.state.snapshot();
  const resource = snapshot.resources.get(name);
  if (resource === undefined) throw new GatewayError('ERR_RESOURCE_NOT_FOUND', `No resource named "${name}"`);
  if (resource.quotas === undefined)
    return callResource(deps, scope, { principal, snapshot, resource, path, declared });
  // Every answer on a resource with quotas carries the RateLimit fields: a refusal too, with the
  // counters as they stand (read, nothing spent), and a failure after the call was counted, with
  // what that count left.
  const spent: QuotaSpent = {};
  try {
    return await callResource(deps, scope, { principal, snapshot, resource, path, declared }, spent);
  } catch (err) {
    if (!(err instanceof GatewayError) || Object.hasOwn(err.headers, 'ratelimit')) throw err;
    // The store just failed to answer: asking it again would only make the caller wait twice.
    if (err.code === 'ERR_QUOTA_UNAVAILABLE') throw err;
    throw err.withHeaders(spent.headers ?? (await deps.quotas.peekHeaders(resource, principal)));
  }
}

/** The RateLimit fields of the call once its quota was spent (none when the store did not answer). */
interface QuotaSpent {
  headers?: Readonly<Record<string, string>>;
}

/** Authorize, count, mutate and forward one call to a known resource. */
async function callResource(
  deps: Deps,
  scope: RequestScope,
  call: {
    readonly principal: Principal;
    readonly snapshot: PolicySnapshot;
    readonly resource: Resource;
    readonly path: NormalizedPath;
    /** The request's `content-length`, if any. */
    readonly declared: string | null;
  },
  spent: QuotaSpent = {},
): Promise<HttpResponseInit> {
  const { principal, snapshot, resource, path, declared } = call;
  const { request, correlationId, audit } = scope;
  const name = resource.name;
  const action = actionOf(request.method);
  const decision = authorize(snapshot, principal, { resource: name, action, path: path.segments });
  audit.decision(decision);
  audit.decidedFor(principal, snapshot.index.claimsRead, decision);
  if (decision.authContext !== undefined)
    throw authContextRequired(deps.config.entra, principal.claims, decision.authContext);
  if (decision.reasonCode === 'DPOP_REQUIRED') {
    throw new GatewayError('ERR_DPOP_REQUIRED', decision.reason, { challenge: ['DPoP'] });
  }
  if (!decision.allowed) {
    // The reason names policies and paths: the operator's log gets it, the caller only the code.
    if (decision.reasonCode === 'SAS_SCOPE') {
      deps.logger.log('info', 'proxy.sas_scope', {
        correlationId,
        resource: name,
        action,
        reason: decision.reason,
      });
      throw new GatewayError('ERR_SAS_SCOPE', undefined, { challenge: ['SharedAccessSignature'] });
    }
    deps.logger.log('info', 'proxy.denied', {
      correlationId,
      resource: name,
      action,
      reasonCode: decision.reasonCode,
      reason: decision.reason,
      policies: decision.policies,
    });
    throw new GatewayError('ERR_POLICY_DENIED');
  }

  const proxy = deps.proxy;
  if (declared !== null && Number(declared) > proxy.maxBodyBytes) {
    throw new GatewayError('ERR_PAYLOAD_TOO_LARGE', `The body is larger than ${proxy.maxBodyBytes} bytes`);
  }
  // Only an allowed call is counted; a refused one (429) never reaches the downstream.
  const quota = await deps.quotas.spend(resource, principal);
  spent.headers = quota;
  const added = await gatewayHeaders(proxy, request, principal, resource, path);
  const answer = await forward(proxy, request, resource, path, added, correlationId);
  return resource.quotas === undefined ? answer : { ...answer, headers: { ...answer.headers, ...quota } };
}

export const proxy: Route<Deps> = {
  name: 'proxy',
  template: 'proxy/{resource}/{*path}',
  methods: ACTION_METHODS,
  audit: 'proxy',
  run: proxyCall,
};
