/**
 * The authenticate stage: an `Authorization` header in, a {@link Principal} out. It only parses
 * the header and dispatches on the scheme; each credential kind has its own verifier.
 */
import { GatewayError, type ChallengeScheme } from '../errors';
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

/** A parsed `Authorization` header. */
export interface ParsedAuthorization {
  readonly scheme: 'Bearer' | 'SharedAccessSignature' | 'DPoP';
  readonly credential: string;
}

/** RFC 7235 token68: what a Bearer token (a JWT) is made of. */
const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*$/;
/** A SAS token is a URL query string: anything visible, no spaces. */
const SAS_CREDENTIAL = /^[\x21-\x7e]+$/;

/**
 * Parses `Authorization: <scheme> <credential>`. The scheme is case-insensitive (RFC 7235
 * section 2.1); exactly one space separates it from exactly one credential. Anything looser
 * (several spaces, several credentials, a comma list) is refused rather than guessed at.
 *
 * @throws {GatewayError} `ERR_CREDENTIAL_MISSING` (no or empty header), `ERR_CREDENTIAL_SCHEME`
 *   (a scheme other than Bearer, SharedAccessSignature or DPoP), `ERR_TOKEN_MALFORMED` (a known scheme
 *   with a missing or malformed credential).
 */
export function parseAuthorizationHeader(header: string | null | undefined): ParsedAuthorization {
  if (header === null || header === undefined || header.trim() === '')
    throw new GatewayError('ERR_CREDENTIAL_MISSING');
  const space = header.indexOf(' ');
  const schemeText = (space === -1 ? header : header.slice(0, space)).toLowerCase();
  const credential = space === -1 ? '' : header.slice(space + 1);
  const scheme =
    schemeText === 'bearer'
      ? 'Bearer'
      : schemeText === 'sharedaccesssignature'
        ? 'SharedAccessSignature'
        : schemeText === 'dpop'
          ? 'DPoP'
          : undefined;
  if (scheme === undefined) throw new GatewayError('ERR_CREDENTIAL_SCHEME');
  const shape = scheme === 'Bearer' ? TOKEN68 : SAS_CREDENTIAL;
  if (!shape.test(credential)) {
    throw new GatewayError('ERR_TOKEN_MALFORMED', `The ${scheme} credential is missing or malformed`, {
      challenge: [scheme],
    });
  }
  return { scheme, credential };
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
