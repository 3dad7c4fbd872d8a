/**
 * `gateway review` (docs/policy-analysis.md): what the audit trail says about the policies in
 * force. Per policy, the decisions it took part in and its last use; per allow policy, the
 * actions and paths it grants that no request used; the callers seen; and a suggested narrower
 * policy set that still allows every request the current set allows in the window.
 *
 * The suggestion is made from the current set's own decisions on the recorded requests
 * ({@link Replayer}: the gateway's decision, nothing else), and shown only once checked: a replay
 * of the window under it changes no allow of the current set into a deny, and `check-access`
 * proves it grants nothing the current set does not.
 */
import type { AuditRecord } from '../audit/audit-record';
import { ACTIONS, type Action } from '../policy/actions';
import type { Policy } from '../policy/model';
import { coversSubtree, globProblem, matchPath, type PathGlob } from '../policy/path-glob';
import type { CompiledPolicy } from '../policy/policy-index';
import { checkAccess } from './check-access';
import { AnalysisTooLargeError, NotAnalyzableError } from './request-classes';
import { decisionSnapshot, replayRecords, Replayer, type ReplayReport, type ResourceLike } from './replay';

export interface ReviewInput {
  readonly records: readonly AuditRecord[];
  /** The policies in force (`gateway review` reads them from the gateway). */
  readonly policies: readonly Policy[];
  readonly resources: readonly ResourceLike[];
  readonly from: string;
  readonly to: string;
}

/** Decisions of one time bucket, by outcome. */
export interface TimeBucket {
  readonly start: string;
  readonly allow: number;
  readonly deny: number;
  readonly error: number;
}

export interface PolicyUse {
  readonly id: string;
  readonly effect: 'allow' | 'deny';
  readonly enabled: boolean;
  /** Records naming it among their deciding policies (a SAS caller's: its granting policies). */
  readonly decisions: number;
  readonly lastUse: string | null;
}

/** What an allow policy grants that no request of the window used. */
export interface UnusedGrant {
  readonly id: string;
  readonly actions: readonly Action[];
  /** Globs no allowed request matched. */
  readonly paths: readonly string[];
}

/** One policy's line in the suggestion. */
export interface SuggestedChange {
  readonly id: string;
  readonly change: 'remove' | 'narrow' | 'keep';
  readonly actions?: { readonly from: readonly string[]; readonly to: readonly string[] };
  readonly paths?: { readonly from: readonly string[]; readonly to: readonly string[] };
  readonly why: string;
}

export interface Suggestion {
  /** The whole suggested set (kept, narrowed; removed ones left out), or none when it failed its checks. */
  readonly policies?: readonly Policy[];
  readonly changes: readonly SuggestedChange[];
  /** The checks it passed (or the one it failed, in `withheld`). */
  readonly checks: {
    /** Replay of the window under the suggestion, against the current set's decisions. */
    readonly replay: Pick<ReplayReport, 'unchanged' | 'allowToDeny' | 'denyToAllow' | 'notReplayable'>;
    /** `check-access` against the current set: kinds of request it allows that the current set does not. */
    readonly newAccess: number | null;
  };
  /** Why no suggestion is shown. */
  readonly withheld?: string;
}

export interface SeenCaller {
  readonly id: string;
  readonly requests: number;
}

export interface ReviewReport {
  readonly from: string;
  readonly to: string;
  readonly records: number;
  readonly outcomes: { readonly allow: number; readonly deny: number; readonly error: number };
  readonly bucketSeconds: number;
  readonly timeline: readonly TimeBucket[];
  readonly denyReasons: readonly { readonly reasonCode: string; readonly count: number }[];
  readonly policies: readonly PolicyUse[];
  readonly neverUsed: readonly string[];
  readonly unusedGrants: readonly UnusedGrant[];
  readonly callers: {
    readonly clients: readonly SeenCaller[];
    readonly tenants: readonly SeenCaller[];
    readonly users: { readonly distinct: number; readonly top: readonly SeenCaller[] };
  };
  readonly suggestion: Suggestion;
  /** The window replayed under the suggestion, against what was recorded: the flips a reader sees. */
  readonly replay: ReplayReport;
}

const TOP = 10;
/** Bucket sizes the timeline picks from, smallest first: the first giving at most 60 buckets. */
const BUCKETS = [60, 300, 900, 3600, 6 * 3600, 86_400, 7 * 86_400];

/** One allowed request, as an allow policy's use: a path, or a token exchange's subtree. */
interface Use {
  readonly actions: readonly Action[];
  readonly segments: readonly string[];
  readonly subtree: boolean;
  readonly claims: Readonly<Record<string, unknown>>;
}

/** The review of a window. */
export function review(input: ReviewInput): ReviewReport {
  const { records, policies, resources, from, to } = input;
  const window = { from, to };
  const current = new Replayer(decisionSnapshot(policies, resources));

  // What happened: outcomes, time, reasons, callers, and each policy's part in it, as recorded.
  const outcomes = { allow: 0, deny: 0, error: 0 };
  const fromMs = Date.parse(from);
  const span = Math.max(1, (Date.parse(to) - fromMs) / 1000);
  const bucketSeconds = BUCKETS.find((size) => span / size <= 60) ?? BUCKETS[BUCKETS.length - 1]!;
  const timeline: { allow: number; deny: number; error: number }[] = Array.from(
    { length: Math.ceil(span / bucketSeconds) },
    () => ({ allow: 0, deny: 0, error: 0 }),
  );
  const denyReasons = new Map<string, number>();
  const clients = new Map<string, number>();
  const tenants = new Map<string, number>();
  const users = new Map<string, number>();
  const used = new Map<string, { decisions: number; last: number }>();
  // Policies a record named that the replay cannot speak for: their grants are not narrowed.
  const unreplayedUse = new Map<string, number>();
  const uses = new Map<string, Use[]>();

  for (const record of records) {
    outcomes[record.decision]++;
    const bucket = Math.floor((record.ts - fromMs) / 1000 / bucketSeconds);
    const slot = timeline[Math.min(Math.max(bucket, 0), timeline.length - 1)];
    if (slot) slot[record.decision]++;
    if (record.decision === 'deny') count(denyReasons, record.reasonCode);
    if (record.azp !== null) count(clients, record.azp);
    if (record.tid !== null) count(tenants, record.tid);
    if (record.oid !== null) count(users, record.oid);
    // An admin's what-if is a question about another caller, not a use.
    const policiesUsed = record.reasonCode.startsWith('WHAT_IF:') ? [] : record.policies;
    for (const id of policiesUsed) {
      const use = used.get(id) ?? { decisions: 0, last: 0 };
      use.decisions++;
      use.last = Math.max(use.last, record.ts);
      used.set(id, use);
    }
    // What the current set allows of it, and by which policies: the uses narrowing keeps.
    const replayed = current.replay(record);
    if (replayed.kind === 'replayed') {
      if (!replayed.now.allowed) continue;
      const use = useOf(record);
      if (use === undefined) continue;
      for (const id of replayed.now.policies) {
        const list = uses.get(id);
        if (list) list.push(use);
        else uses.set(id, [use]);
      }
    } else if (replayed.kind === 'not-replayable' && record.decision === 'allow') {
      for (const id of record.policies) count(unreplayedUse, id);
    }
  }

  const compiled = [...current.snapshot.index.byId.values()];
  const policyUse: PolicyUse[] = compiled.map((p) => {
    const use = used.get(p.id);
    return {
      id: p.id,
      effect: p.effect,
      enabled: p.enabled,
      decisions: use?.decisions ?? 0,
      lastUse: use === undefined ? null : new Date(use.last).toISOString(),
    };
  });

  const changes: SuggestedChange[] = [];
  const unusedGrants: UnusedGrant[] = [];
  const suggested: Policy[] = [];
  for (const policy of compiled) {
    const change = narrow(policy, uses.get(policy.id) ?? [], unreplayedUse.get(policy.id) ?? 0);
    changes.push(change.change);
    if (change.unused) unusedGrants.push(change.unused);
    if (change.policy) suggested.push(change.policy);
  }

  const suggestion = checkSuggestion(input, current, suggested, changes);
  const replay = replayRecords(
    records,
    new Replayer(decisionSnapshot(suggestion.policies ?? policies, resources)),
    window,
  );
  return {
    ...window,
    records: records.length,
    outcomes,
    bucketSeconds,
    timeline: timeline.map((slot, i) => ({
      start: new Date(fromMs + i * bucketSeconds * 1000).toISOString(),
      ...slot,
    })),
    denyReasons: top(denyReasons).map(({ id, requests }) => ({ reasonCode: id, count: requests })),
    policies: policyUse,
    neverUsed: policyUse.filter((p) => p.decisions === 0).map((p) => p.id),
    unusedGrants,
    callers: {
      clients: top(clients),
      tenants: top(tenants),
      users: { distinct: users.size, top: top(users) },
    },
    suggestion,
    replay,
  };
}

function count(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

function top(map: Map<string, number>): SeenCaller[] {
  return [...map]
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .slice(0, TOP)
    .map(([id, requests]) => ({ id, requests }));
}

/** The use a recorded request makes of the policies that allow it. */
function useOf(record: AuditRecord): Use | undefined {
  const { action, path, inputs } = record;
  if (action === null || path === null || !inputs) return undefined;
  const segments = path === '/' ? [] : path.slice(1).split('/');
  return {
    actions: action.split(' ') as Action[],
    segments,
    subtree: record.operation === 'token',
    claims: inputs.claims,
  };
}

const orderOfActions = (actions: Iterable<Action>) => ACTIONS.filter((a) => new Set(actions).has(a));

/**
 * One policy's suggestion: removed when it allowed nothing in the window, its actions and paths
 * narrowed to what was used, or kept (denies, disabled policies, and allows whose use the
 * replay cannot see in full).
 */
function narrow(
  compiled: CompiledPolicy,
  uses: readonly Use[],
  unreplayed: number,
): { change: SuggestedChange; policy?: Policy; unused?: UnusedGrant } {
  const { policy } = compiled;
  const keep = (why: string) => ({ change: { id: policy.id, change: 'keep' as const, why }, policy });
  if (policy.effect === 'deny') return keep('a deny: narrowing or removing it could only add access');
  if (!policy.enabled) return keep('disabled: it grants nothing');
  if (unreplayed > 0)
    return keep(
      `${unreplayed} request(s) it allowed cannot be replayed (calls on a SAS token it granted, records without inputs), so its use is not known in full`,
    );

  const granted = policy.actions.includes('*') ? [...ACTIONS] : (policy.actions as Action[]);
  const usedActions = orderOfActions(uses.flatMap((u) => u.actions));
  const byGlob = compiled.globs.map((glob) => ({ glob, uses: [] as Use[] }));
  for (const use of uses) {
    const matching = byGlob.filter(({ glob }) =>
      use.subtree ? coversSubtree(glob, use.segments, use.claims) : matchPath(glob, use.segments, use.claims),
    );
    if (matching.length === 0)
      return keep('a request it allowed is granted by its globs together, not by one');
    for (const m of matching) m.uses.push(use);
  }
  const unusedPaths = byGlob.filter((g) => g.uses.length === 0).map((g) => g.glob.source);
  const unusedActions = granted.filter((a) => !usedActions.includes(a));
  const unused =
    unusedPaths.length > 0 || unusedActions.length > 0
      ? { id: policy.id, actions: unusedActions, paths: unusedPaths }
      : undefined;
  if (uses.length === 0) {
    return {
      change: { id: policy.id, change: 'remove', why: 'it allowed no request in the window' },
      unused,
    };
  }
  const paths = [
    ...new Set(byGlob.filter((g) => g.uses.length > 0).map((g) => narrowGlob(g.glob, g.uses))),
  ].sort();
  const actions = usedActions.length === granted.length && policy.actions.includes('*') ? ['*'] : usedActions;
  const samePaths = paths.length === policy.paths.length && paths.every((p) => policy.paths.includes(p));
  const sameActions =
    actions.length === policy.actions.length && actions.every((a) => policy.actions.includes(a as Action));
  if (samePaths && sameActions) return { ...keep('every action and path it grants was used'), unused };
  return {
    change: {
      id: policy.id,
      change: 'narrow',
      ...(sameActions ? {} : { actions: { from: policy.actions, to: actions } }),
      ...(samePaths ? {} : { paths: { from: policy.paths, to: paths } }),
      why: 'narrowed to the actions and paths requests used',
    },
    policy: { ...policy, actions: actions as Policy['actions'], paths },
    unused,
  };
}

/**
 * The narrowest glob inside `glob` that still matches (or, for a token exchange, covers) each
 * use: a `*` every use fills with one value becomes that value; a trailing `**` becomes the
 * segments the uses share, then `*` per position when every use has the same depth (and is a
 * request, not a subtree), else `**`. Always a subset of `glob`; a glob whose `**` is not its
 * last segment is kept as it is.
 */
export function narrowGlob(glob: PathGlob, uses: readonly Pick<Use, 'segments' | 'subtree'>[]): string {
  const { tokens } = glob;
  const star = tokens.findIndex((t) => t.kind === 'globstar');
  if (star !== -1 && star !== tokens.length - 1) return glob.source;
  const fixed = star === -1 ? tokens.length : star;
  const out: string[] = [];
  const single = (values: readonly string[]) =>
    values.every((v) => v === values[0]) && literalSegment(values[0]!) ? values[0] : undefined;
  for (let i = 0; i < fixed; i++) {
    const token = tokens[i]!;
    if (token.kind === 'literal') out.push(token.value);
    else if (token.kind === 'claim') out.push(`{claims.${token.claim}}`);
    else out.push(single(uses.map((u) => u.segments[i]!)) ?? '*');
  }
  if (star !== -1) {
    const tails = uses.map((u) => u.segments.slice(fixed));
    const depth = tails[0]!.length;
    if (uses.every((u) => !u.subtree) && tails.every((t) => t.length === depth)) {
      for (let j = 0; j < depth; j++) out.push(single(tails.map((t) => t[j]!)) ?? '*');
    } else {
      for (let j = 0; tails.every((t) => t.length > j); j++) {
        const value = single(tails.map((t) => t[j]!));
        if (value === undefined) break;
        out.push(value);
      }
      out.push('**');
    }
  }
  const narrowed = `/${out.join('/')}`;
  return globProblem(narrowed) === undefined ? narrowed : glob.source;
}

/** A value that reads as itself in a glob: not a wildcard or a placeholder. */
function literalSegment(value: string): boolean {
  return value !== '*' && value !== '**' && !value.startsWith('{') && globProblem(`/${value}`) === undefined;
}

/** The suggestion, once checked; withheld (with why) when a check fails or cannot be made. */
function checkSuggestion(
  input: ReviewInput,
  current: Replayer,
  suggested: readonly Policy[],
  changes: readonly SuggestedChange[],
): Suggestion {
  const window = { from: input.from, to: input.to };
  const candidate = new Replayer(decisionSnapshot(suggested, input.resources));
  const replay = replayRecords(input.records, candidate, window, current);
  const checks = {
    replay: {
      unchanged: replay.unchanged,
      allowToDeny: replay.allowToDeny,
      denyToAllow: replay.denyToAllow,
      notReplayable: replay.notReplayable,
    },
  };
  if (replay.allowToDeny > 0) {
    return {
      changes,
      checks: { ...checks, newAccess: null },
      withheld: `a replay of the window under it denies ${replay.allowToDeny} request(s) the current set allows`,
    };
  }
  try {
    const report = checkAccess({
      candidate: suggested,
      baseline: input.policies,
      resources: input.resources.map((r) => r.name),
    });
    if (report.newAccess.length > 0) {
      return {
        changes,
        checks: { ...checks, newAccess: report.newAccess.length },
        withheld: `check-access finds ${report.newAccess.length} kind(s) of new access in it`,
      };
    }
    return { policies: suggested, changes, checks: { ...checks, newAccess: 0 } };
  } catch (err) {
    if (!(err instanceof AnalysisTooLargeError) && !(err instanceof NotAnalyzableError)) throw err;
    return {
      changes,
      checks: { ...checks, newAccess: null },
      withheld: `check-access cannot prove it grants no new access: ${err.message}`,
    };
  }
}
