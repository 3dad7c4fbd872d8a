/** The load test's report: a table for people, one JSON line for machines. */
import type { LoadReport } from './harness';

/** The human-readable report (the JSON line follows it on stdout). */
export function formatReport(report: LoadReport): string {
  const lines: string[] = [];
  const { totals, config } = report;
  lines.push(
    '',
    `load test: ${totals.requests} requests in ${totals.seconds} s (${totals.throughputPerSecond}/s), ` +
      `${config.concurrency} in flight over ${config.instances} instances (refresh ${config.refreshSeconds} s), seed ${config.seed}; warm-up ${report.warmup.requests}`,
    '',
  );
  const header = ['route', 'requests', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms', 'statuses'];
  const rows = Object.entries(report.routes).map(([route, r]) => [
    route,
    String(r.requests),
    r.p50Ms.toFixed(1),
    r.p95Ms.toFixed(1),
    r.p99Ms.toFixed(1),
    r.maxMs.toFixed(1),
    Object.entries(r.statuses)
      .map(([status, n]) => `${status}:${n}`)
      .join(' '),
  ]);
  lines.push(...table([header, ...rows]), '');
  lines.push(
    `wrong allows ${totals.wrongAllows}   unexpected 5xx ${totals.unexpected5xx}   ` +
      `unexpected statuses ${totals.unexpectedStatus}   no answer ${totals.transportErrors}   ` +
      `fault answers ${totals.faultAnswers}`,
    '',
    'faults injected:',
  );
  lines.push(
    ...table([
      ['fault', 'from s', 'to s', 'fault answers'],
      ...report.faults.map((f) => [
        f.kind,
        f.fromSeconds.toFixed(1),
        f.toSeconds === null ? 'end' : f.toSeconds.toFixed(1),
        String(f.faultAnswers),
      ]),
    ]).map((line) => `  ${line}`),
    '',
  );
  const m = report.memory;
  lines.push(
    `memory: heap ${m.before.heapUsedMB} MB -> ${m.after.heapUsedMB} MB (${m.heapGrowthPercent >= 0 ? '+' : ''}${m.heapGrowthPercent}%, ` +
      `limit ${m.limitPercent}%${m.checked ? '' : ', not checked: no gc'}), rss ${m.before.rssMB} MB -> ${m.after.rssMB} MB; ` +
      `at the end (audit queued while Cosmos DB is down) heap ${m.end.heapUsedMB} MB, rss ${m.end.rssMB} MB`,
    `audit: written ${report.audit.written}, dropped ${report.audit.dropped}, queued ${report.audit.queued}, ` +
      `failed writes ${report.audit.failedWrites}; in Cosmos DB before it stopped ${report.audit.storedBeforeCosmosFault ?? 'n/a'} ` +
      `(written since warm-up ${report.audit.writtenBeforeCosmosFault ?? 'n/a'}); audited requests ${report.audit.auditedRequests}, ` +
      `without a record ${report.audit.missingRecords} (counted as lost ${report.audit.countedLosses})`,
    `slow downstream reached: ${Object.entries(report.slowDownstreamHits)
      .map(([mode, n]) => `${mode} ${n}`)
      .join(', ')}`,
    `gateway log (warn/error): ${
      Object.entries(report.gatewayLog)
        .map(([event, n]) => `${event} x${n}`)
        .join(', ') || 'none'
    }`,
  );
  if (report.failures.length > 0) {
    lines.push('', 'first failures:');
    for (const f of report.failures) {
      lines.push(
        `  ${f.kind} ${f.caseName}: ${f.method} ${f.path} -> ${f.status ?? 'no answer'}${f.code ? ` ${f.code}` : ''}, expected ${f.expected}${f.detail ? ` (${f.detail})` : ''}`,
      );
    }
  }
  lines.push(
    '',
    report.verdict.ok ? 'verdict: PASS' : `verdict: FAIL (${report.verdict.reasons.join('; ')})`,
  );
  return lines.join('\n');
}

function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) =>
    r
      .map((cell, i) =>
        i === r.length - 1 ? cell : i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!),
      )
      .join('  '),
  );
}
