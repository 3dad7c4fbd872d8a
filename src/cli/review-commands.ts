/**
 * `gateway replay` and `gateway review` (docs/policy-analysis.md): the audit trail of a window,
 * read through the admin API, decided again (src/analysis/replay.ts) or reviewed
 * (src/analysis/review.ts). Nothing is written before everything is read and checked: a refused
 * window, an empty one or an unreachable gateway leaves no file behind.
 */
import { writeFileSync } from 'node:fs';
import { stringify as toYaml } from 'yaml';
import type { AdminClient } from '../admin/admin-client';
import { parseDuration, readAuditWindow } from '../admin/audit-window';
import type { AuditRecord } from '../audit/audit-record';
import {
  decisionSnapshot,
  replayRecords,
  Replayer,
  type ReplayExample,
  type ReplayReport,
  type ResourceLike,
} from '../analysis/replay';
import { review, type ReviewReport } from '../analysis/review';
import { reviewPage } from '../analysis/review-page';
import {
  policiesOf,
  readPolicyFile,
  resourceLike,
  required,
  stringOf,
  type Command,
  type CommandContext,
  type Output,
} from './command';

/** The window `--since` names, ending now. */
function windowOf(values: CommandContext['values']): {
  fromMs: number;
  toMs: number;
  from: string;
  to: string;
} {
  const since = parseDuration(required(values, 'since'));
  const toMs = Date.now();
  const fromMs = toMs - since;
  return { fromMs, toMs, from: new Date(fromMs).toISOString(), to: new Date(toMs).toISOString() };
}

/** The window's records, or a failure (exit 1) when it holds none: there is nothing to decide. */
async function recordsOf(
  client: AdminClient,
  window: { fromMs: number; toMs: number; from: string; to: string },
): Promise<{ records: AuditRecord[]; readSeconds: number }> {
  const started = Date.now();
  const records = await readAuditWindow(client, window.fromMs, window.toMs);
  if (records.length === 0)
    throw new Error(`no audit records from ${window.from} to ${window.to}: nothing to replay or review`);
  return { records, readSeconds: (Date.now() - started) / 1000 };
}

/** The deployed resources, with a file's own (by name) in their place. */
function resourcesOf(
  deployed: readonly Record<string, unknown>[],
  declared: readonly ResourceLike[] = [],
): ResourceLike[] {
  const byName = new Map<string, ResourceLike>();
  for (const r of deployed) byName.set(String(r.name), resourceLike(r));
  for (const r of declared) byName.set(r.name, r);
  return [...byName.values()];
}

const number = (n: number) => n.toLocaleString('en-US');

function describeExample(e: ReplayExample): string {
  const who = e.caller.oid ?? e.caller.azp ?? 'unknown caller';
  const was = `${e.was.decision}${e.was.policies.length ? ` (${e.was.policies.join(', ')})` : ''}`;
  const now = e.now
    ? `now ${e.now.decision}: ${e.now.reasonCode}${e.now.policies.length ? ` (${e.now.policies.join(', ')})` : ''}`
    : `not replayable: ${e.why}`;
  return `${e.time} ${e.operation} ${e.action} ${e.resource}${e.path} by ${who}: was ${was}, ${now}`;
}

function counts(reasons: Partial<Record<string, number>>): string {
  const entries = Object.entries(reasons);
  return entries.length === 0 ? '' : ` (${entries.map(([k, v]) => `${k} ${number(v ?? 0)}`).join(', ')})`;
}

function describeReplay(report: ReplayReport, out: Output): void {
  out.line(`${number(report.records)} audit records from ${report.from} to ${report.to}`);
  out.line(`  unchanged       ${number(report.unchanged)}`);
  out.line(`  allow -> deny   ${number(report.allowToDeny)}`);
  out.line(`  deny -> allow   ${number(report.denyToAllow)}`);
  out.line(`  not replayable  ${number(report.notReplayable.total)}${counts(report.notReplayable.reasons)}`);
  const skipped = Object.values(report.skipped).reduce((a, b) => (a ?? 0) + (b ?? 0), 0) ?? 0;
  out.line(`  not decisions   ${number(skipped)}${counts(report.skipped)}`);
  for (const [title, list] of [
    ['allow -> deny', report.examples.allowToDeny],
    ['deny -> allow', report.examples.denyToAllow],
    ['not replayable', report.examples.notReplayable],
  ] as const) {
    if (list.length === 0) continue;
    out.line(`${title}, e.g.:`);
    for (const e of list) out.line(`  ${describeExample(e)}`);
  }
}

export const replayCommand: Command = {
  summary:
    'decide a window of the audit trail again under a candidate policy file (what would it have changed?)',
  usage: 'replay --policies FILE --since DURATION',
  options: { policies: { type: 'string' }, since: { type: 'string' } },
  async run({ values, out, client }) {
    const { policies, resources: declared } = readPolicyFile(required(values, 'policies'));
    const window = windowOf(values);
    const [{ records, readSeconds }, deployed] = await Promise.all([
      recordsOf(client(), window),
      client().list('resources'),
    ]);
    const candidate = new Replayer(decisionSnapshot(policies, resourcesOf(deployed, declared)));
    const report = replayRecords(records, candidate, window);
    if (out.json) out.value({ ...report, readSeconds });
    else describeReplay(report, out);
    return report.allowToDeny + report.denyToAllow > 0 ? 1 : 0;
  },
};

function describeReview(report: ReviewReport, out: Output): void {
  const { outcomes } = report;
  out.line(
    `${number(report.records)} audit records from ${report.from} to ${report.to}: ${number(outcomes.allow)} allow, ${number(outcomes.deny)} deny, ${number(outcomes.error)} error`,
  );
  out.line('policies (decisions, last use):');
  for (const p of report.policies)
    out.line(
      `  ${p.id} (${p.effect}${p.enabled ? '' : ', disabled'}): ${number(p.decisions)}, ${p.lastUse ?? 'never used'}`,
    );
  for (const g of report.unusedGrants)
    out.line(
      `unused grant: ${g.id}${g.actions.length ? ` actions ${g.actions.join(', ')}` : ''}${g.paths.length ? ` paths ${g.paths.join(', ')}` : ''}`,
    );
  const { clients, tenants, users } = report.callers;
  out.line(
    `callers: ${number(clients.length)} client(s), ${number(tenants.length)} tenant(s), ${number(users.distinct)} user(s)`,
  );
  for (const c of clients) out.line(`  client ${c.id}: ${number(c.requests)}`);
  const { suggestion } = report;
  if (suggestion.withheld !== undefined) {
    out.line(`no suggestion: ${suggestion.withheld}`);
    return;
  }
  const changed = suggestion.changes.filter((c) => c.change !== 'keep');
  out.line(
    `suggested narrower policies: ${changed.length} change(s); replay: ${number(suggestion.checks.replay.allowToDeny)} allow -> deny; check-access: ${number(suggestion.checks.newAccess ?? 0)} new access`,
  );
  for (const c of changed) {
    const parts = [
      c.actions ? `actions ${c.actions.from.join(',')} -> ${c.actions.to.join(',')}` : '',
      c.paths ? `paths ${c.paths.from.join(',')} -> ${c.paths.to.join(',')}` : '',
    ].filter(Boolean);
    out.line(`  ${c.change === 'remove' ? '-' : '~'} ${c.id}: ${parts.join('; ') || c.why}`);
  }
}

/** The suggestion as a file `gateway apply -f` takes. */
function suggestionFile(report: ReviewReport): string {
  const removed = report.suggestion.changes.filter((c) => c.change === 'remove').map((c) => c.id);
  const header = [
    `# Suggested by gateway review from the audit trail of ${report.from} to ${report.to}.`,
    '# Checked: a replay of that window changes no allow into a deny; check-access finds no new access.',
    ...(removed.length > 0
      ? [
          `# Not listed, as they allowed nothing in the window: ${removed.join(', ')} (gateway delete policy ID).`,
        ]
      : []),
  ];
  return `${header.join('\n')}\n${toYaml({ policies: report.suggestion.policies })}`;
}

export const reviewCommand: Command = {
  summary:
    'review the policies from a window of the audit trail: use, unused grants, callers, a narrower set',
  usage: 'review --since DURATION [--html FILE] [--suggest FILE]',
  options: { since: { type: 'string' }, html: { type: 'string' }, suggest: { type: 'string' } },
  async run({ values, out, client }) {
    const window = windowOf(values);
    const [{ records }, stored, deployed] = await Promise.all([
      recordsOf(client(), window),
      client().list('policies'),
      client().list('resources'),
    ]);
    const report = review({
      records,
      policies: policiesOf(stored, 'the deployed policies'),
      resources: resourcesOf(deployed),
      from: window.from,
      to: window.to,
    });
    const html = stringOf(values, 'html');
    const suggest = stringOf(values, 'suggest');
    if (suggest !== undefined && report.suggestion.policies === undefined)
      throw new Error(`--suggest: no suggestion to write: ${report.suggestion.withheld}`);
    if (html !== undefined) writeFileSync(html, reviewPage(report));
    if (suggest !== undefined) writeFileSync(suggest, suggestionFile(report));
    if (out.json) out.value(report);
    else {
      describeReview(report, out);
      if (html !== undefined) out.line(`wrote ${html}`);
      if (suggest !== undefined) out.line(`wrote ${suggest}`);
    }
    return 0;
  },
};
