/**
 * Structured logging behind a narrow interface. Fields are data, never tokens or secrets:
 * callers pass claims such as `oid`, never an Authorization header.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export type LogFields = Readonly<Record<string, unknown>>;

export interface Logger {
  log(level: LogLevel, event: string, fields?: LogFields): void;
}

/** One JSON object per line on stdout/stderr: what Application Insights and `jq` both read. */
export function createJsonLogger(
  options: { minLevel?: LogLevel; write?: (line: string, level: LogLevel) => void } = {},
): Logger {
  const order: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };
  const min = order[options.minLevel ?? 'info'];
  const write =
    options.write ??
    ((line: string, level: LogLevel) =>
      (level === 'error' || level === 'warn' ? process.stderr : process.stdout).write(`${line}\n`));
  return {
    log(level, event, fields = {}) {
      if (order[level] < min) return;
      write(JSON.stringify({ time: new Date().toISOString(), level, event, ...fields }), level);
    },
  };
}

/** Drops everything: for benchmarks. */
export const silentLogger: Logger = { log: () => undefined };

/** Keeps every entry in memory: for tests that assert on what was logged. */
export class MemoryLogger implements Logger {
  readonly entries: { level: LogLevel; event: string; fields: LogFields }[] = [];
  log(level: LogLevel, event: string, fields: LogFields = {}): void {
    this.entries.push({ level, event, fields });
  }
  events(): string[] {
    return this.entries.map((e) => e.event);
  }
}

/** Serialises an error for a log line: name, message, code and the cause chain, no stack. */
export function describeError(err: unknown, depth = 0): Record<string, unknown> {
  if (!(err instanceof Error)) return { message: String(err) };
  const out: Record<string, unknown> = { name: err.name, message: err.message };
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' || typeof code === 'number') out.code = code;
  if (err.cause !== undefined && depth < 3) out.cause = describeError(err.cause, depth + 1);
  return out;
}
