/**
 * The downstream verifier: what a Node downstream behind the gateway imports to check who is
 * calling. The gateway's `x-gateway-principal` statement is a standard JWT (ES256) verified
 * through the gateway's published JWKS: no secret of the gateway's is needed, and none is given.
 * SAS tokens are the gateway's own business; downstreams never verify them.
 *
 * docs/downstream-trust.md shows the same check in C#, Python and Java.
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
