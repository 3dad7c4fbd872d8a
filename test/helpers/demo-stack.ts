import type { Environment } from '../../src/config/load-config';
import { startLocalStack, type LocalStack } from '../../src/host/local/local-stack';
import { MemoryLogger } from '../../src/logger';

/** A local stack on free ports with its demo policies, plus an admin's and a reader's dev token. */
export async function startDemoStack(
  env: Environment = {},
): Promise<{ stack: LocalStack; api: string; admin: string; reader: string }> {
  const stack = await startLocalStack({ env, port: 0, logger: new MemoryLogger() });
  return {
    stack,
    api: `${stack.gatewayUrl}/api`,
    admin: stack.idp!.mintToken({ roles: ['Gateway.Admin'] }),
    reader: stack.idp!.mintToken({ roles: ['Orders.Reader'] }),
  };
}
