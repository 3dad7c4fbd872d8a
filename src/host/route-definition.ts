import type { HttpMethod, HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import type { Gateway } from '../gateway';

/**
 * One HTTP route: what a `functions/*.ts` file exports and registers with `app.http`, and what
 * the local stack serves. The handler takes the gateway explicitly so that one process can run
 * several gateway instances (tests do), while the Functions host passes its shared instance.
 */
export interface RouteDefinition {
  /** Function name (unique in the app). */
  readonly name: string;
  /** Route template below the `/api` prefix, in Azure Functions syntax (`policies/{id?}`). */
  readonly route: string;
  readonly methods: readonly HttpMethod[];
  handle(gateway: Gateway, request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit>;
}

/** Identity function that gives a route definition its type. */
export function defineRoute(definition: RouteDefinition): RouteDefinition {
  return definition;
}

/** True when a module export looks like a route definition (used by the local stack's loader). */
export function isRouteDefinition(value: unknown): value is RouteDefinition {
  const v = value as Partial<RouteDefinition> | null;
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof v.name === 'string' &&
    typeof v.route === 'string' &&
    Array.isArray(v.methods) &&
    typeof v.handle === 'function'
  );
}
