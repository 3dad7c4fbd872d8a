import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';
import { ConfigError, loadConfig } from '../config/load-config';
import { GatewayError } from '../errors';
import { createGateway, type Gateway } from '../gateway';
import { problemResponse } from '../http/responses';
import { correlationIdOf } from '../http/request-context';
import { createJsonLogger } from '../logger';
import { startTelemetry } from '../observability/metrics';
import { createCosmosClient } from '../store/cosmos';
import type { RouteDefinition } from './route-definition';

let shared: Promise<Gateway> | undefined;

/**
 * The gateway instance of this Functions worker, built on first use from the app settings.
 * A wrong setting rejects, and every request then answers 503 `ERR_CONFIG_INVALID` with the
 * one-line reason in the log: the Functions host has no "refuse to start" for an app.
 */
export function sharedGateway(): Promise<Gateway> {
  shared ??= (async () => {
    const logger = createJsonLogger();
    const config = loadConfig(process.env, { mode: 'functions', warn: (line) => logger.log('warn', line) });
    // Before the gateway builds its meters, so they report to Application Insights from the start.
    await startTelemetry(process.env, logger);
    const gateway = createGateway(config, { cosmos: await createCosmosClient(config.cosmos), logger });
    await gateway.start();
    return gateway;
  })();
  return shared;
}

async function handleWithSharedGateway(
  definition: RouteDefinition,
  request: HttpRequest,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  let gateway: Gateway;
  try {
    gateway = await sharedGateway();
  } catch (err) {
    const line = err instanceof ConfigError ? err.message : 'gateway failed to start';
    context.error(`configuration: ${line}`);
    const error = new GatewayError('ERR_CONFIG_INVALID', 'The gateway is misconfigured; see its log', {
      cause: err,
    });
    return problemResponse(error, correlationIdOf(request));
  }
  return definition.handle(gateway, request, context);
}

/** Registers a route with the Azure Functions host (a no-op outside it: the library's test mode). */
export function registerRoute(definition: RouteDefinition): RouteDefinition {
  app.http(definition.name, {
    route: definition.route,
    methods: [...definition.methods],
    // The gateway authenticates every call itself; a function key would be a second, weaker credential.
    authLevel: 'anonymous',
    handler: (request, context) => handleWithSharedGateway(definition, request, context),
  });
  return definition;
}
