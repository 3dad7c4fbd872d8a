/**
 * A route, and the one function that runs it: every request of every route goes through
 * {@link runOperation} (correlation id in and out, the client-IP limit, every failure rendered
 * by the route's renderer, one log line per failed request, one audit record per audited request).
 */
import type { HttpMethod, HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import type { AuditOperation } from '../audit/audit-record';
import type { GatewayError } from '../errors';
import { toGatewayError } from '../errors';
import { clientIp } from '../http/client-ip';
import { correlationIdOf } from '../http/request-context';
import { problemResponse } from '../http/responses';
import { describeError } from '../logger';
import type { Services } from '../services';
import { AuditRecorder } from './audit-recorder';
import { enforce } from './rate-limits';

/** What one request is about, for the route that serves it. */
export interface RequestScope {
  readonly correlationId: string;
  readonly request: HttpRequest;
  readonly context: InvocationContext;
  /** Filled by the stages and the route; written to the audit trail by {@link runOperation}. */
  readonly audit: AuditRecorder;
}

/** Turns a failure into a response: problem+json by default, the OAuth shape on `/api/token`. */
export type ErrorRenderer = (error: GatewayError, correlationId: string) => HttpResponseInit;

/**
 * Everything about one route, in one place: what the Functions host registers (`name`,
 * `template`, `methods`), how the pipeline treats it (`audit`, `renderError`, `throttled`) and
 * what it does (`run`, given only the services it names in `D`).
 */
export interface Route<D> {
  /** The function name (unique in the app). */
  readonly name: string;
  /** The route template below `/api`, in Azure Functions syntax (`policies/{id?}`). */
  readonly template: string;
  readonly methods: readonly HttpMethod[];
  /** The decision kind its audit records carry; absent: not audited. */
  readonly audit?: AuditOperation;
  /** Default: problem+json ({@link problemResponse}). */
  readonly renderError?: ErrorRenderer;
  /** Counted against the per-client-IP limit. Default true; health probes are never throttled. */
  readonly throttled?: boolean;
  run(deps: D, scope: RequestScope): Promise<HttpResponseInit>;
}

/** Any route, as the route table and the hosts hold them. */
export type AnyRoute = Route<Services>;

/**
 * Runs one request of `route`.
 *
 * Never throws: a failure becomes the route's error response. The record of an audited request
 * is written whatever the outcome (a refusal is a decision too), unless the route skipped it.
 */
export async function runOperation(
  route: AnyRoute,
  services: Services,
  request: HttpRequest,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const correlationId = correlationIdOf(request);
  const started = services.clock.now();
  const audit = new AuditRecorder(services.config.audit.decisionInputs);
  let response: HttpResponseInit;
  let failure: GatewayError | undefined;
  try {
    if (services.limits.ip && route.throttled !== false) {
      enforce(services.limits.ip.take(clientIp(request)), 'this client IP');
    }
    const answer = await route.run(services, { correlationId, request, context, audit });
    response = {
      ...answer,
      headers: { ...(answer.headers as Record<string, string>), 'x-correlation-id': correlationId },
    };
  } catch (err) {
    failure = toGatewayError(err);
    const fields = {
      correlationId,
      method: request.method,
      route: context.functionName,
      status: failure.status,
      code: failure.code,
      ...(failure.cause === undefined ? {} : { cause: describeError(failure.cause) }),
    };
    // Through the invocation's logger: the Functions host ties the line to the invocation (and
    // Application Insights to the request); the local stack's adapter writes it as a JSON line.
    if (failure.status >= 500) context.error('request.failed', fields);
    else context.info('request.failed', fields);
    response = (route.renderError ?? problemResponse)(failure, correlationId);
  }
  if (route.audit !== undefined && !audit.skippedRecord) {
    record(services, route.audit, audit, response, failure, correlationId, started);
  }
  return response;
}

/** One audit record and one metric per audited request. Never throws, never waits. */
function record(
  services: Pick<Services, 'metrics' | 'auditLog' | 'clock'>,
  kind: AuditOperation,
  audit: AuditRecorder,
  response: HttpResponseInit,
  failure: GatewayError | undefined,
  correlationId: string,
  started: number,
): void {
  const facts = audit.facts();
  const status = response.status ?? 200;
  const decision = failure
    ? failure.status >= 500
      ? 'error'
      : 'deny'
    : (facts.decision ?? (status < 400 ? 'allow' : 'deny'));
  services.metrics.decision(kind, decision, status);
  const caller = facts.caller;
  services.auditLog.record({
    correlationId,
    operation: kind,
    oid: caller?.oid ?? null,
    tid: caller?.tid ?? null,
    azp: caller?.azp ?? null,
    credential: caller?.kind ?? 'none',
    resource: facts.resource,
    action: facts.action,
    path: facts.path,
    decision,
    policies: facts.policies,
    reasonCode: failure?.code ?? facts.reasonCode ?? (decision === 'allow' ? 'ALLOWED' : 'DENIED'),
    status,
    latencyMs: services.clock.now() - started,
    inputs: facts.inputs,
  });
}
