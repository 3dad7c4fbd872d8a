import { runCli } from '../../src/cli/main';

/** The CLI run in this process, as given: its exit code, and what it printed to stdout and stderr. */
export async function runCaptured(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const lines: string[] = [];
  const errors: string[] = [];
  const code = await runCli(
    args,
    (l) => lines.push(l),
    (l) => errors.push(l),
  );
  return { code, out: lines.join('\n'), err: errors.join('\n') };
}
