import { isDeepStrictEqual } from 'node:util';
import type { AdminClient } from './admin-client';
import type { DocumentKindName, KindRules } from './document-kinds';

/** The declarative file `gateway apply` reads: every resource and policy that should exist. */
export interface DesiredState {
  readonly resources: readonly Record<string, unknown>[];
  readonly policies: readonly Record<string, unknown>[];
}

export type ChangeKind = 'create' | 'update' | 'delete' | 'unchanged';

export interface PlannedChange {
  readonly kind: DocumentKindName;
  readonly id: string;
  readonly change: ChangeKind;
  readonly doc?: Record<string, unknown>;
}

/** What happened to one planned change when it was applied. */
export type ChangeOutcome = 'done' | 'failed' | 'not attempted';

function idOf(doc: Record<string, unknown>, field: string): string {
  const id = doc[field];
  if (typeof id !== 'string' || id.length === 0) throw new Error(`every entry needs a string "${field}"`);
  return id;
}

/**
 * Computes what `apply` would do: create what is missing, update what differs (compared in
 * canonical form, so a file that omits defaults is still "unchanged"), and with `prune` delete
 * what the file no longer lists.
 */
export function planChanges(
  kind: DocumentKindName,
  desired: readonly Record<string, unknown>[],
  current: readonly Record<string, unknown>[],
  rules: KindRules,
  prune: boolean,
): PlannedChange[] {
  const existing = new Map(current.map((doc) => [idOf(doc, rules.idField), doc]));
  const seen = new Set<string>();
  const plan: PlannedChange[] = [];
  for (const doc of desired) {
    const id = idOf(doc, rules.idField);
    if (seen.has(id)) throw new Error(`${kind}: "${id}" is listed twice`);
    seen.add(id);
    const now = existing.get(id);
    const change: ChangeKind =
      now === undefined
        ? 'create'
        : isDeepStrictEqual(rules.canonical(now), rules.canonical(doc))
          ? 'unchanged'
          : 'update';
    plan.push({ kind, id, change, doc });
  }
  if (prune) {
    for (const id of existing.keys()) if (!seen.has(id)) plan.push({ kind, id, change: 'delete' });
  }
  return plan;
}

/** The order a plan is applied in: resources before the policies that name them, and policies pruned before the resources they name. */
export function applicationOrder(plan: readonly PlannedChange[]): PlannedChange[] {
  const order = (c: PlannedChange) =>
    c.change === 'delete' ? (c.kind === 'policies' ? 2 : 3) : c.kind === 'resources' ? 0 : 1;
  return [...plan].filter((c) => c.change !== 'unchanged').sort((a, b) => order(a) - order(b));
}

/**
 * Applies a plan in {@link applicationOrder}, telling `progress` each change's outcome as it
 * happens. Stops at the first failure: that change is `failed` (with the error), the ones after
 * it `not attempted`, so the caller can say exactly which part of the file is in force.
 */
export async function executePlan(
  client: AdminClient,
  plan: readonly PlannedChange[],
  progress: (change: PlannedChange, outcome: ChangeOutcome, error?: Error) => void = () => undefined,
): Promise<{ ok: boolean; error?: Error }> {
  const ordered = applicationOrder(plan);
  for (let i = 0; i < ordered.length; i++) {
    const change = ordered[i]!;
    try {
      if (change.change === 'delete') await client.remove(change.kind, change.id);
      else await client.put(change.kind, change.id, change.doc);
      progress(change, 'done');
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      progress(change, 'failed', error);
      for (const rest of ordered.slice(i + 1)) progress(rest, 'not attempted');
      return { ok: false, error };
    }
  }
  return { ok: true };
}

/** One line per change, `+` create, `~` update, `-` delete; unchanged entries are counted. */
export function describePlan(plan: readonly PlannedChange[]): string {
  const symbol: Record<ChangeKind, string> = { create: '+', update: '~', delete: '-', unchanged: '=' };
  const lines = plan
    .filter((c) => c.change !== 'unchanged')
    .map((c) => `${symbol[c.change]} ${c.kind}/${c.id}`);
  const unchanged = plan.filter((c) => c.change === 'unchanged').length;
  lines.push(`${lines.length} change(s), ${unchanged} unchanged`);
  return lines.join('\n');
}
