/**
 * The one error type of the downstream verifier. Its codes are the gateway's own (docs/errors.md),
 * so a downstream function and the gateway report a bad credential the same way.
 */

/** Stable codes a verification can fail with. */
export type VerifierErrorCode = 'ERR_PRINCIPAL_STATEMENT_INVALID' | 'ERR_PRINCIPAL_STATEMENT_EXPIRED';

/** HTTP status a downstream should answer with for each code (the gateway's mapping). */
export const VERIFIER_ERROR_STATUS: Readonly<Record<VerifierErrorCode, 401 | 403>> = {
  ERR_PRINCIPAL_STATEMENT_INVALID: 401,
  ERR_PRINCIPAL_STATEMENT_EXPIRED: 401,
};

/**
 * A credential that did not verify. `message` is safe to log but says no more than the code;
 * never put the credential itself in a log line.
 *
 * @example
 * ```ts
 * try { caller = await verify(request.headers.get('x-gateway-principal') ?? ''); }
 * catch (err) { if (err instanceof VerifierError) return { status: err.status, jsonBody: { code: err.code } }; throw err; }
 * ```
 */
export class VerifierError extends Error {
  readonly code: VerifierErrorCode;
  readonly status: 401 | 403;

  constructor(code: VerifierErrorCode, message: string) {
    super(message);
    this.name = 'VerifierError';
    this.code = code;
    this.status = VERIFIER_ERROR_STATUS[code];
  }
}
