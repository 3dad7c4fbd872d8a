/** Counters and latency samples of a run, per route. */
import type { CaseName, Route } from './scenario';

/** One answer that did not match its expectation (the report keeps the first few). */
export interface Failure {
  readonly kind: 'wrong-allow' | 'unexpected-5xx' | 'unexpected-status' | 'transport-error';
  readonly caseName: CaseName;
  readonly method: string;
  readonly path: string;
  readonly status: number | undefined;
  readonly code: string | undefined;
  readonly expected: string;
  readonly detail?: string;
}

export interface RouteSummary {
  readonly requests: number;
  readonly statuses: Readonly<Record<string, number>>;
  readonly p50Ms: number;
  readonly p95Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

const KEPT_FAILURES = 20;

export class RunStats {
  private readonly latencies = new Map<Route, number[]>();
  private readonly statuses = new Map<Route, Map<string, number>>();
  readonly failures: Failure[] = [];
  readonly counts = {
    requests: 0,
    wrongAllows: 0,
    unexpected5xx: 0,
    unexpectedStatus: 0,
    transportErrors: 0,
    /** 5xx answers a fault window explains. */
    faultAnswers: 0,
  };

  record(route: Route, status: number | 'error', latencyMs: number): void {
    this.counts.requests++;
    let list = this.latencies.get(route);
    if (!list) this.latencies.set(route, (list = []));
    list.push(latencyMs);
    let byStatus = this.statuses.get(route);
    if (!byStatus) this.statuses.set(route, (byStatus = new Map<string, number>()));
    const key = String(status);
    byStatus.set(key, (byStatus.get(key) ?? 0) + 1);
  }

  fail(failure: Failure): void {
    const key = (
      {
        'wrong-allow': 'wrongAllows',
        'unexpected-5xx': 'unexpected5xx',
        'unexpected-status': 'unexpectedStatus',
        'transport-error': 'transportErrors',
      } as const
    )[failure.kind];
    this.counts[key]++;
    if (this.failures.length < KEPT_FAILURES) this.failures.push(failure);
  }

  summary(): Record<string, RouteSummary> {
    const out: Record<string, RouteSummary> = {};
    for (const [route, list] of [...this.latencies].sort(([a], [b]) => a.localeCompare(b))) {
      const sorted = Float64Array.from(list).sort();
      out[route] = {
        requests: list.length,
        statuses: Object.fromEntries(
          [...(this.statuses.get(route) ?? [])].sort(([a], [b]) => a.localeCompare(b)),
        ),
        p50Ms: percentile(sorted, 0.5),
        p95Ms: percentile(sorted, 0.95),
        p99Ms: percentile(sorted, 0.99),
        maxMs: round(sorted[sorted.length - 1] ?? 0),
      };
    }
    return out;
  }
}

/** Nearest-rank percentile of sorted samples, in ms with one decimal. */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1));
  return round(sorted[rank]!);
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
