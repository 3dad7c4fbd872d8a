import type { z } from 'zod';
import { GatewayError } from '../errors';

/**
 * The field a zod issue is about, as `paths[2]` or `conditions[0].values`; `''` for the whole
 * document. An unknown field names itself (`principals.role`), not its parent.
 */
function issueField(issue: z.core.$ZodIssue): string {
  const path = [...issue.path];
  if (issue.code === 'unrecognized_keys' && issue.keys.length > 0) path.push(issue.keys[0]!);
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i ? '.' : ''}${String(p)}`)).join('');
}

/** The first issue of a zod error: the field at fault (`''`: the whole input) and what is wrong. */
export function describeIssue(error: z.ZodError): { readonly field: string; readonly problem: string } {
  const issue = error.issues[0];
  if (issue === undefined) return { field: '', problem: 'failed validation' };
  return {
    field: issueField(issue),
    problem: issue.code === 'unrecognized_keys' ? 'unknown field' : issue.message,
  };
}

/** Turns a zod error into a 400 `ERR_VALIDATION` naming the field at fault (`paths[2]: ...`). */
export function validationError(error: z.ZodError): GatewayError {
  const { field, problem } = describeIssue(error);
  return new GatewayError('ERR_VALIDATION', `${field || '(body)'}: ${problem}`, {
    extensions: { field: field || null },
  });
}
