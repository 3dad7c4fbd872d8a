/**
 * The Azure Functions host adapter: registers the route table with `app.http` and runs each
 * invocation through the pipeline on the worker's one set of services.
 */
import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';
import { ConfigError, loadConfig } from '../config/load-config';
import { GatewayError } from '../errors';
import { correlationIdOf } from '../http/request-context';
import { problemResponse } from '../http/responses';
import { createJsonLogger } from '../logger';
import { systemClock } from '../clock';
import { startTelemetry } from '../observability/metrics';
import { runOperation, type AnyRoute } from '../pipeline/operation';
import { buildServices, type Services } from '../services';
import { createCosmosClient } from '../store/cosmos';
import { retryingStart } from './retrying-start';

/**
 * The services of this Functions worker, built on first use from the app settings. A wrong
 * setting rejects, and every request then answers 503 `ERR_CONFIG_INVALID` with the one-line
 * reason in the log: the Functions host has no "refuse to start" for an app. A failed start is
 * retried with backoff (1 s doubling to 60 s), so a Key Vault reference that resolves later, or
 * a setting fixed since, is picked up without a restart.
 */
/** The worker's services once started: what the terminate hook stops. */
let startedServices: Services | undefined;

export const sharedServices: () => Promise<Services> = retryingStart(async () => {
  const logger = createJsonLogger();
  const config = loadConfig(process.env, { mode: 'functions', warn: (line) => logger.log('warn', line) });
  // Before the services build their meters, so they report to Application Insights from the start.
  await startTelemetry(process.env, logger);
  const services = buildServices(config, { cosmos: await createCosmosClient(config.cosmos), logger });
  await services.start();
  startedServices = services;
  return services;
}, systemClock);

/**
 * The graceful stop under the Functions host: `WorkerTerminate` runs the app's terminate hooks,
 * and the host kills the worker 5 s later. Closing the services writes the audit records still
 * queued, retrying a failing store for at most 4 s (AUDIT_DEFAULTS.shutdownGraceMs), and logs
 * and counts what it could not write (`audit.discarded`).
 */
export async function stopSharedServices(): Promise<void> {
  const services = startedServices;
  startedServices = undefined;
  await services?.close();
}

async function invoke(
  route: AnyRoute,
  request: HttpRequest,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  let services: Services;
  try {
    services = await sharedServices();
  } catch (err) {
    const line = err instanceof ConfigError ? err.message : 'gateway failed to start';
    context.error(`configuration: ${line}`);
    const error = new GatewayError('ERR_CONFIG_INVALID', 'The gateway is misconfigured; see its log', {
      cause: err,
    });
    return problemResponse(error, correlationIdOf(request));
  }
  return runOperation(route, services, request, context);
}

/**
 * Registers every route with the Functions host (a no-op outside it: the library's test mode).
 * HTTP streaming is turned on first: bodies stream both ways, so a 100 MB upload through the
 * proxy is never held in memory.
 */
export function registerRoutes(routes: readonly AnyRoute[]): void {
  app.setup({ enableHttpStream: true });
  app.hook.appTerminate(stopSharedServices);
  for (const route of routes) {
    app.http(route.name, {
      route: route.template,
      methods: [...route.methods],
      // The gateway authenticates every call itself; a function key would be a second, weaker credential.
      authLevel: 'anonymous',
      handler: (request, context) => invoke(route, request, context),
    });
  }
}
