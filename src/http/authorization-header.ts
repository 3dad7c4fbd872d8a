/**
 * The `Authorization` request header: scheme and credential, strictly parsed. Read by the
 * authenticate stage (src/auth/authenticate.ts) and by the token endpoint's JSON mode
 * (src/sas/token-request.ts), which takes its subject token from the header.
 */
import { GatewayError } from '../errors';

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
