/**
 * `entra-functions-gateway-verifier`: what a Node downstream behind the gateway imports to check
 * who is calling. The gateway's `x-gateway-principal` statement is a standard JWT (ES256)
 * verified through the gateway's published JWKS: no secret of the gateway's is needed, and none
 * is given. SAS tokens are the gateway's own business; downstreams never verify them.
 *
 * @example
 * ```ts
 * import { createStatementVerifier } from 'entra-functions-gateway-verifier';
 * const verify = createStatementVerifier({ issuer: process.env.GATEWAY_ISSUER!, audience: 'orders' });
 * const caller = await verify(request.headers.get('x-gateway-principal') ?? '');
 * ```
 */
export {
  createJwksVerifier,
  createStatementVerifier,
  MemoryStatementReplay,
  type JwksVerifier,
  type JwksVerifierOptions,
  type StatementReplayMemory,
  type StatementVerifierOptions,
  type VerifiedStatement,
} from './statement-verifier';
export { VERIFIER_ERROR_STATUS, VerifierError, type VerifierErrorCode } from './verifier-error';
