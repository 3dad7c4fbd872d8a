/**
 * `gateway replay` (docs/policy-analysis.md): the decisions the audit trail recorded, made again
 * under a candidate policy set. Each record keeps what the policies read of its caller
 * (`AuditInputs`, src/audit/audit-record.ts); {@link Replayer} turns those back into the subject
 * the policies saw and asks the gateway's own decision ({@link authorize}), so a replayed
 * decision is the decision the gateway would make for that request under the candidate. Nothing
 * here decides anything itself.
 *
 * A record is replayed only when it holds everything the candidate's policies for its resource
 * read; otherwise it is "not replayable", with why, never decided on a value it does not have.
 */
import type { AuditInputs, AuditRecord } from '../audit/audit-record';
import { authorize, type Authorization, type Caller, type DecisionSnapshot } from '../decision/authorize';
import { isAction, type Action } from '../policy/actions';
import type { Policy, Resource } from '../policy/model';
import { compilePolicies } from '../policy/policy-index';
import type { PolicySubject } from '../policy/subject';

/** Why a record was not decided again (docs/policy-analysis.md lists each). */
export type NotReplayableReason =
  /** Recorded without its inputs: before the gateway kept them, or with `AUDIT_DECISION_INPUTS=false`. */
  | 'no-inputs'
  /** A SAS caller, held to its token's grant; the exchange that issued it is replayed instead. */
  | 'sas-grant'
  /** The candidate reads a claim no policy read when the record was made. */
  | 'claims-not-recorded'
  /** The candidate reads a claim whose value was past the record's bound. */
  | 'claims-too-large'
  /** The candidate tests groups, and the caller had more than the record keeps. */
  | 'groups-capped'
  /** The record does not hold a request the gateway could have decided (edited or corrupt). */
  | 'malformed';

/** Records that are not decisions at all: counted, never replayed. */
export type SkippedReason = 'not-a-decision' | 'what-if';

/** One record, decided again. */
export type Replayed =
  | { readonly kind: 'skipped'; readonly reason: SkippedReason }
  | { readonly kind: 'not-replayable'; readonly reason: NotReplayableReason; readonly detail?: string }
  | {
      readonly kind: 'replayed';
      /** The decision recorded (or the baseline's, when one is given). */
      readonly was: 'allow' | 'deny';
      readonly now: Authorization;
    };

/** Evaluator reasons, and the route codes a policy decision becomes (docs/errors.md). */
const DECISION_REASONS = new Set([
  'ALLOWED',
  'EXPLICIT_DENY',
  'GROUPS_OVERAGE',
  'NO_MATCHING_POLICY',
  'INVALID_PATH',
  'UNKNOWN_ACTION',
  'UNKNOWN_RESOURCE',
  'DPOP_REQUIRED',
  'AUTH_CONTEXT_REQUIRED',
  'ERR_AUTH_CONTEXT_REQUIRED',
  'ERR_POLICY_DENIED',
  'ERR_SCOPE_INVALID',
  'ERR_DPOP_REQUIRED',
  'ERR_TOKEN_DPOP_REQUIRED',
]);
const DECIDED_OPERATIONS = new Set(['authorize', 'proxy', 'token']);

/** What the policies for one resource read: the claims, and whether any tests groups. */
interface Reads {
  readonly claims: readonly string[];
  readonly groups: boolean;
}

/** The resources a decision needs: by name, with `requireDpop`. */
export type ResourceLike = { readonly name: string } & Pick<Resource, 'requireDpop' | 'authContext'>;

/** A snapshot to decide under, from validated policies and the resources they are for. */
export function decisionSnapshot(
  policies: Iterable<Policy>,
  resources: Iterable<ResourceLike>,
): DecisionSnapshot {
  const byName = new Map<string, Pick<Resource, 'requireDpop' | 'authContext'>>();
  for (const resource of resources) byName.set(resource.name, resource);
  return { index: compilePolicies(policies), resources: byName };
}

/**
 * The DPoP key a recorded token exchange was bound to: only its presence is known, and only its
 * presence is read (a `requireDpop` policy or resource).
 */
const RECORDED_KEY = 'recorded';

/** Decides recorded requests again under one snapshot. */
export class Replayer {
  private readonly reads = new Map<string, Reads>();
  /**
   * The last caller made for each (oid, tid, azp), reused while its inputs are the same. Why: the
   * evaluator prepares each caller once (its GUID forms, its keys in the index; a WeakMap by
   * caller object), and traffic comes from far fewer callers than requests, so a new object per
   * record would redo that preparation for every record. Same inputs, same caller: the decision
   * cannot differ.
   */
  private readonly callers = new Map<string | null, CachedCaller>();

  constructor(readonly snapshot: DecisionSnapshot) {}

  /** What the enabled policies that can decide requests on `resource` read. */
  private readsOf(resource: string): Reads {
    let reads = this.reads.get(resource);
    if (reads === undefined) {
      const claims = new Set<string>();
      let groups = false;
      for (const policy of this.snapshot.index.byId.values()) {
        if (!policy.enabled || (policy.policy.resource !== resource && policy.policy.resource !== '*'))
          continue;
        for (const claim of policy.claimsRead) claims.add(claim);
        groups ||= policy.testsGroups;
      }
      reads = { claims: [...claims], groups };
      this.reads.set(resource, reads);
    }
    return reads;
  }

  /**
   * One record decided again. `baseline`: compare with that snapshot's decision instead of the
   * recorded one (what `gateway review` checks its suggestion against).
   */
  replay(record: AuditRecord, baseline?: Replayer): Replayed {
    const inputs = record.inputs ?? undefined;
    if (!DECIDED_OPERATIONS.has(record.operation)) return { kind: 'skipped', reason: 'not-a-decision' };
    if (record.reasonCode.startsWith('WHAT_IF:')) return { kind: 'skipped', reason: 'what-if' };
    if (inputs === undefined) {
      if (record.credential === 'sas' && DECISION_REASONS.has(record.reasonCode))
        return { kind: 'not-replayable', reason: 'sas-grant' };
      return record.credential === 'entra' && DECISION_REASONS.has(record.reasonCode)
        ? { kind: 'not-replayable', reason: 'no-inputs' }
        : { kind: 'skipped', reason: 'not-a-decision' };
    }
    const query = queryOf(record);
    if (query === undefined) return { kind: 'not-replayable', reason: 'malformed' };
    const missing = this.missing(query.resource, inputs);
    if (missing !== undefined) return missing;
    const caller = this.callerOf(record, inputs);
    const now = authorize(this.snapshot, caller, query);
    if (baseline === undefined) return { kind: 'replayed', was: inputs.decided, now };
    const before = baseline.missing(query.resource, inputs);
    if (before !== undefined) return before;
    return { kind: 'replayed', was: authorize(baseline.snapshot, caller, query).decision, now };
  }

  /** The caller of a record, as the policies saw it: a cached one when its inputs are the same. */
  private callerOf(record: AuditRecord, inputs: AuditInputs): Caller {
    const cached = this.callers.get(record.oid);
    if (
      cached !== undefined &&
      cached.tid === record.tid &&
      cached.azp === record.azp &&
      sameInputs(cached.inputs, inputs)
    ) {
      return cached.caller;
    }
    const caller = callerOf(record, inputs);
    if (this.callers.size >= CALLER_CACHE_SIZE) this.callers.clear();
    this.callers.set(record.oid, { tid: record.tid, azp: record.azp, inputs, caller });
    return caller;
  }

  /** Why `inputs` do not hold what this snapshot's policies for `resource` read, if they do not. */
  private missing(resource: string, inputs: AuditInputs): Replayed | undefined {
    const reads = this.readsOf(resource);
    if (reads.groups && inputs.groupsCapped === true)
      return { kind: 'not-replayable', reason: 'groups-capped' };
    for (const claim of reads.claims) {
      if (Object.hasOwn(inputs.claims, claim)) continue;
      return {
        kind: 'not-replayable',
        reason: inputs.unrecorded?.includes(claim) === true ? 'claims-too-large' : 'claims-not-recorded',
        detail: claim,
      };
    }
    return undefined;
  }
}

/** The request a record is about: one action on a path, or (a token exchange) actions on a subtree. */
function queryOf(
  record: AuditRecord,
):
  | { resource: string; action: Action; path: string }
  | { resource: string; actions: Action[]; subtree: string[] }
  | undefined {
  const { resource, action, path } = record;
  if (resource === null || action === null || path === null || !path.startsWith('/')) return undefined;
  if (record.operation !== 'token') return isAction(action) ? { resource, action, path } : undefined;
  const actions = action.split(' ');
  if (!actions.every(isAction)) return undefined;
  return { resource, actions, subtree: path === '/' ? [] : path.slice(1).split('/') };
}

/** Callers kept by {@link Replayer}, by oid: cleared when full, so memory stays bounded. */
const CALLER_CACHE_SIZE = 50_000;

interface CachedCaller {
  readonly tid: string | null;
  readonly azp: string | null;
  readonly inputs: AuditInputs;
  readonly caller: Caller;
}

function sameList(a: readonly unknown[] | undefined, b: readonly unknown[] | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A claim value as kept: a scalar, `null`, a list of scalars or `{}` (src/audit/audit-record.ts). */
function sameClaim(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) || Array.isArray(b)) return Array.isArray(a) && Array.isArray(b) && sameList(a, b);
  return typeof a === 'object' && typeof b === 'object' && a !== null && b !== null;
}

/** Whether two records' inputs make the same caller (their decisions and reasons aside). */
function sameInputs(a: AuditInputs, b: AuditInputs): boolean {
  if (
    a.idtyp !== b.idtyp ||
    a.dpop !== b.dpop ||
    a.groupsOverage !== b.groupsOverage ||
    !sameList(a.roles, b.roles) ||
    !sameList(a.scopes, b.scopes) ||
    !sameList(a.groups, b.groups)
  ) {
    return false;
  }
  let names = 0;
  for (const name in a.claims) {
    if (!Object.hasOwn(b.claims, name) || !sameClaim(a.claims[name], b.claims[name])) return false;
    names++;
  }
  for (const name in b.claims) if (Object.hasOwn(b.claims, name)) names--;
  return names === 0;
}

/** The caller as the policies saw it when the record was made. */
function callerOf(record: AuditRecord, inputs: AuditInputs): Caller {
  const subject: PolicySubject = {
    oid: record.oid ?? undefined,
    tid: record.tid ?? '',
    azp: record.azp ?? undefined,
    roles: inputs.roles,
    scopes: inputs.scopes,
    groups: inputs.groups ?? [],
    groupsOverage: inputs.groupsOverage === true,
    claims: inputs.claims,
  };
  return inputs.dpop === true ? { ...subject, jkt: RECORDED_KEY } : subject;
}

/** One example of a change, as `gateway replay` shows it. */
export interface ReplayExample {
  readonly time: string;
  readonly correlationId: string;
  readonly operation: string;
  readonly caller: { readonly oid: string | null; readonly tid: string | null; readonly azp: string | null };
  readonly resource: string | null;
  readonly action: string | null;
  readonly path: string | null;
  readonly was: { readonly decision: string; readonly policies: readonly string[] };
  /** Replayed: the decision now and the policies that make it. */
  readonly now?: {
    readonly decision: string;
    readonly reasonCode: string;
    readonly policies: readonly string[];
  };
  /** Not replayable: why (and the claim, when one is missing). */
  readonly why?: string;
}

export interface ReplayReport {
  readonly from: string;
  readonly to: string;
  /** Records read. */
  readonly records: number;
  readonly unchanged: number;
  readonly allowToDeny: number;
  readonly denyToAllow: number;
  readonly notReplayable: {
    readonly total: number;
    readonly reasons: Partial<Record<NotReplayableReason, number>>;
  };
  readonly skipped: Partial<Record<SkippedReason, number>>;
  /** Up to {@link EXAMPLES} of each, one per request kind (operation, resource, action, policies). */
  readonly examples: {
    readonly allowToDeny: readonly ReplayExample[];
    readonly denyToAllow: readonly ReplayExample[];
    readonly notReplayable: readonly ReplayExample[];
  };
  /** Seconds spent deciding (reading excluded). */
  readonly decideSeconds: number;
}

/** Examples kept per kind of change. */
export const EXAMPLES = 10;

/** Adds up replayed records into a {@link ReplayReport}. */
export class ReplayTally {
  private records = 0;
  private unchanged = 0;
  private allowToDeny = 0;
  private denyToAllow = 0;
  private notReplayable = 0;
  private readonly reasons: Partial<Record<NotReplayableReason, number>> = {};
  private readonly skipped: Partial<Record<SkippedReason, number>> = {};
  private readonly examples = {
    allowToDeny: new Map<string, ReplayExample>(),
    denyToAllow: new Map<string, ReplayExample>(),
    notReplayable: new Map<string, ReplayExample>(),
  };
  decideSeconds = 0;

  add(record: AuditRecord, replayed: Replayed): void {
    this.records++;
    if (replayed.kind === 'skipped') {
      this.skipped[replayed.reason] = (this.skipped[replayed.reason] ?? 0) + 1;
      return;
    }
    if (replayed.kind === 'not-replayable') {
      this.notReplayable++;
      this.reasons[replayed.reason] = (this.reasons[replayed.reason] ?? 0) + 1;
      const why = replayed.detail === undefined ? replayed.reason : `${replayed.reason}: ${replayed.detail}`;
      this.example('notReplayable', record, why, { why });
      return;
    }
    if (replayed.was === replayed.now.decision) {
      this.unchanged++;
      return;
    }
    const change = replayed.was === 'allow' ? 'allowToDeny' : 'denyToAllow';
    this[change]++;
    const now = {
      decision: replayed.now.decision,
      reasonCode: replayed.now.reasonCode,
      policies: replayed.now.policies,
    };
    this.example(change, record, now.policies.join(',') + now.reasonCode, { now });
  }

  private example(
    kind: keyof ReplayTally['examples'],
    record: AuditRecord,
    key: string,
    extra: Pick<ReplayExample, 'now' | 'why'>,
  ): void {
    const examples = this.examples[kind];
    const id = `${record.operation} ${record.resource} ${record.action} ${key}`;
    if (examples.size >= EXAMPLES || examples.has(id)) return;
    examples.set(id, {
      time: record.time,
      correlationId: record.correlationId,
      operation: record.operation,
      caller: { oid: record.oid, tid: record.tid, azp: record.azp },
      resource: record.resource,
      action: record.action,
      path: record.path,
      was: { decision: record.inputs?.decided ?? record.decision, policies: record.policies },
      ...extra,
    });
  }

  report(window: { readonly from: string; readonly to: string }): ReplayReport {
    return {
      ...window,
      records: this.records,
      unchanged: this.unchanged,
      allowToDeny: this.allowToDeny,
      denyToAllow: this.denyToAllow,
      notReplayable: { total: this.notReplayable, reasons: this.reasons },
      skipped: this.skipped,
      examples: {
        allowToDeny: [...this.examples.allowToDeny.values()],
        denyToAllow: [...this.examples.denyToAllow.values()],
        notReplayable: [...this.examples.notReplayable.values()],
      },
      decideSeconds: this.decideSeconds,
    };
  }
}

/** Replays records under `candidate` (against `baseline`'s decisions instead of the recorded ones, when given). */
export function replayRecords(
  records: Iterable<AuditRecord>,
  candidate: Replayer,
  window: { readonly from: string; readonly to: string },
  baseline?: Replayer,
): ReplayReport {
  const tally = new ReplayTally();
  const started = process.hrtime.bigint();
  for (const record of records) tally.add(record, candidate.replay(record, baseline));
  tally.decideSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  return tally.report(window);
}
