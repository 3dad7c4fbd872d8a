/**
 * What every `gateway` command is made of: its context (options, output, the admin client), the
 * option readers, and the policy files the analysis commands read. The command table is in
 * main.ts.
 */
import type { ParseArgsConfig } from 'node:util';
import type { AdminClient } from '../admin/admin-client';
import { InputError as CliInputError, readDesiredState, validateDesiredState } from '../admin/desired-state';
import type { ResourceLike } from '../analysis/replay';
import { parsePolicy, type Policy } from '../policy/model';

/** Where a command writes: lines for people, or one JSON value with `--json`. */
export interface Output {
  readonly json: boolean;
  line(text: string): void;
  value(value: unknown): void;
}

export interface CommandContext {
  readonly values: Record<string, string | boolean | string[] | undefined>;
  readonly positionals: readonly string[];
  readonly out: Output;
  /** The admin client, built on first use (offline commands never need one). */
  readonly client: () => AdminClient;
  /** `--url` or `GATEWAY_URL` was given (not only the default). */
  readonly explicitUrl: boolean;
}

export interface Command {
  readonly summary: string;
  readonly usage: string;
  readonly options: NonNullable<ParseArgsConfig['options']>;
  run(ctx: CommandContext): Promise<number>;
}

export function stringOf(values: CommandContext['values'], name: string): string | undefined {
  const value = values[name];
  return typeof value === 'string' ? value : undefined;
}

export function required(values: CommandContext['values'], name: string): string {
  const value = stringOf(values, name);
  if (value === undefined || value === '') throw new CliInputError(`--${name} is required`);
  return value;
}

/**
 * The policies of a file, each validated (its resources are not: the analysis reads only their
 * names, so a file with `${ORDERS_URL}`-style upstreams, as samples/demo-policies.yaml, is fine).
 */
/** What a decision reads of a resource document (a file's or the gateway's). */
export function resourceLike(doc: Record<string, unknown>): ResourceLike {
  return {
    name: String(doc.name),
    requireDpop: doc.requireDpop === true,
    ...(typeof doc.authContext === 'string' ? { authContext: doc.authContext } : {}),
  };
}

export function readPolicyFile(file: string): { policies: Policy[]; resources: ResourceLike[] } {
  const desired = readDesiredState(file);
  const problems = validateDesiredState({ resources: [], policies: desired.policies }, file);
  if (problems.length > 0) throw new CliInputError(problems.join('\n'));
  return {
    policies: policiesOf(desired.policies, file),
    resources: desired.resources.map(resourceLike),
  };
}

/** Stored or file documents as policies (each already validated: a stored one by the gateway). */
export function policiesOf(docs: readonly Record<string, unknown>[], source: string): Policy[] {
  return docs.map((doc, i) => {
    const parsed = parsePolicy(doc);
    if (!parsed.ok) throw new CliInputError(`${source}: policies[${i}] ${parsed.error}`);
    return parsed.value;
  });
}
