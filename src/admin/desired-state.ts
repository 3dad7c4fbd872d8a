/**
 * A desired state: the `{ resources: [...], policies: [...] }` file `gateway apply` reads (YAML or
 * JSON), its offline validation with the gateway's own schemas, and its application through the
 * admin API. Used by the CLI (src/cli/main.ts) and by the local stack's demo seeding.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { AdminApiError, GatewayUnreachableError, type AdminClient } from './admin-client';
import { executePlan, planChanges, type DesiredState, type PlannedChange } from './apply';
import { DOCUMENT_KIND_ORDER, KIND_RULES } from './document-kinds';

/** Bad input: a file or field the user must fix (the CLI's exit 2). */
export class InputError extends Error {
  override name = 'InputError';
}

/** Parses the text of a `{ resources: [...], policies: [...] }` document (YAML, or JSON, which YAML reads too). */
export function parseDesiredState(text: string, source: string): DesiredState {
  let data: unknown;
  try {
    data = parseYaml(text) as unknown;
  } catch (err) {
    throw new InputError(
      `${source}: not YAML or JSON (${err instanceof Error ? err.message.split('\n')[0] : ''})`,
    );
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new InputError(`${source}: expected an object with "resources" and/or "policies" lists`);
  }
  const { resources = [], policies = [], ...rest } = data as Record<string, unknown>;
  const unknown = Object.keys(rest)[0];
  if (unknown !== undefined) throw new InputError(`${source}: unknown top-level key "${unknown}"`);
  if (!Array.isArray(resources) || !Array.isArray(policies)) {
    throw new InputError(`${source}: "resources" and "policies" must be lists`);
  }
  return {
    resources: resources as Record<string, unknown>[],
    policies: policies as Record<string, unknown>[],
  };
}

/** Reads a YAML or JSON file of `{ resources: [...], policies: [...] }`. */
export function readDesiredState(file: string): DesiredState {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new InputError(`${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  return parseDesiredState(text, file);
}

/**
 * Every document of a desired state checked as the gateway checks it (its own schemas): the first
 * problem of each invalid one, as `file: kind[index] (id) field: why`. Empty when all are valid.
 */
export function validateDesiredState(desired: DesiredState, source: string): string[] {
  const problems: string[] = [];
  for (const kind of DOCUMENT_KIND_ORDER) {
    desired[kind].forEach((doc, i) => {
      const invalid = KIND_RULES[kind].invalid(doc);
      const id = doc[KIND_RULES[kind].idField];
      if (invalid)
        problems.push(`${source}: ${kind}[${i}]${typeof id === 'string' ? ` (${id})` : ''} ${invalid.error}`);
    });
  }
  return problems;
}

/** Reads a file and validates every document of it; bad input (exit 2) names each problem. */
export function readValidDesiredState(file: string): DesiredState {
  const desired = readDesiredState(file);
  const problems = validateDesiredState(desired, file);
  if (problems.length > 0) throw new InputError(problems.join('\n'));
  return desired;
}

/** Plans (and unless `dryRun`, applies) a desired state through the admin API. */
export async function applyDesiredState(
  client: AdminClient,
  desired: DesiredState,
  options: { prune: boolean; dryRun: boolean },
): Promise<PlannedChange[]> {
  const plan = await planDesiredState(client, desired, options.prune);
  if (!options.dryRun) {
    const result = await executePlan(client, plan);
    if (!result.ok) throw result.error!;
  }
  return plan;
}

/** What applying a desired state would change, read from the admin API (nothing is written). */
export async function planDesiredState(
  client: AdminClient,
  desired: DesiredState,
  prune: boolean,
): Promise<PlannedChange[]> {
  const plan: PlannedChange[] = [];
  for (const kind of DOCUMENT_KIND_ORDER) {
    try {
      plan.push(...planChanges(kind, desired[kind], await client.list(kind), KIND_RULES[kind], prune));
    } catch (err) {
      if (err instanceof AdminApiError || err instanceof GatewayUnreachableError) throw err;
      throw new InputError(err instanceof Error ? err.message : String(err));
    }
  }
  return plan;
}
