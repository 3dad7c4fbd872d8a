/**
 * `gateway check-access` (docs/policy-analysis.md): does a candidate policy set grant any access
 * a baseline does not, does it keep the operator's assertions, and which of its policies can never
 * match or add nothing. Exact: every kind of request the sets can tell apart
 * (request-classes.ts) is decided, under both sets, by the gateway's own decision
 * (`evaluatePolicies` on `subjectFromClaims`), and nothing else decides anything here.
 */
import { ACTIONS, type Action } from '../policy/actions';
import { evaluatePolicies, type Decision } from '../policy/evaluate';
import type { Policy } from '../policy/model';
import { compilePolicies, type PolicyIndex } from '../policy/policy-index';
import { subjectFromClaims, type PolicySubject } from '../policy/subject';
import {
  appliesTo,
  DEFAULT_BOUNDS,
  forEachRequestClass,
  resourcesOf,
  type ClassBounds,
  type RequestClass,
} from './request-classes';

/** One concrete request, as the decision API's what-if asks it. */
export interface AccessExample {
  readonly resource: string;
  readonly action: Action;
  readonly path: string;
  readonly principal: Readonly<Record<string, unknown>>;
  /** The request comes with a DPoP proof (a token exchange binding the token to a key). */
  readonly dpop?: true;
  /** The policies that allow it (under the candidate). */
  readonly allowedBy: readonly string[];
}

/** An operator's assertion: nobody outside `allowOnly` is allowed anything in this scope. */
export interface AccessAssertion {
  readonly id: string;
  readonly resource: string;
  readonly actions: readonly (Action | '*')[];
  readonly paths: readonly string[];
  readonly allowOnly: NonNullable<Policy['principals']>;
}

export interface AssertionResult {
  readonly id: string;
  readonly proven: boolean;
  /** A request in scope allowed to a caller outside `allowOnly`, when refuted. */
  readonly example?: AccessExample;
}

export interface DeadPolicy {
  readonly id: string;
  readonly reason: 'disabled' | 'never matches' | 'always overridden by a deny';
  /** For a shadowed allow: a request it matches, and the denies that win there. */
  readonly example?: AccessExample & { readonly deniedBy: readonly string[] };
}

export interface RedundantPolicy {
  readonly id: string;
  /** Allows that grant with it wherever it grants (one request's worth, as an example). */
  readonly alsoAllowedBy: readonly string[];
}

export interface CheckAccessReport {
  /** One example per kind of new access (resource, action, allowing policies). */
  readonly newAccess: readonly AccessExample[];
  /** Whether a baseline was compared at all. */
  readonly compared: boolean;
  readonly assertions: readonly AssertionResult[];
  readonly deadPolicies: readonly DeadPolicy[];
  readonly redundantPolicies: readonly RedundantPolicy[];
  /** Request kinds decided. */
  readonly classes: number;
}

export interface CheckAccessInput {
  readonly candidate: readonly Policy[];
  /** Undefined: no comparison (assertions and dead policies only). */
  readonly baseline?: readonly Policy[];
  readonly assertions?: readonly AccessAssertion[];
  /** Resources the files declare, beyond those their policies name. */
  readonly resources?: readonly string[];
  readonly bounds?: ClassBounds;
}

/**
 * The subject the gateway makes of a request kind's token. Kinds that differ only in their path
 * share one claims object: their subject is made once (and the evaluator's view of it kept).
 */
const subjects = new WeakMap<object, { plain?: PolicySubject; bound?: PolicySubject }>();
function subjectOf(request: RequestClass): PolicySubject {
  let cached = subjects.get(request.claims);
  if (cached === undefined) subjects.set(request.claims, (cached = {}));
  if (request.dpopBound) return (cached.bound ??= { ...subjectFromClaims(request.claims), dpopBound: true });
  return (cached.plain ??= subjectFromClaims(request.claims));
}

function decide(index: PolicyIndex, request: RequestClass, subject: PolicySubject): Decision {
  return evaluatePolicies(index, {
    resource: request.resource,
    action: request.action,
    path: request.path,
    principal: subject,
  });
}

function example(request: RequestClass, allowedBy: readonly string[]): AccessExample {
  return {
    resource: request.resource,
    action: request.action,
    path: `/${request.path.join('/')}`,
    principal: request.claims,
    ...(request.dpopBound ? { dpop: true as const } : {}),
    allowedBy,
  };
}

/** The allow-only principals as an allow policy, so that the gateway's own test says who is inside. */
function insidePolicy(assertion: AccessAssertion): Policy {
  return {
    id: `assert:${assertion.id}`,
    effect: 'allow',
    resource: '*',
    actions: ['*'],
    paths: ['/**'],
    principals: assertion.allowOnly,
    enabled: true,
  };
}

/**
 * Runs the analysis. Throws `AnalysisTooLargeError` or `NotAnalyzableError`
 * (src/analysis/request-classes.ts) rather than answer past its bound.
 */
export function checkAccess(input: CheckAccessInput): CheckAccessReport {
  const bounds = input.bounds ?? DEFAULT_BOUNDS;
  const candidate = compilePolicies(input.candidate);
  const baseline = input.baseline === undefined ? undefined : compilePolicies(input.baseline);
  const assertions = input.assertions ?? [];
  const insiders = new Map(assertions.map((a) => [a.id, compilePolicies([insidePolicy(a)])]));
  // Whether a request's path is in an assertion's scope, by the gateway's own glob match.
  const inPaths = new Map(
    assertions.map((a) => [
      a.id,
      compilePolicies([{ ...insidePolicy(a), principals: undefined, paths: [...a.paths] }]),
    ]),
  );
  const all = [...input.candidate, ...(input.baseline ?? [])];

  const newAccess = new Map<string, AccessExample>();
  const refuted = new Map<string, AccessExample>();
  /** Allows seen deciding an allowed request, and whether ever alone. */
  const granted = new Map<string, { alone: boolean; with: readonly string[] }>();
  let classes = 0;

  /**
   * What one resource and action gave, kept by the policies and assertions that apply to it: a
   * bucket with the same ones is decided the same (only its name differs), so it is not walked
   * again; its examples are renamed.
   */
  interface BucketResult {
    readonly newAccess: Map<string, AccessExample>;
    readonly refuted: Map<string, AccessExample>;
    readonly granted: Map<string, { alone: boolean; with: readonly string[] }>;
  }
  const done = new Map<string, BucketResult>();

  const resources = resourcesOf(all, [...(input.resources ?? []), ...assertions.map((a) => a.resource)]);
  for (const resource of resources) {
    for (const action of ACTIONS) {
      // No allow of the candidate here: it denies every request of the bucket (dead denies are
      // found apart, below), so there is nothing to find.
      if (!input.candidate.some((p) => p.enabled && p.effect === 'allow' && appliesTo(p, resource, action)))
        continue;
      const inScope = assertions.filter(
        (a) =>
          (a.resource === resource || a.resource === '*') &&
          (a.actions.includes('*') || a.actions.includes(action)),
      );
      const key = JSON.stringify([
        all.filter((p) => appliesTo(p, resource, action)).map((p) => [p.id, p.effect]),
        baseline === undefined,
        inScope.map((a) => a.id),
      ]);
      let bucket = done.get(key);
      if (bucket === undefined) {
        const result: BucketResult = { newAccess: new Map(), refuted: new Map(), granted: new Map() };
        classes += forEachRequestClass(
          [...all, ...inScope.map(insidePolicy)],
          { resource, action, extraGlobs: inScope.flatMap((a) => a.paths) },
          (request) => {
            const subject = subjectOf(request);
            const now = decide(candidate, request, subject);
            if (!now.allowed) return;
            for (const id of now.policies) {
              const seen = result.granted.get(id);
              if (seen === undefined)
                result.granted.set(id, { alone: now.policies.length === 1, with: now.policies });
              else if (now.policies.length === 1) result.granted.set(id, { alone: true, with: now.policies });
            }
            if (baseline !== undefined && !decide(baseline, request, subject).allowed) {
              const kind = now.policies.join(',');
              if (!result.newAccess.has(kind)) result.newAccess.set(kind, example(request, now.policies));
            }
            for (const assertion of inScope) {
              if (result.refuted.has(assertion.id)) continue;
              if (!decide(inPaths.get(assertion.id)!, request, subject).allowed) continue;
              if (!decide(insiders.get(assertion.id)!, request, subject).allowed)
                result.refuted.set(assertion.id, example(request, now.policies));
            }
          },
          bounds,
        );
        done.set(key, (bucket = result));
      }
      const renamed = (e: AccessExample): AccessExample => ({ ...e, resource, action });
      for (const [kind, e] of bucket.newAccess) {
        const k = `${resource} ${action} ${kind}`;
        if (!newAccess.has(k)) newAccess.set(k, renamed(e));
      }
      for (const [id, e] of bucket.refuted) if (!refuted.has(id)) refuted.set(id, renamed(e));
      for (const [id, g] of bucket.granted) {
        const seen = granted.get(id);
        if (seen === undefined || (!seen.alone && g.alone)) granted.set(id, g);
      }
    }
  }

  return {
    newAccess: [...newAccess.values()],
    compared: baseline !== undefined,
    assertions: assertions.map((a) => {
      const found = refuted.get(a.id);
      return found === undefined ? { id: a.id, proven: true } : { id: a.id, proven: false, example: found };
    }),
    deadPolicies: deadPolicies(input.candidate, granted, bounds, input.resources ?? []),
    redundantPolicies: [...granted]
      .filter(([, g]) => !g.alone)
      .map(([id, g]) => ({ id, alsoAllowedBy: g.with.filter((other) => other !== id) }))
      .sort((a, b) => (a.id < b.id ? -1 : 1)),
    classes,
  };
}

/** Whether a policy, alone, decides some request by itself (the gateway's own decision says). */
function matchesSomewhere(policy: Policy, bounds: ClassBounds, resources: readonly string[]): boolean {
  const alone = compilePolicies([policy]);
  for (const resource of resourcesOf([policy], resources)) {
    for (const action of ACTIONS) {
      if (!appliesTo(policy, resource, action)) continue;
      let found = false;
      forEachRequestClass(
        [policy],
        { resource, action },
        (request) => (found = decide(alone, request, subjectOf(request)).policies.length > 0),
        bounds,
      );
      if (found) return true;
    }
  }
  return false;
}

/**
 * The candidate's policies that never take part in a decision: disabled ones; denies that never
 * deny; allows that never allow, told apart by whether they match anything at all (each checked
 * alone, with the gateway's own decision) or only where a deny wins.
 */
function deadPolicies(
  policies: readonly Policy[],
  granted: ReadonlyMap<string, unknown>,
  bounds: ClassBounds,
  resources: readonly string[],
): DeadPolicy[] {
  const dead: DeadPolicy[] = [];
  const denies = policies.filter((p) => p.effect === 'deny' && p.enabled);
  for (const policy of [...policies].sort((a, b) => (a.id < b.id ? -1 : 1))) {
    if (!policy.enabled) {
      dead.push({ id: policy.id, reason: 'disabled' });
      continue;
    }
    if (policy.effect === 'deny') {
      // A deny that applies is named by every decision it takes part in: does it apply anywhere?
      if (!matchesSomewhere(policy, bounds, resources)) dead.push({ id: policy.id, reason: 'never matches' });
      continue;
    }
    if (granted.has(policy.id)) continue;
    // Alone, does it match anything? Then the denies are why it never grants.
    const alone = compilePolicies([policy]);
    const withDenies = compilePolicies([policy, ...denies]);
    let shadow: DeadPolicy['example'];
    for (const resource of resourcesOf([policy, ...denies], resources)) {
      for (const action of ACTIONS) {
        if (shadow !== undefined) break;
        forEachRequestClass(
          [policy, ...denies],
          { resource, action },
          (request) => {
            const subject = subjectOf(request);
            if (!decide(alone, request, subject).allowed) return false;
            shadow = {
              ...example(request, [policy.id]),
              deniedBy: decide(withDenies, request, subject).policies,
            };
            return true;
          },
          bounds,
        );
      }
    }
    dead.push(
      shadow === undefined
        ? { id: policy.id, reason: 'never matches' }
        : { id: policy.id, reason: 'always overridden by a deny', example: shadow },
    );
  }
  return dead;
}
