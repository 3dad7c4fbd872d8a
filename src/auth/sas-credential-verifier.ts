/**
 * The gateway's SAS verifier: format, key, signature and time (src/sas/sas-token.ts), plus what
 * only the gateway knows: the token is not revoked, and every policy in `spi` still exists and is
 * enabled (deleting or disabling a granting policy revokes what it granted, as an Azure stored
 * access policy does). Credential in, `Principal` of kind `sas` out. The authenticate stage
 * (src/auth/authenticate.ts) calls it for every `SharedAccessSignature` and `DPoP` credential.
 *
 * The scope check is not here: the authorize stage (src/decision/authorize.ts) holds a SAS caller
 * to its grant for every route, so each route says what an out-of-scope request gets.
 */
import type { CredentialVerifier } from './authenticate';
import type { Principal } from './principal';
import { nowSeconds, type Clock } from '../clock';
import { GatewayError } from '../errors';
import { isPolicyActive } from '../policy/policy-index';
import type { PolicySnapshot } from '../state/policy-state';
import type { RevocationList } from '../revocation/revocation-list';
import type { HmacKeyRing } from '../sas/hmac-key-ring';
import {
  checkSasTime,
  grantOf,
  parseSasToken,
  sasError,
  verifySasSignature,
  type SasGrant,
} from '../sas/sas-token';

/** What the verifier reads of the gateway's state. */
export interface SasVerifierState {
  snapshot(): PolicySnapshot;
  readonly revocations: Pick<RevocationList, 'loaded' | 'match'>;
}

export interface SasCredentialVerifierOptions {
  readonly keys: HmacKeyRing;
  readonly clock: Clock;
  /** Tolerance on `st` (`ENTRA_CLOCK_SKEW_SECONDS`); never applied to `se`. */
  readonly skewSeconds: number;
  readonly state: SasVerifierState;
}

/** A principal of kind `sas`, with its grant. */
type SasPrincipal = Principal & { readonly sas: SasGrant };

/**
 * Most verified tokens kept. Measured: ~1.3 KB of heap a token (its text and its principal), so
 * at most ~5 MB; a token that no longer fits costs one more verification (~10 µs), nothing else.
 */
export const VERIFIED_CACHE_SIZE = 4096;

/**
 * Verifies `SharedAccessSignature` credentials for the authenticate stage.
 *
 * @example
 * ```ts
 * const principal = gateway.sas.verifySync(token); // then authorize() holds it to its grant
 * ```
 */
export class SasCredentialVerifier implements CredentialVerifier {
  /**
   * Tokens whose format and signature were verified, with the principal they carry. Why: a client
   * presents one token for many calls, and parsing plus HMAC was most of a proxied call's
   * verification; what can change while a token lives (time, revocations, `spi` policies) is
   * still checked on every call. Only signed tokens get in, so a caller cannot fill it with junk;
   * bounded (cleared when full), and the key ring is fixed for the process's life.
   */
  private readonly verified = new Map<string, SasPrincipal>();

  constructor(private readonly options: SasCredentialVerifierOptions) {}

  /** {@link verifySync} as the authenticate stage's async interface. */
  verify(token: string): Promise<Principal> {
    return new Promise((resolve) => resolve(this.verifySync(token)));
  }

  /**
   * Verifies a SAS token: format, known key, signature, time, revocation, `spi` still active.
   * Cheap checks first and no HMAC before the format is known good.
   *
   * @throws {GatewayError} 401 `ERR_SAS_INVALID`, `ERR_SAS_EXPIRED`, `ERR_SAS_NOT_YET_VALID`,
   *   `ERR_SAS_REVOKED` (with a `SharedAccessSignature` challenge); 503
   *   `ERR_POLICY_STORE_UNAVAILABLE` when policies or revocations never loaded (fail closed).
   */
  verifySync(token: string): Principal {
    const { clock, skewSeconds, state } = this.options;
    const principal = this.verified.get(token) ?? this.verifySignature(token);
    const grant = principal.sas;
    checkSasTime({ st: grant.issuedAt, se: grant.expiresAt }, nowSeconds(clock), skewSeconds);
    if (!state.revocations.loaded) {
      throw new GatewayError('ERR_POLICY_STORE_UNAVAILABLE', 'Revocations are not loaded; failing closed');
    }
    if (state.revocations.match(grant.sid, grant.oid, grant.issuedAt) !== undefined)
      throw sasError('ERR_SAS_REVOKED');
    const { index } = state.snapshot();
    const versions = grant.policyVersions;
    for (let i = 0; i < grant.policies.length; i++) {
      if (!isPolicyActive(index, grant.policies[i]!, versions[i]!)) {
        throw new GatewayError(
          'ERR_SAS_REVOKED',
          'A policy that granted this token was changed, disabled or deleted',
          { challenge: ['SharedAccessSignature'] },
        );
      }
    }
    return principal;
  }

  /**
   * Parses and checks the signature (no HMAC before the format is known good), then caches the
   * principal. Frozen all the way down: every later call with the token shares it.
   */
  private verifySignature(token: string): SasPrincipal {
    const parsed = parseSasToken(token);
    verifySasSignature(parsed, this.options.keys);
    const grant = grantOf(parsed);
    const sas: SasGrant = Object.freeze({
      ...grant,
      pathPrefix: Object.freeze([...grant.pathPrefix]),
      actions: Object.freeze([...grant.actions]),
      policies: Object.freeze([...grant.policies]),
      policyVersions: Object.freeze([...grant.policyVersions]),
    });
    const principal: SasPrincipal = Object.freeze({
      kind: 'sas',
      oid: sas.oid,
      tid: sas.tid,
      azp: sas.azp,
      roles: Object.freeze([]),
      scopes: Object.freeze([]),
      groups: Object.freeze([]),
      groupsOverage: false,
      idtyp: 'user',
      expiresAt: sas.expiresAt,
      claims: Object.freeze({ oid: sas.oid, tid: sas.tid, azp: sas.azp, sid: sas.sid }),
      sas,
    });
    if (this.verified.size >= VERIFIED_CACHE_SIZE) this.verified.clear();
    this.verified.set(token, principal);
    return principal;
  }
}
