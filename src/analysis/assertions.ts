/**
 * Assertion files for `gateway check-access --assert FILE` (docs/policy-analysis.md): a YAML or
 * JSON list of `{id, resource, actions, paths, allowOnly}`, each meaning "no request in this
 * scope is allowed to a caller outside `allowOnly`". Validated with the policy schema's own
 * parts (resource names, actions, globs, principal lists), so a typo is refused, never read as
 * a weaker assertion.
 */
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { describeIssue } from '../http/validation';
import { ACTIONS } from '../policy/actions';
import { POLICY_ID_PATTERN, policySchema, principalsSchema } from '../policy/model';
import type { AccessAssertion } from './check-access';

const assertionSchema = z.strictObject({
  id: z.string().regex(POLICY_ID_PATTERN, 'must be 1 to 128 of A-Z a-z 0-9 . _ : -'),
  resource: policySchema.shape.resource,
  actions: z
    .array(z.enum([...ACTIONS, '*']))
    .min(1)
    .max(ACTIONS.length + 1),
  paths: policySchema.shape.paths,
  allowOnly: principalsSchema.refine((p) => Object.keys(p).length > 0, 'must name at least one list'),
});

const assertionsSchema = z.array(assertionSchema).max(1000);

/** The assertions of a file's text, or the problem (`source: [index] (id) field: why`). */
export function parseAssertions(text: string, source: string): AccessAssertion[] | string {
  let data: unknown;
  try {
    data = parseYaml(text) as unknown;
  } catch (err) {
    return `${source}: not YAML or JSON (${err instanceof Error ? err.message.split('\n')[0] : ''})`;
  }
  const parsed = assertionsSchema.safeParse(data);
  if (parsed.success) {
    const ids = new Set<string>();
    for (const a of parsed.data) {
      if (ids.has(a.id)) return `${source}: assertion "${a.id}" is listed twice`;
      ids.add(a.id);
    }
    return parsed.data;
  }
  const { field, problem } = describeIssue(parsed.error);
  const index = /^\[(\d+)\]/.exec(field)?.[1];
  const id = index === undefined ? undefined : (data as { id?: unknown }[])[Number(index)]?.id;
  return `${source}: ${field || '(file)'}${typeof id === 'string' ? ` (${id})` : ''}: ${problem}`;
}
