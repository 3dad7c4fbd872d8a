/**
 * `gateway review --html FILE`: the review as one self-contained page. Charts are inline SVG
 * drawn here, styles inline, no script, and a Content-Security-Policy that allows nothing from
 * the network: the page opens the same offline, from a mail attachment or a build artifact.
 *
 * Why no chart library: five bar charts are a few dozen lines of SVG, and an inlined library
 * (hundreds of KB of script) would be the largest and least reviewable part of an audit artifact.
 */
import type { ReplayExample } from './replay';
import type { ReviewReport } from './review';

const COLORS = { allow: '#2e7d32', deny: '#c62828', error: '#757575', other: '#1565c0' } as const;

function escape(text: string | number | null | undefined): string {
  return String(text ?? '').replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );
}

const number = (n: number) => n.toLocaleString('en-US');

/** A horizontal bar chart: one labelled bar per row. */
function barChart(
  name: string,
  title: string,
  rows: readonly { label: string; value: number; color?: string }[],
): string {
  if (rows.length === 0) return figure(name, title, '<p class="none">Nothing to show for this window.</p>');
  const max = Math.max(1, ...rows.map((r) => r.value));
  const rowHeight = 22;
  const labelWidth = 260;
  const barWidth = 420;
  const height = rows.length * rowHeight + 4;
  const bars = rows
    .map((row, i) => {
      const y = i * rowHeight + 2;
      const width = Math.max(row.value > 0 ? 2 : 0, (row.value / max) * barWidth);
      return (
        `<text x="${labelWidth - 6}" y="${y + 15}" text-anchor="end">${escape(row.label)}</text>` +
        `<rect x="${labelWidth}" y="${y + 3}" width="${width.toFixed(1)}" height="${rowHeight - 6}" fill="${row.color ?? COLORS.other}"><title>${escape(row.label)}: ${number(row.value)}</title></rect>` +
        `<text x="${labelWidth + width + 6}" y="${y + 15}">${number(row.value)}</text>`
      );
    })
    .join('');
  const svg = `<svg viewBox="0 0 ${labelWidth + barWidth + 80} ${height}" width="${labelWidth + barWidth + 80}" height="${height}" role="img" aria-label="${escape(title)}">${bars}</svg>`;
  return figure(name, title, svg);
}

/** Decisions over time, stacked by outcome. */
function timelineChart(report: ReviewReport): string {
  const width = 760;
  const height = 220;
  const plot = { left: 50, top: 10, bottom: 30 };
  const slots = report.timeline;
  const max = Math.max(1, ...slots.map((s) => s.allow + s.deny + s.error));
  const slotWidth = (width - plot.left - 10) / Math.max(1, slots.length);
  const scale = (height - plot.top - plot.bottom) / max;
  const base = height - plot.bottom;
  const bars = slots
    .map((slot, i) => {
      const x = plot.left + i * slotWidth;
      let y = base;
      return (['allow', 'deny', 'error'] as const)
        .map((outcome) => {
          const h = slot[outcome] * scale;
          if (h <= 0) return '';
          y -= h;
          return `<rect x="${(x + 1).toFixed(1)}" y="${y.toFixed(1)}" width="${Math.max(1, slotWidth - 2).toFixed(1)}" height="${h.toFixed(1)}" fill="${COLORS[outcome]}"><title>${escape(slot.start)}: ${number(slot[outcome])} ${outcome}</title></rect>`;
        })
        .join('');
    })
    .join('');
  const step = Math.max(1, Math.ceil(slots.length / 6));
  const labels = slots
    .map((slot, i) =>
      i % step === 0
        ? `<text x="${(plot.left + i * slotWidth).toFixed(1)}" y="${height - 10}">${escape(slot.start.slice(5, 16).replace('T', ' '))}</text>`
        : '',
    )
    .join('');
  const axis =
    `<line x1="${plot.left}" y1="${base}" x2="${width - 10}" y2="${base}" stroke="#999"/>` +
    `<text x="${plot.left - 6}" y="${plot.top + 10}" text-anchor="end">${number(max)}</text>` +
    `<text x="${plot.left - 6}" y="${base}" text-anchor="end">0</text>`;
  const legend = (['allow', 'deny', 'error'] as const)
    .map((o) => `<span class="key" style="background:${COLORS[o]}"></span>${o} ${number(report.outcomes[o])}`)
    .join(' &nbsp; ');
  const svg = `<svg viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="Decisions over time">${axis}${bars}${labels}</svg>`;
  return figure(
    'timeline',
    `Decisions over time (${bucketName(report.bucketSeconds)} buckets)`,
    `${svg}<p>${legend}</p>`,
  );
}

/** `5-minute`, `6-hour`, `1-day`: a bucket's size in words. */
function bucketName(seconds: number): string {
  if (seconds % 86_400 === 0) return `${seconds / 86_400}-day`;
  if (seconds % 3600 === 0) return `${seconds / 3600}-hour`;
  return `${seconds / 60}-minute`;
}

function figure(name: string, title: string, body: string): string {
  return `<figure data-chart="${name}"><figcaption>${escape(title)}</figcaption>${body}</figure>`;
}

function table(headers: readonly string[], rows: readonly (readonly (string | number | null)[])[]): string {
  if (rows.length === 0) return '<p class="none">None.</p>';
  const head = headers.map((h) => `<th>${escape(h)}</th>`).join('');
  const body = rows.map((r) => `<tr>${r.map((c) => `<td>${escape(c)}</td>`).join('')}</tr>`).join('');
  return `<table><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
}

function exampleRows(examples: readonly ReplayExample[]): (string | null)[][] {
  return examples.map((e) => [
    e.time,
    `${e.action ?? ''} ${e.resource ?? ''}${e.path ?? ''}`,
    e.caller.oid ?? e.caller.azp,
    `${e.was.decision} (${e.was.policies.join(', ') || 'no policy'})`,
    e.now
      ? `${e.now.decision}: ${e.now.reasonCode} (${e.now.policies.join(', ') || 'no policy'})`
      : (e.why ?? ''),
  ]);
}

/** The review as one HTML page. */
export function reviewPage(report: ReviewReport): string {
  const { replay, suggestion } = report;
  const flips = barChart('replay', 'Replay of the window under the suggestion', [
    { label: 'unchanged', value: replay.unchanged, color: COLORS.error },
    { label: 'allow → deny', value: replay.allowToDeny, color: COLORS.deny },
    { label: 'deny → allow', value: replay.denyToAllow, color: COLORS.allow },
    { label: 'not replayable', value: replay.notReplayable.total, color: COLORS.other },
  ]);
  const sections = [
    `<h1>Gateway review</h1><p>${escape(report.from)} to ${escape(report.to)}: ${number(report.records)} audit records.</p>`,
    timelineChart(report),
    barChart(
      'deny-reasons',
      'Top deny reasons',
      report.denyReasons.map((r) => ({ label: r.reasonCode, value: r.count, color: COLORS.deny })),
    ),
    barChart(
      'policy-use',
      'Decisions per policy',
      report.policies.map((p) => ({
        label: `${p.id} (${p.effect})`,
        value: p.decisions,
        color: p.effect === 'deny' ? COLORS.deny : COLORS.allow,
      })),
    ),
    barChart(
      'unused-grants',
      'Unused grants (actions and paths no request used)',
      report.unusedGrants.map((g) => ({ label: g.id, value: g.actions.length + g.paths.length })),
    ),
    table(
      ['policy', 'unused actions', 'unused paths'],
      report.unusedGrants.map((g) => [g.id, g.actions.join(', '), g.paths.join(', ')]),
    ),
    `<h2>Policies</h2>`,
    table(
      ['policy', 'effect', 'decisions', 'last use'],
      report.policies.map((p) => [
        p.id,
        p.effect + (p.enabled ? '' : ' (disabled)'),
        p.decisions,
        p.lastUse ?? 'never',
      ]),
    ),
    `<h2>Suggested narrower policies</h2>`,
    suggestion.withheld === undefined
      ? `<p>Checked: replay changes ${number(suggestion.checks.replay.allowToDeny)} allows into denies; check-access finds ${number(suggestion.checks.newAccess ?? 0)} kinds of new access.</p>`
      : `<p class="warn">No suggestion: ${escape(suggestion.withheld)}</p>`,
    table(
      ['policy', 'change', 'actions', 'paths', 'why'],
      suggestion.changes.map((c) => [
        c.id,
        c.change,
        c.actions ? `${c.actions.from.join(', ')} → ${c.actions.to.join(', ')}` : '',
        c.paths ? `${c.paths.from.join(', ')} → ${c.paths.to.join(', ')}` : '',
        c.why,
      ]),
    ),
    `<h2>Replay</h2>`,
    flips,
    table(
      ['time', 'request', 'caller', 'was', 'now'],
      exampleRows([...replay.examples.allowToDeny, ...replay.examples.denyToAllow]),
    ),
    `<h3>Not replayable</h3>`,
    table(['time', 'request', 'caller', 'was', 'why'], exampleRows(replay.examples.notReplayable)),
    `<h2>Callers</h2>`,
    table(
      ['kind', 'id', 'requests'],
      [
        ...report.callers.clients.map((c) => ['client', c.id, c.requests]),
        ...report.callers.tenants.map((c) => ['tenant', c.id, c.requests]),
        ...report.callers.users.top.map((c) => ['user', c.id, c.requests]),
      ],
    ),
    `<p>${number(report.callers.users.distinct)} distinct users.</p>`,
  ];
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>Gateway review ${escape(report.from)} to ${escape(report.to)}</title>
<style>
body{font:14px system-ui,sans-serif;margin:24px;color:#222;max-width:1000px}
figure{margin:16px 0;padding:8px;border:1px solid #ddd;border-radius:6px}
figcaption{font-weight:600;margin-bottom:6px}
svg text{font-size:12px;fill:#333}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
.key{display:inline-block;width:10px;height:10px;margin-right:4px}.none{color:#777}.warn{color:#c62828}
</style></head><body>
${sections.join('\n')}
</body></html>
`;
}
