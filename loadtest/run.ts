/**
 * `npm run loadtest [-- --requests N | --duration S] [--concurrency C] [--seed X]`: the bounded
 * load and soak test on loopback. Prints a table and one JSON line; exits 1 on any wrong allow,
 * unexpected 5xx or status, unanswered request, or heap growth over the limit; 2 on bad flags.
 */
import { parseArgs } from 'node:util';
import { runLoadTest, type LoadTestOptions } from './harness';
import { formatReport } from './report';

/** Reads the flags; throws with a line naming the flag at fault. */
export function parseLoadTestArgs(argv: readonly string[]): LoadTestOptions {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      requests: { type: 'string' },
      duration: { type: 'string' },
      concurrency: { type: 'string' },
      seed: { type: 'string' },
      'memory-limit': { type: 'string' },
    },
    strict: true,
  });
  const whole = (name: string, value: string | undefined, min: number, max: number): number | undefined => {
    if (value === undefined) return undefined;
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max)
      throw new Error(`--${name}: expected a whole number from ${min} to ${max}`);
    return n;
  };
  const requests = whole('requests', values.requests, 100, 10_000_000);
  const duration = whole('duration', values.duration, 5, 86_400);
  if (requests !== undefined && duration !== undefined)
    throw new Error('--requests and --duration: give one');
  const concurrency = whole('concurrency', values.concurrency, 1, 256);
  const seed = whole('seed', values.seed, 0, 2 ** 32 - 1);
  const limit = whole('memory-limit', values['memory-limit'], 1, 1000);
  return {
    ...(requests === undefined ? {} : { requests }),
    ...(duration === undefined ? {} : { durationSeconds: duration }),
    ...(concurrency === undefined ? {} : { concurrency }),
    ...(seed === undefined ? {} : { seed }),
    ...(limit === undefined ? {} : { memoryGrowthLimitPercent: limit }),
  };
}

async function main(): Promise<void> {
  let options: LoadTestOptions;
  try {
    options = parseLoadTestArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`loadtest: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(2);
  }
  const report = await runLoadTest({ ...options, progress: (line) => process.stderr.write(`${line}\n`) });
  process.stdout.write(`${formatReport(report)}\n${JSON.stringify(report)}\n`);
  process.exitCode = report.exitCode;
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`loadtest: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
