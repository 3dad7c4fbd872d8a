import { randomBytes } from 'node:crypto';
import { Agent } from 'node:https';
import type { CosmosClient } from '@azure/cosmos';
import { loadConfig, type Environment } from '../../config/load-config';
import { DEFAULTS, SETTING_NAMES } from '../../config/defaults';
import { generateStatementKey, statementKeySetting } from '../../config/signing-keys';
import { createJsonLogger, describeError, MemoryLogger, type Logger } from '../../logger';
import { createCosmosClient } from '../../store/cosmos';
import {
  DEV_API_CLIENT_ID,
  DEV_API_CLIENT_SECRET,
  DEV_IDP_KEY_FILE,
  DEV_IDP_PORT,
  DEV_TENANT_ID,
  startDevIdentityProvider,
  type DevIdentityProvider,
} from './dev-identity-provider';
import {
  EMBEDDED_COSMOS_KEY,
  EMBEDDED_COSMOS_PORT,
  startEmbeddedCosmos,
  type EmbeddedCosmos,
} from './embedded-cosmos';
import { startTelemetry } from '../../observability/metrics';
import { runOperation, type AnyRoute } from '../../pipeline/operation';
import { ROUTES } from '../../routes';
import { buildServices, type Services, type ServicesIO } from '../../services';
import { seedDemoPolicies } from './demo';
import { serveRoutes, type LocalHttpServer, type LocalRoute } from './http/server';
import { fetchTrusting, isLoopbackUrl, localCaFor, msalNetworkClient } from './local-trust';
import { ordersRoute, type OrdersSettings } from './orders-downstream';
import { loadOrCreateStatementKey, LOCAL_STATEMENT_KEY_FILE } from './local-key-files';
import { recordRunningStack } from './running-stacks';

/** The sample's function key under `npm start` and `npm run dev:deps` (dev only; local.settings.sample.json has it). */
export const DEV_ORDERS_KEY = 'dev-only-orders-function-key';

/** The sample downstream's port in `npm start` / `npm run dev:deps` (local.settings.sample.json uses it). */
export const SAMPLE_ORDERS_PORT = 7073;

/**
 * How long start-up waits for the gateway's warm-up (metadata, keys, database) before it listens
 * anyway. Why: docs/reference.md (§1) promises a listening gateway within 30 s even when a dependency is
 * unreachable; requests fail closed and `/api/health` says why until the dependency answers.
 */
const WARM_UP_BUDGET_MS = 15_000;

export interface LocalStackOptions {
  /** Settings; a setting given here always wins over an embedded default. Default `process.env`. */
  env?: Environment;
  /** The gateway's port; overrides `PORT`. 0 picks a free port. */
  port?: number;
  /** Default `127.0.0.1`. */
  host?: string;
  /** Start only the embedded dependencies (for `func start`), not the gateway. */
  depsOnly?: boolean;
  /** Default: JSON lines on stdout/stderr. */
  logger?: Logger;
  /**
   * Run the embedded dependencies on their well-known ports (Cosmos 8081, identity provider 7072,
   * orders 7073) and keep the identity provider's signing key under `.local/`, so that
   * `local.settings.sample.json` and earlier dev tokens keep working. Default: free ports, fresh key.
   *
   * A well-known port that is taken (another local stack runs) is replaced by a free one, with a
   * warning, so that a second `npm start` always starts; only with `depsOnly`, which
   * `local.settings.sample.json` depends on, is a taken port an error.
   */
  fixedDependencyPorts?: boolean;
  /** Apply samples/demo-policies.yaml when the dev identity provider runs. Default true. */
  seedDemo?: boolean;
  /**
   * Run the embedded Cosmos DB in a child process (see `StartEmbeddedCosmosOptions.isolated`):
   * `npm start` and the benchmarks do, so the database's work is not the gateway's. Default false.
   */
  isolateCosmos?: boolean;
  /** The gateway's I/O besides Cosmos DB (a test clock, proxy I/O); default the real ones. */
  io?: Partial<Omit<ServicesIO, 'cosmos'>>;
}

/** Which parts run embedded in this process because their setting was absent. */
export interface EmbeddedParts {
  readonly cosmos: boolean;
  readonly identityProvider: boolean;
  readonly orders: true;
}

/** A running local stack. */
export interface LocalStack {
  /** `http://127.0.0.1:<port>` (routes under `/api`); undefined with `depsOnly`. */
  readonly gatewayUrl: string | undefined;
  /** The effective settings: the environment's, completed with the embedded defaults. */
  readonly env: Readonly<Record<string, string>>;
  readonly embedded: EmbeddedParts;
  readonly idp: DevIdentityProvider | undefined;
  readonly cosmos: EmbeddedCosmos | undefined;
  /** The sample downstream; its API is at `${orders.url}/api/orders`. */
  readonly orders: LocalHttpServer;
  /** The sample's function key (`ORDERS_KEY`, dev only): what the gateway sends it as `x-functions-key`. */
  readonly ordersKey: string;
  /** The gateway's services (its state, key ring, audit log), for tests and tools; undefined with `depsOnly`. */
  readonly gateway: Services | undefined;
  /** Stops every server and connection the stack opened. */
  close(): Promise<void>;
}

/**
 * Stand-ins for the settings the embedded parts will provide (only where they will), so that the
 * environment's own settings are validated before anything starts. Never used to run anything.
 */
function embeddedPlaceholders(env: Environment): Record<string, string> {
  return {
    ...(isSet(env, 'ENTRA_AUTHORITY')
      ? {}
      : {
          ENTRA_AUTHORITY: 'http://127.0.0.1:1',
          ENTRA_TENANT_ID: DEV_TENANT_ID,
          ENTRA_AUDIENCES: DEV_API_CLIENT_ID,
        }),
    ...(isSet(env, 'COSMOS_ENDPOINT')
      ? {}
      : { COSMOS_ENDPOINT: 'https://127.0.0.1:1', COSMOS_KEY: EMBEDDED_COSMOS_KEY }),
  };
}

/**
 * Starts an embedded part on its well-known port, or on a free one when that is taken and
 * `strict` is false (a second local stack on this machine). Never retries for other errors.
 */
async function onPreferredPort<T>(
  name: string,
  port: number,
  strict: boolean,
  logger: Logger,
  start: (port: number) => Promise<T>,
): Promise<T> {
  try {
    return await start(port);
  } catch (err) {
    if (port === 0 || strict || !/EADDRINUSE/.test(String((err as { code?: string }).code ?? err))) throw err;
    logger.log('warn', 'local.port_taken', {
      part: name,
      port,
      hint: 'another local stack runs; using a free port',
    });
    return start(0);
  }
}

/**
 * The Cosmos DB client options for an endpoint the environment gave. A loopback endpoint is taken
 * to be another local stack's embedded server (a second instance on one database): its
 * certificate authority under `.local/` is trusted, when it is there.
 */
function cosmosAgentFor(endpoint: string): { agent?: Agent; ca?: string } {
  const ca = localCaFor(endpoint);
  return ca === undefined ? {} : { agent: new Agent({ ca, keepAlive: true }), ca };
}

/**
 * The gateway's local I/O: the sample's function key among the app settings the proxy reads, and,
 * when the identity provider is the dev one (this stack's, or another local stack's on loopback),
 * `fetch` and msal's network client that trust the local certificate authority.
 */
function localIO(
  authority: string,
  idp: DevIdentityProvider | undefined,
  ordersKey: string,
): Partial<ServicesIO> {
  const ca = idp?.ca ?? localCaFor(authority);
  const env = { ORDERS_KEY: ordersKey, ...process.env };
  if (ca === undefined) return { proxy: { env } };
  const trusting = fetchTrusting(ca);
  return { fetch: trusting, proxy: { msalNetworkClient: msalNetworkClient(trusting), env } };
}

/** The sample's trust in the dev IdP's tokens for `api://orders` (on-behalf-of calls). */
function ordersEntraTrust(idp: DevIdentityProvider) {
  return {
    issuer: `${idp.authority}/${idp.tenantId}/v2.0`,
    jwksUri: `${idp.authority}/${idp.tenantId}/discovery/v2.0/keys`,
    audience: 'api://orders',
    algorithms: ['RS256' as const],
    fetch: idp.fetch,
  };
}

/** `io` over `base`, the proxy's own members merged one level deep (a test's override wins). */
function withIO(
  base: Partial<ServicesIO>,
  io: Partial<Omit<ServicesIO, 'cosmos'>> | undefined,
): Partial<ServicesIO> {
  return { ...base, ...io, proxy: { ...base.proxy, ...io?.proxy } };
}

/** True when a setting is present (absent and empty are alike, as in loadConfig). */
function isSet(env: Environment, name: string): boolean {
  const value = env[name];
  return value !== undefined && value.trim() !== '';
}

/**
 * Starts the local stack: an embedded default for each external part whose setting is absent
 * (Cosmos DB without `COSMOS_ENDPOINT`, the dev identity provider without `ENTRA_AUTHORITY`),
 * the sample downstream `orders`, and (unless `depsOnly`) the gateway serving the route table on
 * `PORT`. Rejects with a `ConfigError` naming the setting when one is present but wrong; an
 * unreachable dependency is not an error (`/api/health` reports it).
 *
 * @example
 * const stack = await startLocalStack({ port: 0 });
 * await fetch(`${stack.gatewayUrl}/api/health`);
 * await stack.close();
 */
export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  const env = options.env ?? process.env;
  const host = options.host ?? '127.0.0.1';
  const logger = options.logger ?? createJsonLogger();
  const fixed = options.fixedDependencyPorts ?? false;
  // Undone in reverse order on close, or when start-up fails half-way.
  const stops: (() => Promise<void> | void)[] = [];
  const stopAll = async () => {
    for (const stop of stops.splice(0).reverse()) {
      try {
        await stop();
      } catch (err) {
        logger.log('warn', 'local.stop.failed', { error: String(err) });
      }
    }
  };

  const effective: Record<string, string> = {};
  for (const name of SETTING_NAMES) if (isSet(env, name)) effective[name] = env[name] as string;
  if (options.port !== undefined) effective.PORT = String(options.port);
  // A setting that is present but wrong fails before anything starts (and binds a port).
  if (!options.depsOnly) loadConfig({ ...embeddedPlaceholders(env), ...effective }, { mode: 'local' });

  try {
    const strict = options.depsOnly === true;
    let cosmos: EmbeddedCosmos | undefined;
    let cosmosAgent: { agent?: Agent; ca?: string } = {};
    if (!isSet(env, 'COSMOS_ENDPOINT')) {
      cosmos = await onPreferredPort('Cosmos DB', fixed ? EMBEDDED_COSMOS_PORT : 0, strict, logger, (port) =>
        startEmbeddedCosmos({ port, host, isolated: options.isolateCosmos ?? false }),
      );
      stops.push(() => cosmos?.close());
      effective.COSMOS_ENDPOINT = cosmos.endpoint;
      effective.COSMOS_KEY ??= cosmos.key;
      cosmosAgent = { agent: cosmos.agent, ca: cosmos.ca };
    } else if (isLoopbackUrl(effective.COSMOS_ENDPOINT!)) {
      // Another local stack's embedded server: its dev key (it checks none) unless one is given.
      effective.COSMOS_KEY ??= EMBEDDED_COSMOS_KEY;
      cosmosAgent = cosmosAgentFor(effective.COSMOS_ENDPOINT!);
      const agent = cosmosAgent.agent;
      if (agent) stops.push(() => agent.destroy());
    }

    let idp: DevIdentityProvider | undefined;
    if (!isSet(env, 'ENTRA_AUTHORITY')) {
      idp = await onPreferredPort('identity provider', fixed ? DEV_IDP_PORT : 0, strict, logger, (port) =>
        startDevIdentityProvider({ port, host, ...(fixed ? { keyFile: DEV_IDP_KEY_FILE } : {}) }),
      );
      stops.push(() => idp?.close());
      effective.ENTRA_AUTHORITY = idp.authority;
      effective.ENTRA_TENANT_ID ??= idp.tenantId;
      // v2 tokens carry the client id GUID as `aud`, v1 tokens the App ID URI: accept both.
      effective.ENTRA_AUDIENCES ??= `${idp.clientId},${idp.audience}`;
      // The dev IdP's registration of the gateway API, for on-behalf-of (unless one is given).
      if (!isSet(effective, 'GATEWAY_CLIENT_ID')) {
        effective.GATEWAY_CLIENT_ID = DEV_API_CLIENT_ID;
        effective.GATEWAY_CLIENT_SECRET = DEV_API_CLIENT_SECRET;
      }
    }

    // The gateway's statement keys: the environment's, else kept under `.local/` (npm start) or
    // made for this run; every instance of this stack signs with the same ones.
    effective.STATEMENT_SIGNING_KEYS ??= statementKeySetting([
      fixed
        ? loadOrCreateStatementKey(LOCAL_STATEMENT_KEY_FILE)
        : generateStatementKey(`local-${randomBytes(3).toString('hex')}`),
    ]);
    const ordersKey =
      env.ORDERS_KEY?.trim() ||
      (fixed || options.depsOnly ? DEV_ORDERS_KEY : randomBytes(24).toString('base64url'));
    // The sample trusts the gateway's issuer (known once it listens; with --deps-only, where
    // `func start` will serve it), its function key, and Entra tokens for `api://orders`.
    const ordersTrust = (gatewayIssuer: string): OrdersSettings => ({
      gatewayIssuer,
      functionKey: ordersKey,
      ...(idp ? { entra: ordersEntraTrust(idp) } : {}),
    });
    let ordersSettings: OrdersSettings | undefined = options.depsOnly
      ? ordersTrust(effective.GATEWAY_ISSUER ?? `http://127.0.0.1:${env.PORT ?? DEFAULTS.port}/api`)
      : undefined;
    const orders = await onPreferredPort(
      'sample downstream',
      fixed ? SAMPLE_ORDERS_PORT : 0,
      strict,
      logger,
      (port) => serveRoutes([ordersRoute(() => ordersSettings)], { port, host, logger }),
    );
    stops.push(() => orders.close());

    const embedded: EmbeddedParts = {
      cosmos: cosmos !== undefined,
      identityProvider: idp !== undefined,
      orders: true,
    };
    if (options.depsOnly) {
      return {
        gatewayUrl: undefined,
        env: Object.freeze(effective),
        embedded,
        idp,
        cosmos,
        orders,
        ordersKey,
        gateway: undefined,
        close: stopAll,
      };
    }

    const config = loadConfig(effective, {
      mode: 'local',
      warn: (line) => logger.log('warn', 'config.warning', { message: line }),
    });
    effective.PORT = String(config.port);

    const client: CosmosClient = await createCosmosClient(config.cosmos, cosmosAgent);
    stops.push(() => client.dispose());
    await startTelemetry(env, logger); // only with APPLICATIONINSIGHTS_CONNECTION_STRING
    const gateway = buildServices(config, {
      cosmos: client,
      cosmosCa: cosmosAgent.ca,
      logger,
      ...withIO(localIO(config.entra.authority, idp, ordersKey), options.io),
    });
    stops.push(() => gateway.close());
    await warmUp(gateway, logger);

    const server = await serveRoutes(gatewayRoutes(gateway), {
      port: config.port,
      host,
      logger,
    });
    stops.push(() => server.close());
    // One issuer for every instance of this stack, as one host name serves every instance in
    // Azure: instances started beside it (startGatewayInstance) sign as this one does.
    effective.GATEWAY_ISSUER ??= `${server.url}/api`;
    ordersSettings = ordersTrust(effective.GATEWAY_ISSUER);
    // `npm start`: tell `npm run token` and the CLI whom this gateway trusts (its identity
    // provider's port moves when another stack holds 7072).
    if (fixed) {
      stops.push(
        recordRunningStack({
          gatewayUrl: server.url,
          authority: config.entra.authority,
          tenantId: config.entra.tenantId,
          clientId: config.entra.audiences.find((a) => !a.includes(':')) ?? DEV_API_CLIENT_ID,
        }),
      );
    }

    // Demo resources and policies, only with the dev identity provider: never against a real tenant.
    if (idp && options.seedDemo !== false) {
      const token = idp.mintToken({ roles: [config.adminRole], lifetimeSeconds: 300 });
      try {
        const summary = await seedDemoPolicies(server.url, token, orders.url);
        logger.log('info', 'local.demo_seeded', { plan: summary.split('\n').at(-1) });
      } catch (err) {
        // An unreachable Cosmos DB is not a reason to stop: the gateway listens and fails closed.
        logger.log('warn', 'local.demo_seed_failed', { error: describeError(err) });
      }
    }

    return {
      gatewayUrl: server.url,
      env: Object.freeze(effective),
      embedded,
      idp,
      cosmos,
      orders,
      ordersKey,
      gateway,
      close: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/** Waits for the gateway's warm-up, but never longer than the budget (see WARM_UP_BUDGET_MS). */
async function warmUp(gateway: Services, logger: Logger): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const budget = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), WARM_UP_BUDGET_MS);
  });
  const outcome = await Promise.race([gateway.start().then(() => 'ready' as const), budget]);
  clearTimeout(timer);
  if (outcome === 'late') {
    logger.log('warn', 'local.warmup.slow', {
      budgetMs: WARM_UP_BUDGET_MS,
      hint: 'listening anyway; see /api/health',
    });
  }
}

/** Another gateway instance beside a running stack: see {@link startGatewayInstance}. */
export interface GatewayInstance {
  readonly gateway: Services;
  /** `http://127.0.0.1:<port>` (routes under `/api`). */
  readonly url: string;
  close(): Promise<void>;
}

export interface GatewayInstanceOptions {
  /** Settings over the stack's own (its Cosmos DB, identity provider and SAS keys). */
  readonly env?: Environment;
  /** The gateway's I/O besides Cosmos DB (a test clock, proxy I/O). */
  readonly deps?: Partial<Omit<ServicesIO, 'cosmos'>>;
  readonly logger?: Logger;
}

/**
 * Starts one more gateway instance on a running stack's database and identity provider, on a
 * free port: what a second Flex Consumption instance is. Tests and the load test use it to run
 * several instances over one state.
 */
export async function startGatewayInstance(
  stack: LocalStack,
  options: GatewayInstanceOptions = {},
): Promise<GatewayInstance> {
  const config = loadConfig({ ...stack.env, PORT: '0', ...options.env }, { mode: 'local' });
  const client = await createCosmosClient(config.cosmos, stack.cosmos ? { agent: stack.cosmos.agent } : {});
  const logger = options.logger ?? new MemoryLogger();
  const gateway = buildServices(config, {
    cosmos: client,
    cosmosCa: stack.cosmos?.ca,
    logger,
    ...withIO(localIO(config.entra.authority, stack.idp, stack.ordersKey), options.deps),
  });
  await gateway.start();
  const server = await serveRoutes(gatewayRoutes(gateway), {
    port: 0,
    host: '127.0.0.1',
  });
  return {
    gateway,
    url: server.url,
    close: async () => {
      await server.close();
      await gateway.close();
      client.dispose();
    },
  };
}

/**
 * The route table as the local host serves it: each route run through the pipeline on `services`,
 * exactly as `functions/index.ts` registers it with the Functions host.
 */
export function gatewayRoutes(services: Services, routes: readonly AnyRoute[] = ROUTES): LocalRoute[] {
  return routes.map((route) => ({
    name: route.name,
    template: route.template,
    methods: route.methods,
    handle: (request, context) => runOperation(route, services, request, context),
  }));
}
