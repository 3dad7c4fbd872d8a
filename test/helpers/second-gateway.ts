import type { ServicesIO } from '../../src/services';
import {
  startGatewayInstance,
  type GatewayInstance,
  type LocalStack,
} from '../../src/host/local/local-stack';

/** Another gateway instance on the same Cosmos DB and identity provider as `stack`: a second Functions instance. */
export function startSecondGateway(
  stack: LocalStack,
  overrides: Record<string, string> = {},
  deps: Partial<Omit<ServicesIO, 'cosmos'>> = {},
): Promise<GatewayInstance> {
  return startGatewayInstance(stack, { env: overrides, deps });
}
