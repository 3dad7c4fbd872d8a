/**
 * The child process of the cold-start bench (bench/cold-start.ts): starts the local stack on free
 * ports with every embedded default, prints the gateway's URL on one line, stops on SIGTERM.
 * Its own file so that the bench's helpers load without the local stack.
 */
import { startLocalStack } from '../src/host/local/local-stack';
import { silentLogger } from '../src/logger';

async function main(): Promise<void> {
  const stack = await startLocalStack({ port: 0, logger: silentLogger });
  process.stdout.write(`${stack.gatewayUrl}\n`);
  process.once('SIGTERM', () => {
    stack.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`local stack failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
