import { loadConfig } from '../../src/config/load-config';
import { createGateway, type Gateway, type GatewayDeps } from '../../src/gateway';
import { serveRoutes } from '../../src/host/local/http-adapter';
import type { LocalStack } from '../../src/host/local/local-stack';
import { functionsDirectory, loadRoutes } from '../../src/host/local/route-loader';
import { MemoryLogger } from '../../src/logger';
import { createCosmosClient } from '../../src/store/cosmos';

/** Another gateway instance on the same Cosmos DB and identity provider as `stack`: a second Functions instance. */
export async function startSecondGateway(
  stack: LocalStack,
  overrides: Record<string, string> = {},
  deps: Partial<Omit<GatewayDeps, 'cosmos'>> = {},
): Promise<{ gateway: Gateway; url: string; close(): Promise<void> }> {
  const config = loadConfig({ ...stack.env, ...overrides }, { mode: 'local' });
  const client = await createCosmosClient(config.cosmos, stack.cosmos ? { agent: stack.cosmos.agent } : {});
  const gateway = createGateway(config, { cosmos: client, logger: new MemoryLogger(), ...deps });
  await gateway.start();
  const { dir, extensions } = functionsDirectory();
  const server = await serveRoutes(loadRoutes<Gateway>(dir, extensions), gateway, {
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
