/**
 * The authenticate stage: an `Authorization` header in, a {@link Principal} out. It only parses
 * the header and dispatches on the scheme; each credential kind has its own verifier.
 */
import { GatewayError, type ChallengeScheme } from '../errors';
import { parseAuthorizationHeader, type ParsedAuthorization } from '../http/authorization-header';
import type { Principal } from './principal';

/** Verifies one kind of credential. */
export interface CredentialVerifier {
  verify(credential: string): Promise<Principal>;
}

/**
 * The verifiers the gateway has. `sas` is the extension point for `SharedAccessSignature`
 * credentials (docs/reference.md §6): absent, that scheme is refused like any unknown one.
 */
export interface CredentialVerifiers {
  readonly entra: CredentialVerifier;
  readonly sas?: CredentialVerifier;
  /**
   * `DPoP` credentials (RFC 9449): a DPoP-bound SAS token with its proof, which this verifier
   * reads from the request it was made for. Absent, the scheme is refused like an unknown one.
   */
  readonly dpop?: CredentialVerifier;
}

/**
 * Authenticates a request from its `Authorization` header with the matching verifier.
 *
 * @example
 * ```ts
 * const principal = await authenticate(request.headers.get('authorization'), { entra: validator });
 * ```
 * @throws {GatewayError} 401 for a missing, unsupported or invalid credential (with the schemes
 *   this gateway accepts as the challenge); 503 when the identity provider was never reachable.
 */
export async function authenticate(
  authorization: string | null,
  verifiers: CredentialVerifiers,
): Promise<Principal> {
  const accepted: ChallengeScheme[] = ['Bearer'];
  if (verifiers.sas) accepted.push('SharedAccessSignature');
  if (verifiers.dpop) accepted.push('DPoP');
  let parsed: ParsedAuthorization;
  try {
    parsed = parseAuthorizationHeader(authorization);
  } catch (err) {
    if (err instanceof GatewayError && err.code !== 'ERR_TOKEN_MALFORMED') {
      throw new GatewayError(err.code, err.message, { challenge: accepted });
    }
    throw err;
  }
  if (parsed.scheme === 'Bearer') return verifiers.entra.verify(parsed.credential);
  const verifier = parsed.scheme === 'DPoP' ? verifiers.dpop : verifiers.sas;
  if (!verifier) throw new GatewayError('ERR_CREDENTIAL_SCHEME', undefined, { challenge: accepted });
  const principal = await verifier.verify(parsed.credential);
  if (parsed.scheme === 'SharedAccessSignature' && principal.sas?.jkt !== undefined) {
    // RFC 9449 section 7.2: a bound token is never accepted as a bearer token.
    throw new GatewayError(
      'ERR_DPOP_BINDING',
      'This token is bound to a DPoP key: send it as "Authorization: DPoP" with a proof of that key',
      { challenge: ['DPoP'] },
    );
  }
  return principal;
}
