import { isGatewayError } from '../../src/errors';
import { VerifierError } from '../../packages/verifier/src/verifier-error';

/** The `code` of the GatewayError a promise rejects with, or `resolved`; other errors rethrow. */
export async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    if (isGatewayError(err)) return err.code;
    throw err;
  }
  return 'resolved';
}

/**
 * The `code` of the error a synchronous call throws (a GatewayError, or the downstream
 * verifier's VerifierError), or `ok`; errors without a string code rethrow.
 */
export function codeOfCall(call: () => unknown): string {
  try {
    call();
    return 'ok';
  } catch (err) {
    const code = (err as { code?: unknown } | null)?.code;
    if (isGatewayError(err) || err instanceof VerifierError) return code as string;
    throw err;
  }
}
