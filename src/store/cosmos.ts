import type { Agent } from 'node:https';
import { CosmosClient, type Container, type Database } from '@azure/cosmos';
import type { Config } from '../config/load-config';

export interface CosmosClientOptions {
  /**
   * HTTPS agent for the account. The local stack passes one that trusts its own certificate
   * authority (never a global TLS switch-off); in Azure the default agent is right.
   */
  agent?: Agent;
}

/**
 * Builds the Cosmos DB client: key auth when `COSMOS_KEY` is set, else `DefaultAzureCredential`
 * (the Function App's managed identity). `@azure/identity` is loaded only on that path: most
 * local runs never need it, and it is a large module on a cold start.
 */
export async function createCosmosClient(
  config: Config['cosmos'],
  options: CosmosClientOptions = {},
): Promise<CosmosClient> {
  const common = {
    endpoint: config.endpoint,
    ...(options.agent ? { agent: options.agent } : {}),
    // The embedded server and a single-region account both answer on the endpoint itself.
    connectionPolicy: { enableEndpointDiscovery: false },
  };
  if (config.key !== undefined) return new CosmosClient({ ...common, key: config.key });
  const { DefaultAzureCredential } = await import('@azure/identity');
  return new CosmosClient({ ...common, aadCredentials: new DefaultAzureCredential() });
}

/** The gateway's database handle (created when missing). */
export async function ensureDatabase(client: CosmosClient, id: string): Promise<Database> {
  const { database } = await client.databases.createIfNotExists({ id });
  return database;
}

/**
 * The containers the gateway keeps its state in, with their partition keys. `policies`,
 * `resources` and `revocations` hold small documents that are read by id or loaded whole into
 * every instance's memory, so a partition per document (`/id`) spreads writes evenly and makes
 * every admin read a point read. `audit` is partitioned by `<day>:<bucket>` (see
 * src/audit/audit-record.ts). `dpop-proofs` holds one small document per DPoP proof seen, by
 * id, each with its own `ttl` (src/dpop/cosmos-replay-store.ts). docs/policies.md explains the choice;
 * infra/ creates the same containers in Azure (with TTLs on `audit` and `dpop-proofs`).
 */
export const CONTAINERS = {
  policies: 'policies',
  resources: 'resources',
  revocations: 'revocations',
  audit: 'audit',
  dpopProofs: 'dpop-proofs',
} as const;

export type ContainerName = keyof typeof CONTAINERS;

export const PARTITION_KEYS: Record<ContainerName, string> = {
  policies: '/id',
  resources: '/id',
  revocations: '/id',
  audit: '/pk',
  dpopProofs: '/id',
};

/** Creates the gateway's database and containers when missing (idempotent; cheap when they exist). */
export async function ensureContainers(
  client: CosmosClient,
  databaseId: string,
): Promise<Record<ContainerName, Container>> {
  const database = await ensureDatabase(client, databaseId);
  const entries = await Promise.all(
    (Object.keys(CONTAINERS) as ContainerName[]).map(async (name) => {
      const { container } = await database.containers.createIfNotExists({
        id: CONTAINERS[name],
        partitionKey: { paths: [PARTITION_KEYS[name]] },
      });
      return [name, container] as const;
    }),
  );
  return Object.fromEntries(entries) as Record<ContainerName, Container>;
}
