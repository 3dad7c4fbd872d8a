/**
 * `npm run -s gateway -- <command>`: the gateway's command line, over its admin and decision APIs
 * (never Cosmos DB directly: the API validates every document, enforces the admin role and
 * ETags, and makes a change visible on the instance at once).
 *
 * One table of commands, one parser (`node:util` `parseArgs`, strict), the same global options
 * for every command (`--url`, `--token`, `--json`, `--help`) and the same exit codes: 0 done, 1 a
 * finding or a failure the gateway reported, 2 bad input (the file and field named). The policy
 * analysis and review commands of the contract's section 8 join this table.
 *
 * Against a local stack on loopback with no token given, the CLI signs a dev admin token for the
 * identity provider that stack's gateway trusts, as `npm run token` does.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { systemClock } from '../clock';
import { isLoopbackHost } from '../config/url-rules';
import { loadOrCreateDevSigningKey, mintDevToken } from '../host/local/dev-identity-provider';
import { devIssuerFor } from '../host/local/running-stacks';
import { AdminApiError, AdminClient } from '../admin/admin-client';
import { applicationOrder, describePlan, executePlan } from '../admin/apply';
import { InputError as CliInputError, planDesiredState, readValidDesiredState } from '../admin/desired-state';
import { DOCUMENT_KINDS, type DocumentKindName } from '../admin/document-kinds';
import { parseAssertions } from '../analysis/assertions';
import { checkAccess, type AccessExample, type CheckAccessReport } from '../analysis/check-access';
import { AnalysisTooLargeError, NotAnalyzableError } from '../analysis/request-classes';
import {
  policiesOf,
  readPolicyFile,
  required,
  stringOf,
  type Command,
  type CommandContext,
  type Output,
} from './command';
import { replayCommand, reviewCommand } from './review-commands';

const GLOBAL_OPTIONS = {
  url: { type: 'string' },
  token: { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

const GLOBAL_USAGE = `options of every command:
  --url URL      the gateway (GATEWAY_URL; default http://127.0.0.1:7071; a trailing /api is fine)
  --token TOKEN  an Entra access token with the admin role (GATEWAY_TOKEN; on loopback a dev token)
  --json         print JSON instead of lines for people
  -h, --help     print the command's usage
exit codes: 0 done, 1 a finding or a failure the gateway reported, 2 bad input`;

/** What `explain` and `whatif` ask the decision API about. */
const DECISION_OPTIONS = {
  resource: { type: 'string' },
  action: { type: 'string' },
  path: { type: 'string' },
} as const;

function decisionQuery(values: CommandContext['values']): { resource: string; action: string; path: string } {
  return {
    resource: required(values, 'resource'),
    action: required(values, 'action'),
    path: stringOf(values, 'path') ?? '/',
  };
}

/** `policy` or `policies`, `resource` or `resources`: each kind by its noun, one or many. */
const KINDS: Record<string, DocumentKindName> = Object.fromEntries(
  Object.entries(DOCUMENT_KINDS).flatMap(([kind, { singular }]) => [
    [kind, kind as DocumentKindName],
    [singular, kind as DocumentKindName],
  ]),
);

function kindOf(word: string | undefined): DocumentKindName {
  const kind = word === undefined ? undefined : KINDS[word];
  if (kind === undefined) throw new CliInputError('expected "policies" or "resources"');
  return kind;
}

function readAssertions(file: string) {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new CliInputError(`${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const parsed = parseAssertions(text, file);
  if (typeof parsed === 'string') throw new CliInputError(parsed);
  return parsed;
}

/** The analysis, with its refusals (too large, not analyzable) as the CLI's failures (exit 1). */
function analyze(input: Parameters<typeof checkAccess>[0]): CheckAccessReport {
  try {
    return checkAccess(input);
  } catch (err) {
    if (err instanceof AnalysisTooLargeError || err instanceof NotAnalyzableError)
      throw new AnalysisRefused(err.message);
    throw err;
  }
}

/** The analysis refused to answer (exit 1): it never answers past its bound. */
class AnalysisRefused extends Error {
  override name = 'AnalysisRefused';
}

function describeExample(e: AccessExample): string {
  return `${e.action} ${e.resource}${e.path} for ${JSON.stringify(e.principal)}${e.dpop ? ' with a DPoP proof' : ''}`;
}

/** The report for people: findings first, one line each with its example. */
function describeReport(report: CheckAccessReport): string[] {
  const lines: string[] = [];
  if (!report.compared) lines.push('no baseline given (--baseline or --url): new access not checked');
  else if (report.newAccess.length === 0) lines.push('no new access');
  else {
    lines.push(`NEW ACCESS: ${report.newAccess.length} kind(s) of request the baseline does not allow`);
    for (const e of report.newAccess)
      lines.push(`  + ${describeExample(e)} (allowed by ${e.allowedBy.join(', ')})`);
  }
  for (const a of report.assertions) {
    lines.push(
      a.proven
        ? `assertion ${a.id}: proven`
        : `assertion ${a.id}: REFUTED: ${describeExample(a.example!)} (allowed by ${a.example!.allowedBy.join(', ')})`,
    );
  }
  for (const d of report.deadPolicies)
    lines.push(
      `policy ${d.id}: ${d.reason}${d.example ? ` (e.g. ${describeExample(d.example)}, denied by ${d.example.deniedBy.join(', ')})` : ''}`,
    );
  for (const r of report.redundantPolicies)
    lines.push(
      `policy ${r.id}: every grant is also given by another allow (e.g. ${r.alsoAllowedBy.join(', ')})`,
    );
  lines.push(`${report.classes.toLocaleString('en-US')} kinds of request decided`);
  return lines;
}

/** A finding: new access, or an assertion refuted. */
const hasFindings = (report: CheckAccessReport) =>
  report.newAccess.length > 0 || report.assertions.some((a) => !a.proven);

const COMMANDS: Record<string, Command> = {
  apply: {
    summary: 'make the gateway hold exactly what a file lists (validated first)',
    usage: 'apply -f FILE [--prune] [--dry-run] [--no-new-access]',
    options: {
      file: { type: 'string', short: 'f' },
      prune: { type: 'boolean', default: false },
      'dry-run': { type: 'boolean', default: false },
      'no-new-access': { type: 'boolean', default: false },
    },
    async run({ values, out, client }) {
      // Everything is validated before anything is written: a bad document changes nothing.
      const file = required(values, 'file');
      const desired = readValidDesiredState(file);
      const plan = await planDesiredState(client(), desired, values.prune === true);
      // What the change grants that the deployed set does not, shown before anything is written.
      const stored = await client().list('policies');
      let access: CheckAccessReport | string;
      try {
        // A stored policy today's schema refuses (saved before a rule tightened) leaves the check
        // undone, said as such; it must not stop the apply that replaces it.
        const deployed = policiesOf(stored, 'the deployed policies');
        const kept =
          values.prune === true ? [] : deployed.filter((p) => !desired.policies.some((d) => d.id === p.id));
        access = analyze({
          candidate: [...kept, ...policiesOf(desired.policies, file)],
          baseline: deployed,
          resources: desired.resources.map((r) => String(r.name)),
        });
      } catch (err) {
        if (!(err instanceof AnalysisRefused) && !(err instanceof CliInputError)) throw err;
        access = err.message;
      }
      const widens = typeof access === 'string' || access.newAccess.length > 0;
      if (!out.json) {
        if (typeof access === 'string') out.line(`new access not checked: ${access}`);
        else
          for (const line of describeReport(access).filter((l) => !/^policy |kinds of request/.test(l)))
            out.line(line);
      }
      if (values['dry-run'] === true || (values['no-new-access'] === true && widens)) {
        const refused = values['dry-run'] !== true;
        if (out.json)
          out.value({
            dryRun: !refused,
            refused,
            changes: plan,
            newAccess: typeof access === 'string' ? access : access.newAccess,
          });
        else out.line(refused ? 'refused (--no-new-access): nothing applied' : describePlan(plan));
        return refused ? 1 : 0;
      }
      const outcomes: { kind: string; id: string; change: string; outcome: string; error?: string }[] = [];
      const symbol = { create: '+', update: '~', delete: '-', unchanged: '=' } as const;
      const result = await executePlan(client(), plan, (change, outcome, error) => {
        outcomes.push({
          kind: change.kind,
          id: change.id,
          change: change.change,
          outcome,
          ...(error ? { error: error.message } : {}),
        });
        // Progress as it happens: a long apply is never silent.
        if (!out.json) {
          out.line(
            `${symbol[change.change]} ${change.kind}/${change.id}: ${outcome}${error ? ` (${error.message})` : ''}`,
          );
        }
      });
      const unchanged = plan.filter((c) => c.change === 'unchanged').length;
      const done = outcomes.filter((o) => o.outcome === 'done').length;
      if (out.json)
        out.value({
          ok: result.ok,
          outcomes,
          unchanged,
          newAccess: typeof access === 'string' ? access : access.newAccess,
        });
      else
        out.line(
          result.ok
            ? `${done} change(s), ${unchanged} unchanged`
            : `stopped: ${done} of ${applicationOrder(plan).length} change(s) applied; the rest of the file is not in force`,
        );
      return result.ok ? 0 : 1;
    },
  },
  'check-access': {
    summary:
      'prove a policy file grants no new access and keeps its assertions (exact, offline but for --url)',
    usage: 'check-access --policies FILE [--baseline FILE | --url URL] [--assert FILE]',
    options: {
      policies: { type: 'string' },
      baseline: { type: 'string' },
      assert: { type: 'string' },
    },
    async run({ values, out, client, explicitUrl }) {
      const { policies: candidate, resources } = readPolicyFile(required(values, 'policies'));
      const baselineFile = stringOf(values, 'baseline');
      if (baselineFile !== undefined && explicitUrl)
        throw new CliInputError('give --baseline or --url, not both');
      const baseline =
        baselineFile !== undefined
          ? readPolicyFile(baselineFile).policies
          : explicitUrl
            ? policiesOf(await client().list('policies'), 'the deployed policies')
            : undefined;
      const assertFile = stringOf(values, 'assert');
      const assertions = assertFile === undefined ? [] : readAssertions(assertFile);
      const started = Date.now();
      const report = analyze({
        candidate,
        ...(baseline === undefined ? {} : { baseline }),
        assertions,
        resources: resources.map((r) => r.name),
      });
      if (out.json) out.value({ ...report, seconds: (Date.now() - started) / 1000 });
      else for (const line of describeReport(report)) out.line(line);
      return hasFindings(report) ? 1 : 0;
    },
  },
  replay: replayCommand,
  review: reviewCommand,
  validate: {
    summary: 'check a policy file offline, as the gateway would (no gateway needed)',
    usage: 'validate -f FILE',
    options: { file: { type: 'string', short: 'f' } },
    run({ values, out }) {
      const file = required(values, 'file');
      const desired = readValidDesiredState(file);
      const counts = { resources: desired.resources.length, policies: desired.policies.length };
      if (out.json) out.value({ valid: true, ...counts });
      else out.line(`${file}: valid (${counts.resources} resource(s), ${counts.policies} polic(ies))`);
      return Promise.resolve(0);
    },
  },
  get: {
    summary: 'print what the gateway stores',
    usage: 'get policies|resources',
    options: {},
    async run({ positionals, out, client }) {
      const items = await client().list(kindOf(positionals[0]));
      out.value(items);
      return 0;
    },
  },
  delete: {
    summary: 'delete one policy or resource',
    usage: 'delete policy|resource ID',
    options: {},
    async run({ positionals, out, client }) {
      const kind = kindOf(positionals[0]);
      const id = positionals[1];
      if (id === undefined) throw new CliInputError('the id to delete is required');
      await client().remove(kind, id);
      if (out.json) out.value({ deleted: `${kind}/${id}` });
      else out.line(`- ${kind}/${id}: deleted`);
      return 0;
    },
  },
  revoke: {
    summary: 'revoke one SAS token (--sid), or every token of a user issued before a time (--oid)',
    usage: 'revoke --sid SID | --oid OID [--before UNIX_SECONDS]',
    options: { sid: { type: 'string' }, oid: { type: 'string' }, before: { type: 'string' } },
    async run({ values, out, client }) {
      const sid = stringOf(values, 'sid');
      const oid = stringOf(values, 'oid');
      if ((sid === undefined) === (oid === undefined))
        throw new CliInputError('give exactly one of --sid and --oid');
      const before = stringOf(values, 'before');
      if (before !== undefined && (sid !== undefined || !/^\d{1,11}$/.test(before)))
        throw new CliInputError('--before: unix seconds, with --oid only');
      const stored = await client().revoke(
        sid !== undefined
          ? { sid }
          : { oid: oid!, ...(before === undefined ? {} : { before: Number(before) }) },
      );
      if (out.json) out.value(stored);
      else out.line(`revoked: ${(stored as { id: string }).id}`);
      return 0;
    },
  },
  audit: {
    summary: 'read the audit trail (one page; --all for every page)',
    usage: 'audit [--oid OID] [--from TIME] [--to TIME] [--limit N] [--all]',
    options: {
      oid: { type: 'string' },
      from: { type: 'string' },
      to: { type: 'string' },
      limit: { type: 'string' },
      all: { type: 'boolean', default: false },
    },
    async run({ values, out, client }) {
      const query: Record<string, string> = {};
      for (const name of ['oid', 'from', 'to', 'limit']) {
        const value = stringOf(values, name);
        if (value !== undefined) query[name] = value;
      }
      const items: unknown[] = [];
      for (let page = 0; ; page++) {
        const answer = await client().audit(query);
        items.push(...answer.items);
        if (!out.json) for (const item of answer.items) out.line(JSON.stringify(item));
        if (values.all !== true || answer.next === undefined || page > 10_000) break;
        query.cursor = answer.next;
      }
      if (out.json) out.value(items);
      return 0;
    },
  },
  explain: {
    summary: "ask the decision API why, for the token's caller",
    usage: 'explain --resource NAME --action read|create|write|delete [--path /p]',
    options: DECISION_OPTIONS,
    async run({ values, out, client }) {
      out.value(await client().authorize(decisionQuery(values)));
      return 0;
    },
  },
  whatif: {
    summary: 'the decision the gateway makes for a token carrying the given claims (admin)',
    usage: 'whatif --resource NAME --action ACTION [--path /p] --claims \'{"roles":[...]}\'',
    options: { ...DECISION_OPTIONS, claims: { type: 'string' } },
    async run({ values, out, client }) {
      let principal: unknown;
      try {
        principal = JSON.parse(required(values, 'claims'));
      } catch (err) {
        if (err instanceof CliInputError) throw err;
        throw new CliInputError('--claims: not JSON');
      }
      if (typeof principal !== 'object' || principal === null || Array.isArray(principal))
        throw new CliInputError('--claims: expected a JSON object of claims');
      out.value(
        await client().authorize({
          ...decisionQuery(values),
          principal: principal as Record<string, unknown>,
        }),
      );
      return 0;
    },
  },
};

function usage(): string {
  const width = Math.max(...Object.values(COMMANDS).map((c) => c.usage.length));
  const lines = Object.values(COMMANDS).map((c) => `  ${c.usage.padEnd(width)}  ${c.summary}`);
  return `usage: npm run -s gateway -- <command> [options]\ncommands:\n${lines.join('\n')}\n${GLOBAL_USAGE}`;
}

function commandUsage(command: Command): string {
  return `usage: npm run -s gateway -- ${command.usage}\n${command.summary}\n${GLOBAL_USAGE}`;
}

function tokenFor(url: string, given: string | undefined): string {
  if (given) return given;
  if (!isLoopbackHost(new URL(url).hostname)) {
    throw new CliInputError(
      '--token (or GATEWAY_TOKEN) is required: an Entra access token with the gateway admin role',
    );
  }
  // The identity provider the gateway at `url` trusts (a second stack's moved off 7072).
  return mintDevToken(
    loadOrCreateDevSigningKey(),
    { ...devIssuerFor(process.env, url), clock: systemClock },
    { roles: ['Gateway.Admin'], lifetimeSeconds: 600 },
  );
}

/**
 * Runs one CLI invocation; returns the process exit code. `out` gets results (stdout), `err`
 * errors and usage after bad input (stderr).
 */
export async function runCli(
  argv: readonly string[],
  out: (line: string) => void = console.log,
  err: (line: string) => void = console.error,
): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    (name === undefined ? err : out)(usage());
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS[name];
  if (command === undefined) {
    err(`gateway: unknown command "${name}"\n${usage()}`);
    return 2;
  }
  let parsed: { values: CommandContext['values']; positionals: string[] };
  try {
    parsed = parseArgs({
      args: rest,
      allowPositionals: true,
      strict: true,
      options: { ...GLOBAL_OPTIONS, ...command.options },
    });
  } catch (e) {
    err(`gateway ${name}: ${e instanceof Error ? e.message : String(e)}\n${commandUsage(command)}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help === true) {
    out(commandUsage(command));
    return 0;
  }
  const json = values.json === true;
  const output: Output = {
    json,
    line: out,
    value: (value) => out(JSON.stringify(value, null, 2)),
  };
  const url = stringOf(values, 'url') ?? process.env.GATEWAY_URL ?? 'http://127.0.0.1:7071';
  let client: AdminClient | undefined;
  try {
    try {
      new URL(url);
    } catch {
      throw new CliInputError(`--url: not a URL: ${url}`);
    }
    return await command.run({
      values,
      positionals,
      out: output,
      explicitUrl: stringOf(values, 'url') !== undefined || process.env.GATEWAY_URL !== undefined,
      client: () =>
        (client ??= new AdminClient({
          baseUrl: url,
          token: tokenFor(url, stringOf(values, 'token') ?? process.env.GATEWAY_TOKEN),
        })),
    });
  } catch (e) {
    const input = e instanceof CliInputError;
    const message = e instanceof Error ? e.message : String(e);
    if (json)
      out(
        JSON.stringify({
          error: input ? 'bad input' : 'failed',
          message,
          ...(e instanceof AdminApiError ? { status: e.status, code: e.code } : {}),
        }),
      );
    err(`gateway ${name}: ${message}`);
    return input ? 2 : 1;
  }
}

if (require.main === module) {
  void runCli(process.argv.slice(2)).then((code) => process.exit(code));
}
