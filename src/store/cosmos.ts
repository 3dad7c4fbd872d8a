import type { Agent } from 'node:https';
import { CosmosClient, type Database } from '@azure/cosmos';
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
