/**
 * `npm run bench`: runs every benchmark and prints a small table (several minutes on 2 cores, the
 * proxy benchmark alone about 4; docs/performance.md explains each figure).
 */
import { benchEntraValidation } from './entra-validation';
import { benchSas } from './sas';
import { benchPolicyEvaluation } from './policy-evaluation';
import { benchProxy } from './proxy';
import { benchColdStart } from './cold-start';
import { benchStatement } from './statement';
import { benchDpop } from './dpop';
import { benchExchange } from './exchange';
import { benchAudit } from './audit';
import { benchCheckAccess } from './check-access';
import { benchReplay } from './replay';

type Bench = readonly [name: string, run: () => Promise<Record<string, number | string>>];

const BENCHES: readonly Bench[] = [
  ['entra-validation', benchEntraValidation],
  [
    'policy-evaluation (decisions/s)',
    async () =>
      Object.fromEntries(
        (await benchPolicyEvaluation()).map((r) => [`${r.policies} policies`, r.decisionsPerSecond]),
      ),
  ],
  ['sas', benchSas],
  ['statement (x-gateway-principal, one thread)', benchStatement],
  ['dpop (proof check per request, one thread)', benchDpop],
  ['audit (the writer thread alone, embedded Cosmos DB in its own process)', benchAudit],
  ['exchange (CPU per request of each process: jwt.verify floor, gateway /api/token)', benchExchange],
  [
    'proxy (CPU per request of each process: passthrough, Functions floor, Fastify peer, gateway)',
    benchProxy,
  ],
  ['cold start (bundle load vs floor; local stack start-up)', benchColdStart],
  [
    'check-access (gateway check-access: demo set, then realistic sets of 100, 1,000, 5,000 policies)',
    benchCheckAccess,
  ],
  [
    'replay (gateway replay: 1,000,000 recorded decisions in the embedded Cosmos DB, 1,000 policies)',
    benchReplay,
  ],
];

/** `npm run bench -- sas proxy` runs only the benchmarks whose names start with an argument. */
async function main(): Promise<void> {
  const only = process.argv.slice(2);
  for (const [name, run] of BENCHES) {
    if (only.length > 0 && !only.some((prefix) => name.startsWith(prefix))) continue;
    const started = Date.now();
    const results = await run();
    process.stdout.write(`\n${name} (${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
    const width = Math.max(...Object.keys(results).map((k) => k.length));
    for (const [metric, value] of Object.entries(results)) {
      process.stdout.write(`  ${metric.padEnd(width)}  ${String(value)}\n`);
    }
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
