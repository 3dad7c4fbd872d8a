/**
 * OpenID Connect discovery for Entra ID: where the metadata lives, and the two members the
 * gateway takes from it (`issuer`, `jwks_uri`). Neither is ever hard-coded, so sovereign clouds,
 * B2C-like authorities and the dev identity provider all work by changing `ENTRA_AUTHORITY`.
 */
import { parseTrustedUrl } from '../../config/url-rules';
import type { EntraTokenVersion } from './token-shape';

/** The members of an OpenID configuration document the gateway relies on. */
export interface OpenIdMetadata {
  /** May contain the `{tenantid}` placeholder (multi-tenant metadata). */
  readonly issuer: string;
  readonly jwksUri: string;
}

/** Why metadata could not be used: the network, the status, or the document itself. */
export class MetadataError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MetadataError';
  }
}

/**
 * The metadata URL for a tenant and token version, in Entra's layout:
 * `${authority}/${tenant}/v2.0/.well-known/openid-configuration` (v2) and
 * `${authority}/${tenant}/.well-known/openid-configuration` (v1; `common` for `organizations`).
 */
export function openIdMetadataUrl(authority: string, tenant: string, version: EntraTokenVersion): string {
  // Entra has no v1 metadata for `organizations` (it answers AADSTS90002); Microsoft's validators
  // read `/common`'s instead, whose `{tenantid}` issuer serves every tenant alike.
  const segment = version === '1.0' && tenant.toLowerCase() === 'organizations' ? 'common' : tenant;
  const base = `${authority.replace(/\/+$/, '')}/${encodeURIComponent(segment)}`;
  return version === '2.0'
    ? `${base}/v2.0/.well-known/openid-configuration`
    : `${base}/.well-known/openid-configuration`;
}

/**
 * The issuer a token of tenant `tid` must carry: the metadata issuer with Entra's `{tenantid}`
 * placeholder replaced by `tid`. Tenant-specific metadata has no placeholder and is returned as is.
 */
export function expectedIssuer(issuerTemplate: string, tid: string): string {
  return issuerTemplate.replace('{tenantid}', tid);
}

/**
 * Checks a parsed metadata document: `issuer` a string, `jwks_uri` a URL the gateway may call
 * (https, or http on loopback), the same rule as `ENTRA_AUTHORITY` itself, so a tampered or
 * misconfigured document cannot point key loading at plain http.
 */
export function parseOpenIdMetadata(document: unknown): OpenIdMetadata {
  if (typeof document !== 'object' || document === null)
    throw new MetadataError('metadata is not a JSON object');
  const { issuer, jwks_uri: jwksUri } = document as Record<string, unknown>;
  if (typeof issuer !== 'string' || issuer.length === 0) throw new MetadataError('metadata has no "issuer"');
  if (typeof jwksUri !== 'string') throw new MetadataError('metadata has no "jwks_uri"');
  const parsed = parseTrustedUrl(jwksUri);
  if ('problem' in parsed) throw new MetadataError(`metadata "jwks_uri" ${parsed.problem}`);
  return { issuer, jwksUri: parsed.url.href };
}

/** GETs a JSON document with a timeout; any non-2xx, network or JSON failure is a MetadataError. */
export async function fetchJson(fetchImpl: typeof fetch, url: string, timeoutMs: number): Promise<unknown> {
  let response: Response;
  try {
    response = await fetchImpl(url, {
      headers: { accept: 'application/json' },
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    throw new MetadataError(`GET ${url} failed`, { cause: err });
  }
  if (!response.ok) {
    await response.body?.cancel().catch(() => undefined);
    throw new MetadataError(`GET ${url} answered ${response.status}`);
  }
  try {
    return await response.json();
  } catch (err) {
    throw new MetadataError(`GET ${url} did not return JSON`, { cause: err });
  }
}

/** Fetches and checks the OpenID metadata of `tenant` for tokens of `version`. */
export async function fetchOpenIdMetadata(
  fetchImpl: typeof fetch,
  authority: string,
  tenant: string,
  version: EntraTokenVersion,
  timeoutMs: number,
): Promise<OpenIdMetadata> {
  return parseOpenIdMetadata(
    await fetchJson(fetchImpl, openIdMetadataUrl(authority, tenant, version), timeoutMs),
  );
}
