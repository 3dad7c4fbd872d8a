import type { z } from 'zod';
import { GatewayError } from '../errors';
import { issueField } from '../policy/model';

/** Turns a zod error into a 400 `ERR_VALIDATION` naming the field at fault (`paths[2]: ...`). */
export function validationError(error: z.ZodError): GatewayError {
  const issue = error.issues[0];
  const field = issue ? issueField(issue) : '';
  const problem =
    issue?.code === 'unrecognized_keys' ? 'unknown field' : (issue?.message ?? 'failed validation');
  return new GatewayError('ERR_VALIDATION', `${field || '(body)'}: ${problem}`, {
    extensions: { field: field || null },
  });
}
