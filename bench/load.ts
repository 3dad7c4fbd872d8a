/**
 * The load generator the HTTP benchmarks share (bench/proxy.ts, bench/exchange.ts, bench/sas.ts). It runs in a child
 * process: a generator on the servers' own event loop steals the time it measures (every
 * response it parses is time the server under test did not get), and a separate process also
 * lets the benchmark charge the servers' CPU per request (`process.cpuUsage()` of this process)
 * apart from the generator's.
 *
 * One child serves every measurement of a run, so each variant sees the same warm generator.
 * Run compiled only (`node dist/bench/run.js`): the child is this very file.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';

/** One measurement: `requests` calls at `origin + path`, after `warmup` calls that are not counted. */
export interface LoadJob {
  readonly origin: string;
  readonly path: string;
  readonly method?: 'GET' | 'POST';
  readonly headers?: Readonly<Record<string, string>>;
  /**
   * Request bodies, as `headerSets`: warm-up call `i` sends `bodies[i % length]`, counted call `i`
   * `bodies[(warmup + i) % length]`. None: no body.
   */
  readonly bodies?: readonly string[];
  readonly requests: number;
  readonly warmup: number;
  /** Keep-alive connections of the generator's pool. */
  readonly connections: number;
  /** Requests in flight; default `connections`. */
  readonly inFlight?: number;
  /**
   * Per-request headers on top of `headers` (fresh tokens, single-use proofs): warm-up call `i`
   * adds `headerSets[i % length]`, counted call `i` adds `headerSets[(warmup + i) % length]`.
   */
  readonly headerSets?: readonly Readonly<Record<string, string>>[];
  /**
   * Open loop: send at this fixed rate whatever the answers, latency measured from each request's
   * scheduled time (no coordinated omission). Absent: closed loop, `inFlight` outstanding.
   */
  readonly ratePerSecond?: number;
}

/** What a measurement found. Latencies are per request, from send to last body byte. */
export interface LoadResult {
  readonly rps: number;
  readonly p50: number;
  readonly p99: number;
  /** Non-2xx answers and failed requests. */
  readonly errors: number;
  /** CPU time (user + system) this process (the servers) spent per counted request, in µs. */
  readonly serverCpuUs: number;
}

type Measured = Omit<LoadResult, 'serverCpuUs'>;

interface JobMessage {
  readonly id: number;
  readonly job: LoadJob;
  readonly counted: boolean;
}

type ReplyMessage =
  { readonly id: number; readonly result: Measured } | { readonly id: number; readonly error: string };

/**
 * The headers and body of call `i` of a job's run: warm-up call `i` is run call `i`, counted call
 * `i` is run call `warmup + i`, so each header set and body of a job is used once before any
 * repeats (a fresh token, a single-use proof).
 */
export function callOf(
  job: LoadJob,
  i: number,
): { headers: Record<string, string> | undefined; body: string | null } {
  const extra =
    job.headerSets && job.headerSets.length > 0 ? job.headerSets[i % job.headerSets.length] : undefined;
  return {
    headers: extra === undefined ? job.headers : { ...job.headers, ...extra },
    body: job.bodies && job.bodies.length > 0 ? job.bodies[i % job.bodies.length]! : null,
  };
}

/** Open loop: call `i` is sent at `start + i / rate`, its latency counted from then. */
async function fireOpen(pool: Pool, job: LoadJob, count: number, first: number): Promise<Measured> {
  const latencies = new Float64Array(count);
  const interval = 1000 / job.ratePerSecond!;
  let errors = 0;
  let sent = 0;
  const started = performance.now();
  const pending: Promise<void>[] = [];
  await new Promise<void>((resolve) => {
    const tick = () => {
      const due = Math.min(count, Math.floor((performance.now() - started) / interval) + 1);
      while (sent < due) {
        const i = sent++;
        const scheduled = started + i * interval;
        pending.push(
          pool
            .request({ path: job.path, method: job.method ?? 'GET', ...callOf(job, first + i) })
            .then(async (res) => {
              await res.body.dump();
              if (res.statusCode < 200 || res.statusCode >= 300) errors++;
            })
            .catch(() => {
              errors++;
            })
            .finally(() => {
              latencies[i] = performance.now() - scheduled;
            }),
        );
      }
      if (sent < count) setTimeout(tick, 1);
      else resolve();
    };
    tick();
  });
  await Promise.all(pending);
  const seconds = (performance.now() - started) / 1000;
  latencies.sort();
  const at = (q: number) => Number(latencies[Math.min(count - 1, Math.floor(q * count))]!.toFixed(2));
  return { rps: Math.round(count / seconds), p50: at(0.5), p99: at(0.99), errors };
}

/**
 * Fires `count` requests with `inFlight` outstanding (or at `ratePerSecond`), starting at call
 * `first` of the job's run: the generator's side of a measurement.
 */
export async function fire(pool: Pool, job: LoadJob, count: number, first = 0): Promise<Measured> {
  if (job.ratePerSecond !== undefined) return fireOpen(pool, job, count, first);
  const latencies = new Float64Array(count);
  const inFlight = job.inFlight ?? job.connections;
  let next = 0;
  let errors = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const started = performance.now();
      try {
        const res = await pool.request({
          path: job.path,
          method: job.method ?? 'GET',
          ...callOf(job, first + i),
        });
        await res.body.dump();
        if (res.statusCode < 200 || res.statusCode >= 300) errors++;
      } catch {
        errors++;
      }
      latencies[i] = performance.now() - started;
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: inFlight }, worker));
  const seconds = (performance.now() - started) / 1000;
  latencies.sort();
  const at = (q: number) => Number(latencies[Math.min(count - 1, Math.floor(q * count))]!.toFixed(2));
  return { rps: Math.round(count / seconds), p50: at(0.5), p99: at(0.99), errors };
}

/** The child's loop: one job at a time, one pool per job (closed after it). */
function serveJobs(): void {
  process.on('message', (message: JobMessage) => {
    const { id, job, counted } = message;
    const pool = new Pool(job.origin, { connections: job.connections, pipelining: 1 });
    fire(pool, job, counted ? job.requests : job.warmup, counted ? job.warmup : 0)
      .then((result) => process.send!({ id, result } satisfies ReplyMessage))
      .catch((err: unknown) => process.send!({ id, error: String(err) } satisfies ReplyMessage))
      .finally(() => void pool.close());
  });
}

/** A load generator in a child process. */
export class LoadGenerator {
  private readonly child: ChildProcess;
  private nextId = 0;
  private readonly pending = new Map<number, (reply: ReplyMessage) => void>();

  private constructor() {
    if (!__filename.endsWith('.js')) {
      throw new Error('bench: run the benchmarks compiled (npm run bench): the load generator forks itself');
    }
    this.child = fork(__filename, [], { env: { ...process.env, BENCH_LOAD_CHILD: '1' }, execArgv: [] });
    this.child.on('message', (reply: ReplyMessage) => {
      this.pending.get(reply.id)?.(reply);
      this.pending.delete(reply.id);
    });
  }

  /** Starts the child process. */
  static start(): LoadGenerator {
    return new LoadGenerator();
  }

  private send(job: LoadJob, counted: boolean): Promise<Measured> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, (reply) =>
        'error' in reply ? reject(new Error(`bench: load generator: ${reply.error}`)) : resolve(reply.result),
      );
      this.child.send({ id, job, counted } satisfies JobMessage);
    });
  }

  /** Warms up, then measures `job`; the servers' CPU is what this process spent meanwhile. */
  async measure(job: LoadJob): Promise<LoadResult> {
    if (job.warmup > 0) await this.send(job, false);
    const cpu = process.cpuUsage();
    const result = await this.send(job, true);
    const spent = process.cpuUsage(cpu);
    return { ...result, serverCpuUs: Math.round((spent.user + spent.system) / job.requests) };
  }

  /**
   * Warms up, then measures `job`, charging each process of `pids` its own CPU (user + system
   * from /proc/<pid>/stat) per counted request: servers in processes of their own. A
   * `<pid>/task/<tid>` entry charges one thread of a process (its request thread: `<pid>/task/<pid>`).
   */
  async measureProcesses(
    job: LoadJob,
    pids: Readonly<Record<string, number | ProcTask>>,
  ): Promise<Measured & { cpuUs: Record<string, number> }> {
    if (job.warmup > 0) await this.send(job, false);
    const before = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, cpuTicks(pid)]));
    const result = await this.send(job, true);
    const cpuUs: Record<string, number> = {};
    for (const [name, pid] of Object.entries(pids)) {
      cpuUs[name] = Math.round(((cpuTicks(pid) - before[name]!) * MICROS_PER_TICK) / job.requests);
    }
    return { ...result, cpuUs };
  }

  /** Stops the child. */
  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.child.exitCode !== null) return resolve();
      this.child.once('exit', () => resolve());
      this.child.disconnect();
    });
  }
}

/** The median of `values` (the upper one of an even count). */
export const median = (values: readonly number[]): number =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/** One variant of a per-process benchmark: its job and the processes (or threads) it charges. */
export interface ProcessVariant {
  readonly job: LoadJob;
  readonly pids: Readonly<Record<string, number | ProcTask>>;
}

/** What {@link measureRounds} found: medians over the rounds, per variant. */
export interface RoundFigures {
  /** CPU µs per request of one process of a variant (default `server`). */
  readonly cpu: (name: string, process?: string) => number;
  readonly rps: (name: string) => number;
  /**
   * One table row per variant: CPU of `server` (with a gateway's request thread and database
   * apart) and req/s.
   */
  readonly rows: () => Record<string, string>;
}

/**
 * Measures every variant once per round, the variants alternating, for `rounds` rounds: the
 * machine's drift spreads over all of them alike. Throws on any failed request.
 */
export async function measureRounds(
  load: LoadGenerator,
  variants: Readonly<Record<string, (round: number) => ProcessVariant>>,
  rounds: number,
): Promise<RoundFigures> {
  const runs: Record<string, { rps: number; cpu: Record<string, number> }[]> = {};
  for (let round = 0; round < rounds; round++) {
    for (const [name, variant] of Object.entries(variants)) {
      const { job, pids } = variant(round);
      const result = await load.measureProcesses(job, pids);
      if (result.errors > 0) throw new Error(`bench: ${name} answered ${result.errors} errors`);
      (runs[name] ??= []).push({ rps: result.rps, cpu: result.cpuUs });
    }
  }
  const cpu = (name: string, process = 'server') => median(runs[name]!.map((r) => r.cpu[process]!));
  const rps = (name: string) => median(runs[name]!.map((r) => r.rps));
  return {
    cpu,
    rps,
    rows: () => {
      const rows: Record<string, string> = {};
      for (const name of Object.keys(variants)) {
        const apart = 'requestThread' in runs[name]![0]!.cpu;
        const extra = apart
          ? ` (request thread ${cpu(name, 'requestThread')}), database ${cpu(name, 'database')}`
          : '';
        rows[`${name} (CPU µs/request: server${apart ? ' (request thread), database' : ''}; req/s)`] =
          `${cpu(name)}${extra}; ${rps(name)}`;
      }
      return rows;
    },
  };
}

/** Linux clock ticks are 10 ms (CLK_TCK 100): /proc counts CPU time in them. */
const MICROS_PER_TICK = 10_000;

/** One thread of a process, as /proc names it. */
export type ProcTask = `${number}/task/${number}`;

/**
 * User + system CPU so far, in clock ticks (/proc/<pid>/stat fields 14 and 15): of a whole process
 * (every thread), or of one thread (`<pid>/task/<tid>`).
 */
export function cpuTicks(pid: number | ProcTask): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which is in parentheses and may hold spaces.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

/** One result as a table cell. */
export function formatLoad(r: LoadResult): string {
  return `${r.rps} req/s  p50 ${r.p50} ms  p99 ${r.p99} ms  errors ${r.errors}  server CPU ${r.serverCpuUs} µs/req`;
}

if (process.env.BENCH_LOAD_CHILD === '1' && process.send !== undefined) serveJobs();
