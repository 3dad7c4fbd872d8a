/**
 * Helpers for SAS integration tests: a local stack with seeded resources and policies, extra
 * gateway instances on the same Cosmos DB (other key lists, an injected clock), and small HTTP
 * calls that return status, headers and JSON.
 */
import type { Clock } from '../../src/clock';
import type { Services } from '../../src/services';
import { startGatewayInstance, startLocalStack, type LocalStack } from '../../src/host/local/local-stack';
import { MemoryLogger } from '../../src/logger';
import { parseSasToken } from '../../src/sas/sas-token';

export const KEY_1 = `k1=${Buffer.alloc(32, 1).toString('base64')}`;
export const KEY_2 = `k2=${Buffer.alloc(32, 2).toString('base64')}`;

export const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';

import { call, type Answer } from './http';

export { call, type Answer };

/** A running gateway served over HTTP. */
export interface ServedGateway {
  readonly gateway: Services;
  /** `http://127.0.0.1:<port>/api` */
  readonly api: string;
  close(): Promise<void>;
}

/** The demo-like resource and policies the SAS tests rely on. */
export const SEED_POLICIES = [
  {
    id: 'orders-read-own',
    effect: 'allow',
    resource: 'orders',
    paths: ['/customers/{claims.oid}/**'],
    actions: ['read'],
    principals: { roles: ['Orders.Reader'] },
  },
  {
    id: 'orders-create-42',
    effect: 'allow',
    resource: 'orders',
    paths: ['/customers/42/**'],
    actions: ['create'],
    principals: { roles: ['Orders.Writer'] },
    maxTokenLifetimeSeconds: 600,
  },
  {
    id: 'orders-delete-42',
    effect: 'allow',
    resource: 'orders',
    paths: ['/customers/42/**'],
    actions: ['delete'],
    principals: { roles: ['Orders.Writer'] },
  },
  {
    id: 'orders-no-delete-archive',
    effect: 'deny',
    resource: 'orders',
    paths: ['/customers/*/archive/**'],
    actions: ['delete'],
  },
  {
    id: 'orders-read-all',
    effect: 'allow',
    resource: 'orders',
    actions: ['read'],
    principals: { roles: ['Orders.Auditor'] },
  },
];

/** The SAS test environment: the local stack (gateway "A") plus helpers. */
export class SasTestStack {
  private readonly extra: ServedGateway[] = [];

  private constructor(
    readonly stack: LocalStack,
    readonly api: string,
  ) {}

  /**
   * @param options.isolateCosmos run the embedded Cosmos DB in its own process, with a clock of its
   *   own (`stack.cosmos.setClockOffset`): tests that need writes at chosen `_ts` values use it.
   */
  static async start(
    env: Record<string, string> = { SAS_SIGNING_KEYS: KEY_1 },
    options: { isolateCosmos?: boolean } = {},
  ): Promise<SasTestStack> {
    const stack = await startLocalStack({
      env,
      port: 0,
      logger: new MemoryLogger(),
      isolateCosmos: options.isolateCosmos ?? false,
    });
    const sas = new SasTestStack(stack, `${stack.gatewayUrl}/api`);
    await sas.seed();
    return sas;
  }

  get gateway(): Services {
    return this.stack.gateway!;
  }

  mint(options: Parameters<NonNullable<LocalStack['idp']>['mintToken']>[0] = {}): string {
    return this.stack.idp!.mintToken(options);
  }

  adminToken(): string {
    return this.mint({ roles: ['Gateway.Admin'] });
  }

  async admin(method: string, path: string, body?: unknown): Promise<Answer> {
    return call(`${this.api}/${path}`, {
      method,
      headers: { authorization: `Bearer ${this.adminToken()}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  }

  private async seed(): Promise<void> {
    const resource = await this.admin('PUT', 'resources/orders', {
      name: 'orders',
      upstream: `${this.stack.orders.url}/api/orders`,
      auth: { type: 'functionKey', keySetting: 'ORDERS_KEY' },
    });
    if (resource.status >= 300) throw new Error(`seed resource: ${JSON.stringify(resource.json)}`);
    for (const policy of SEED_POLICIES) {
      const res = await this.admin('PUT', `policies/${policy.id}`, policy);
      if (res.status >= 300) throw new Error(`seed ${policy.id}: ${JSON.stringify(res.json)}`);
    }
  }

  /** Another gateway instance on the same Cosmos DB and identity provider. */
  async startGateway(options: { env?: Record<string, string>; clock?: Clock } = {}): Promise<ServedGateway> {
    const instance = await startGatewayInstance(this.stack, {
      ...(options.env ? { env: options.env } : {}),
      ...(options.clock ? { deps: { clock: options.clock } } : {}),
    });
    const served: ServedGateway = {
      gateway: instance.gateway,
      api: `${instance.url}/api`,
      close: () => instance.close(),
    };
    this.extra.push(served);
    return served;
  }

  async close(): Promise<void> {
    for (const g of this.extra.splice(0)) await g.close();
    await this.stack.close();
  }
}

/** Form-encodes token exchange parameters (defaults: grant type and subject token type). */
export function tokenForm(params: Record<string, string>): string {
  return new URLSearchParams({
    grant_type: TOKEN_EXCHANGE,
    subject_token_type: ACCESS_TOKEN,
    ...params,
  }).toString();
}

/** `POST /api/token` in the form mode. */
export function exchange(api: string, params: Record<string, string>): Promise<Answer> {
  return call(`${api}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: tokenForm(params),
  });
}

/** Exchanges and returns the SAS token; fails the test on anything but 200. */
export async function issue(api: string, params: Record<string, string>): Promise<string> {
  const res = await exchange(api, params);
  if (res.status !== 200) throw new Error(`exchange failed: ${res.status} ${JSON.stringify(res.json)}`);
  return res.json.access_token as string;
}

/** `POST /api/authorize` with a SAS credential. */
export function authorizeWithSas(
  api: string,
  token: string,
  body: { resource: string; action: string; path?: string },
): Promise<Answer> {
  return call(`${api}/authorize`, {
    method: 'POST',
    headers: { authorization: `SharedAccessSignature ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

export { parseSasToken };
