/**
 * The one Redis connection of an instance (`REDIS_URL`, docs/quotas.md): quotas and, with
 * `DPOP_REPLAY_STORE=redis`, DPoP proofs. `@redis/client` (Redis's own client) with, when the URL
 * carries no password, `@redis/entraid` (Redis's own Entra ID credentials provider): the managed
 * identity's token is the password, renewed before it expires and re-sent on the open
 * connection, as Azure Managed Redis requires. No access keys.
 *
 * Both are loaded on first use: a gateway without `REDIS_URL` never loads them.
 *
 * Failing fast, never hanging: commands are refused at once while the connection is down
 * (`disableOfflineQueue`) and the client reconnects on its own (every 100 ms, backing off to 2 s);
 * a caller still bounds its wait (src/quota/quota-gate.ts), since a frozen server answers nothing.
 */
import type { TokenCredential } from '@azure/core-auth';
import type * as RedisClientTypes from '@redis/client';
import { createHash } from 'node:crypto';
import { isLoopbackHost, type RedisEndpoint } from '../config/url-rules';
import { describeError, type Logger } from '../logger';

/** The scope of Azure Cache for Redis and Azure Managed Redis tokens. */
const REDIS_SCOPE = 'https://redis.azure.com/.default';
/** Commands waiting on a connection that does not answer: past it, new ones are refused. */
const MAX_QUEUED_COMMANDS = 10_000;

/**
 * The longest a request waits for Redis before it decides without it (quotas by the resource's
 * `quotaStoreFailure`, DPoP proofs by failing closed). Why 250 ms: a Redis in the same region
 * answers in about a millisecond, so this is far past any healthy answer, GC pause or cold
 * connection, and short next to a client's own timeout.
 */
export const REDIS_DEADLINE_MS = 250;

/** Redis did not answer within {@link REDIS_DEADLINE_MS}. */
export class RedisDeadlineError extends Error {
  override name = 'RedisDeadlineError';
}

/** `work`, or a {@link RedisDeadlineError} once `ms` have passed (the command itself is left to fail). */
export function withinDeadline<T>(work: Promise<T>, ms = REDIS_DEADLINE_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new RedisDeadlineError(`Redis did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}

/** What the gateway sends Redis: raw commands and scripts. */
export interface RedisCommands {
  sendCommand<T>(args: readonly string[]): Promise<T>;
}

/** A script sent by its SHA-1 (`EVALSHA`), loaded again when the server has forgotten it. */
export class RedisScript {
  readonly sha: string;

  constructor(readonly source: string) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  async run<T>(redis: RedisCommands, keys: readonly string[], args: readonly string[]): Promise<T> {
    const rest = [String(keys.length), ...keys, ...args];
    try {
      return await redis.sendCommand<T>(['EVALSHA', this.sha, ...rest]);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return redis.sendCommand<T>(['EVAL', this.source, ...rest]);
    }
  }
}

/** The connection's state, for `/api/health`. */
export interface RedisHealth {
  readonly ready: boolean;
  /** The last connection error, while not ready. */
  readonly lastError?: string;
}

export interface RedisConnection extends RedisCommands {
  health(): RedisHealth;
  close(): Promise<void>;
}

/** `@redis/client`, as `import()` gives it. */
export type RedisClientModule = typeof RedisClientTypes;
export const loadRedisClient = (): Promise<RedisClientModule> => import('@redis/client');

export interface RedisConnectionOptions {
  readonly logger: Logger;
  /** Loads `@redis/client` (default {@link loadRedisClient}; jest hands in the module it loaded). */
  readonly loadClient?: () => Promise<RedisClientModule>;
  /** The managed identity (Entra ID authentication when the URL has no password). */
  readonly credential?: () => Promise<TokenCredential>;
}

/**
 * Connects in the background and returns at once: an unreachable Redis is not a start-up
 * failure (the gateway listens anyway and `/api/health` says so), and commands sent meanwhile
 * are refused until it is ready.
 */
export async function connectRedis(
  endpoint: RedisEndpoint,
  options: RedisConnectionOptions,
): Promise<RedisConnection> {
  const { createClient } = await (options.loadClient ?? loadRedisClient)();
  // Entra ID when the URL names no password, except on loopback (a local redis-server has no
  // Entra to ask; it runs without authentication, as the tests' does).
  const credential =
    endpoint.password === undefined && !isLoopbackHost(endpoint.host) ? options.credential : undefined;
  const credentialsProvider =
    credential === undefined ? undefined : await entraCredentials(credential, options.logger);
  const client = createClient({
    socket: {
      host: endpoint.host,
      port: endpoint.port,
      connectTimeout: 2000,
      reconnectStrategy: (retries: number) => Math.min(100 * (retries + 1), 2000),
      ...(endpoint.tls ? { tls: true as const, servername: endpoint.host } : {}),
    },
    ...(endpoint.username === undefined ? {} : { username: endpoint.username }),
    ...(endpoint.password === undefined ? {} : { password: endpoint.password }),
    ...(credentialsProvider === undefined ? {} : { credentialsProvider }),
    database: endpoint.database,
    disableOfflineQueue: true,
    commandsQueueMaxLength: MAX_QUEUED_COMMANDS,
  });
  let lastError: string | undefined;
  let reported = false;
  client.on('error', (err: unknown) => {
    lastError = err instanceof Error ? err.message : String(err);
    // One line per outage, not one per reconnect attempt.
    if (!reported) options.logger.log('warn', 'redis.unavailable', { error: describeError(err) });
    reported = true;
  });
  client.on('ready', () => {
    if (reported) options.logger.log('info', 'redis.recovered', {});
    reported = false;
    lastError = undefined;
  });
  void client.connect().catch((err: unknown) => {
    lastError = err instanceof Error ? err.message : String(err);
  });
  return {
    sendCommand: <T>(args: readonly string[]) => client.sendCommand<T>(args),
    health: () => ({
      ready: client.isReady,
      ...(client.isReady || lastError === undefined ? {} : { lastError }),
    }),
    async close() {
      if (client.isOpen) await client.close().catch(() => undefined);
      else client.destroy();
    },
  };
}

/** `@redis/entraid` around the managed identity: a token as the password, renewed at 80 % of its life. */
async function entraCredentials(credential: () => Promise<TokenCredential>, logger: Logger) {
  const { EntraIdCredentialsProviderFactory } = await import('@redis/entraid');
  return EntraIdCredentialsProviderFactory.createForDefaultAzureCredential({
    credential: await credential(),
    scopes: [REDIS_SCOPE],
    tokenManagerConfig: { expirationRefreshRatio: 0.8 },
    onReAuthenticationError: (err: unknown) =>
      logger.log('error', 'redis.reauthentication_failed', { error: describeError(err) }),
  });
}
