import { isGatewayError } from '../../src/errors';

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
