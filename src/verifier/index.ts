/**
 * The downstream verifier: what an Azure Function behind the gateway imports to check the
 * credentials the gateway issues, with no dependency beyond `node:crypto`.
 *
 * - {@link verifySasToken}: a `SharedAccessSignature` token (format, signature, time, scope);
 * - {@link verifyPrincipalStatement}: the proxy's `x-gateway-principal` header;
 * - {@link createPrincipalStatement}: what the gateway's proxy calls to produce that header.
 *
 * docs/sas-token.md describes both formats byte for byte.
 */
export {
  HmacKeyRing,
  KEY_NAME_PATTERN,
  MIN_SECRET_BYTES,
  type HmacKey,
  type SigningKeyInput,
} from './hmac-key-ring';
export {
  createPrincipalStatement,
  MAX_STATEMENT_TTL_SECONDS,
  verifyPrincipalStatement,
  type PrincipalClaims,
  type PrincipalStatement,
  type VerifyPrincipalStatementOptions,
} from './principal-statement';
export {
  assertSasScope,
  checkSasScope,
  requestPathSegments,
  sasActionForMethod,
  type SasScope,
  type SasScopeRequest,
  type SasScopeResult,
} from './sas-scope';
export {
  MAX_SAS_TOKEN_LENGTH,
  parseSasToken,
  SAS_ACTIONS,
  SAS_SIGNED_FIELDS,
  SAS_VERSION,
  sasStringToSign,
  type ParsedSasToken,
  type SasAction,
  type SasTokenFields,
} from './sas-token';
export {
  parseSigningKeys,
  verifySasToken,
  type SasGrant,
  type VerifySasTokenOptions,
} from './verify-sas-token';
export { VERIFIER_ERROR_STATUS, VerifierError, type VerifierErrorCode } from './verifier-error';
