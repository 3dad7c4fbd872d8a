/**
 * The checks that run before any crypto: size, JWS compact shape, header and the `ver` claim.
 * They are cheap, and they decide which metadata and which key a token needs.
 */
import { GatewayError } from '../../errors';
import { ENTRA_DEFAULTS } from './entra-defaults';

/** Entra's access token versions: v1 (`sts.windows.net` issuer, App ID URI audience) and v2. */
export type EntraTokenVersion = '1.0' | '2.0';

/** A token that passed the shape checks: not yet trusted in any way. */
export interface TokenShape {
  readonly header: Readonly<Record<string, unknown>>;
  /** Unverified claims: only `ver` may be used before the signature is checked. */
  readonly unverifiedPayload: Readonly<Record<string, unknown>>;
  readonly kid: string;
  readonly version: EntraTokenVersion;
}

const BASE64URL_SEGMENT = /^[A-Za-z0-9_-]+$/;

/**
 * Parses a compact JWS far enough to pick its key and metadata, refusing anything that is not
 * an RS256 Entra access token.
 *
 * @throws {GatewayError} `ERR_TOKEN_TOO_LARGE`, `ERR_TOKEN_MALFORMED`, `ERR_TOKEN_ALGORITHM`,
 *   `ERR_TOKEN_VERSION`.
 */
export function parseTokenShape(token: string, maxBytes: number = ENTRA_DEFAULTS.maxTokenBytes): TokenShape {
  // Length in UTF-16 units is a lower bound of the byte length; any non-ASCII fails the
  // base64url check below anyway.
  if (token.length > maxBytes) throw new GatewayError('ERR_TOKEN_TOO_LARGE');
  const segments = token.split('.');
  if (segments.length !== 3) throw malformed('expected three dot-separated segments');
  const [headerSegment, payloadSegment, signatureSegment] = segments as [string, string, string];
  if (!BASE64URL_SEGMENT.test(headerSegment) || !BASE64URL_SEGMENT.test(payloadSegment)) {
    throw malformed('a segment is not base64url');
  }
  const header = decodeJsonObject(headerSegment, 'header');
  const payload = decodeJsonObject(payloadSegment, 'payload');

  // Pinned: exactly RS256. "none", HMAC (keyed with our public key: the classic confusion
  // attack), and every other RSA/EC/PSS variant are refused before a key is ever looked at.
  if (header.alg !== 'RS256') throw new GatewayError('ERR_TOKEN_ALGORITHM');
  // Entra never sets `crit`; a token that asks us to understand extensions we do not know must fail.
  if (header.crit !== undefined) throw malformed('the "crit" header is not supported');
  // `jku`, `x5u` and `jwk` are deliberately never read: keys come only from the metadata's jwks_uri.
  if (typeof header.kid !== 'string' || header.kid.length === 0 || header.kid.length > 256) {
    throw malformed('the header has no "kid"');
  }
  // Both versions carry `ver`; without it we cannot tell which issuer and keys apply.
  const version = payload.ver;
  if (version !== '1.0' && version !== '2.0') throw new GatewayError('ERR_TOKEN_VERSION');
  // Checked after `alg`, so an unsigned `alg: none` token reports the algorithm, its real fault.
  if (!BASE64URL_SEGMENT.test(signatureSegment)) throw malformed('the signature is missing or not base64url');
  return { header, unverifiedPayload: payload, kid: header.kid, version };
}

function decodeJsonObject(segment: string, part: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
  } catch (err) {
    throw malformed(`the ${part} is not JSON`, err);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw malformed(`the ${part} is not a JSON object`);
  }
  return value as Record<string, unknown>;
}

function malformed(reason: string, cause?: unknown): GatewayError {
  return new GatewayError('ERR_TOKEN_MALFORMED', `The token is not a well-formed JWT: ${reason}`, { cause });
}
