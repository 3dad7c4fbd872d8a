/**
 * The gateway's DPoP check (RFC 9449): a request's `DPoP` header verified as a proof for this
 * request, its `jti` used once across every instance. Used by `/api/token` (binding a new token)
 * and by the authenticate stage (`Authorization: DPoP <token>`).
 */
import { nowSeconds, type Clock } from '../clock';
import { GatewayError, type ErrorCode } from '../errors';
import type { Logger } from '../logger';
import { DpopProofError, verifyDpopProof, type VerifiedProof } from './dpop-proof';
import { replayKey, type ReplayStore } from './replay-store';

/** How old a proof may be, before clock skew: a proof is made for one request, just before it. */
export const DPOP_PROOF_MAX_AGE_SECONDS = 60;

/** The request a proof is checked against. */
export interface ProofRequest {
  readonly method: string;
  /** The URLs the request may be named by in `htu` (as reached; as published under `GATEWAY_ISSUER`). */
  readonly urls: readonly string[];
  /** With `Authorization: DPoP <token>`: the token, whose hash `ath` must be. */
  readonly accessToken?: string;
}

export interface DpopVerifierOptions {
  readonly clock: Clock;
  readonly replay: ReplayStore;
  readonly skewSeconds: number;
  readonly logger: Logger;
}

/** The two places a proof is checked, and the codes each reports. */
export type ProofUse = 'token' | 'resource';

const CODES: Record<ProofUse, { invalid: ErrorCode; replayed: ErrorCode }> = {
  token: { invalid: 'ERR_TOKEN_DPOP_PROOF_INVALID', replayed: 'ERR_TOKEN_DPOP_PROOF_INVALID' },
  resource: { invalid: 'ERR_DPOP_PROOF_INVALID', replayed: 'ERR_DPOP_PROOF_REPLAYED' },
};

export class DpopVerifier {
  constructor(private readonly options: DpopVerifierOptions) {}

  /**
   * Verifies the `DPoP` header of a request.
   *
   * @throws {GatewayError} on `/api/token`: 400 `ERR_TOKEN_DPOP_PROOF_INVALID`
   *   (`invalid_dpop_proof`); elsewhere 401 `ERR_DPOP_PROOF_INVALID` or `ERR_DPOP_PROOF_REPLAYED`
   *   with a `DPoP error="invalid_dpop_proof"` challenge; 503 `ERR_STORE_UNAVAILABLE` when the
   *   replay store does not answer (fail closed).
   */
  async verify(header: string | null, request: ProofRequest, use: ProofUse): Promise<VerifiedProof> {
    const codes = CODES[use];
    const refuse = (code: ErrorCode, why: string) =>
      new GatewayError(code, `DPoP proof refused: ${why}`, { challenge: ['DPoP'] });
    if (header === null || header === '') throw refuse(codes.invalid, 'the request has no DPoP header');
    // Headers joins repeated fields with ", ": a JWS holds no comma or space.
    if (header.includes(',')) throw refuse(codes.invalid, 'the request has more than one DPoP header');
    let proof: VerifiedProof;
    try {
      proof = verifyDpopProof(header, {
        method: request.method,
        urls: request.urls,
        ...(request.accessToken === undefined ? {} : { accessToken: request.accessToken }),
        now: nowSeconds(this.options.clock),
        maxAgeSeconds: DPOP_PROOF_MAX_AGE_SECONDS,
        skewSeconds: this.options.skewSeconds,
      });
    } catch (err) {
      if (err instanceof DpopProofError) throw refuse(codes.invalid, err.message);
      throw err;
    }
    let first: boolean;
    try {
      first = await this.options.replay.firstUse(replayKey(proof.jkt, proof.jti), proof.expiresAt);
    } catch (err) {
      this.options.logger.log('error', 'dpop.replay_store_failed', { error: String(err) });
      throw new GatewayError('ERR_STORE_UNAVAILABLE', 'The DPoP replay store did not answer', { cause: err });
    }
    if (!first) throw refuse(codes.replayed, 'this proof was used before ("jti")');
    return proof;
  }
}
