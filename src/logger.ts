/**
 * Structured logging behind a narrow interface. Fields are data, never tokens or secrets:
 * callers pass claims such as `oid`, never an Authorization header.
 */
import { writeSync } from 'node:fs';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export type LogFields = Readonly<Record<string, unknown>>;

export interface Logger {
  log(level: LogLevel, event: string, fields?: LogFields): void;
}

/**
 * Lines for stdout, written once per event-loop turn rather than once per line.
 *
 * Why: on Linux a write to a pipe is synchronous. A pipe is how the Functions host reads its
 * Node worker, and how the local stack is usually run. So each line is a syscall on the request
 * thread, and each wakes the reader; the token exchange logs one line per exchange, and under
 * load several exchanges finish in one turn. Measured here, with a reader on the pipe: a line
 * cost 13-18 µs of CPU written alone and 6.6-12 µs batched, at 4-8 lines a turn
 * (docs/performance.md).
 *
 * What is queued is written when the turn's I/O is done (`setImmediate`), before any
 * warning or error line (so stdout and stderr keep their order), and synchronously on exit.
 */
class StdoutLines {
  private pending: string[] = [];
  private scheduled = false;

  constructor() {
    process.once('exit', () => this.flushSync());
  }

  push(line: string): void {
    this.pending.push(line);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  flush(): void {
    this.scheduled = false;
    if (this.pending.length === 0) return;
    const text = this.pending.join('');
    this.pending = [];
    process.stdout.write(text);
  }

  private flushSync(): void {
    if (this.pending.length === 0) return;
    const text = this.pending.join('');
    this.pending = [];
    try {
      writeSync(1, text);
    } catch {
      // stdout is gone (the reader exited): nothing left to tell it
    }
  }
}

let stdoutLines: StdoutLines | undefined;

/** The default destination: info and debug batched per turn on stdout, warnings and errors at once on stderr. */
function writeStandardStreams(line: string, level: LogLevel): void {
  stdoutLines ??= new StdoutLines();
  if (level === 'error' || level === 'warn') {
    stdoutLines.flush();
    process.stderr.write(line);
  } else stdoutLines.push(line);
}

/** One JSON object per line on stdout/stderr: what Application Insights and `jq` both read. */
export function createJsonLogger(
  options: { minLevel?: LogLevel; write?: (line: string, level: LogLevel) => void } = {},
): Logger {
  const order: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };
  const min = order[options.minLevel ?? 'info'];
  const write =
    options.write ?? ((line: string, level: LogLevel) => writeStandardStreams(`${line}\n`, level));
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
