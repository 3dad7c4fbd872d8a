/**
 * The dev identity provider's authorization code flow (RFC 6749 section 4.1 with PKCE, RFC 7636),
 * as Entra runs it for a public client (a mobile or desktop app with MSAL): `/authorize` signs in
 * the dev user without a page (there is no one to type a password) and redirects back with a
 * code; `/token` redeems the code once, with the verifier, for the user's access token.
 *
 * A `claims` parameter (an OpenID Connect claims request, what MSAL sends after a claims
 * challenge, docs/step-up.md) may ask for authentication contexts (`access_token.acrs`) and carry
 * the client's capabilities (`access_token.xms_cc`): the token then lists them in `acrs` and
 * `xms_cc`, as Entra's does once the user met the Conditional Access policy of each context.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Clock } from '../../clock';
import { isLoopbackHost } from '../../config/url-rules';
import { AUTH_CONTEXT_PATTERN } from '../../policy/model';

/** What a claims request asks of the access token. */
export interface RequestedClaims {
  readonly acrs: readonly string[];
  readonly capabilities: readonly string[];
}

const NONE: RequestedClaims = { acrs: [], capabilities: [] };

/** The values of one claim request member: `{"value": v}` or `{"values": [...]}` (OpenID Connect 5.5.1). */
function valuesOf(member: unknown): string[] | undefined {
  if (member === null || member === undefined) return [];
  if (typeof member !== 'object' || Array.isArray(member)) return undefined;
  const { value, values } = member as { value?: unknown; values?: unknown };
  if (typeof value === 'string') return [value];
  if (Array.isArray(values) && values.every((v) => typeof v === 'string')) return values;
  return value === undefined && values === undefined ? [] : undefined;
}

/**
 * The authentication contexts and client capabilities a `claims` parameter asks for, or
 * `undefined` when it is not a claims request Entra would take.
 */
export function parseClaimsRequest(text: string | undefined): RequestedClaims | undefined {
  if (text === undefined || text === '') return NONE;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
  const accessToken = (parsed as { access_token?: unknown }).access_token;
  if (accessToken === undefined) return NONE;
  if (typeof accessToken !== 'object' || accessToken === null) return undefined;
  const acrs = valuesOf((accessToken as { acrs?: unknown }).acrs);
  const capabilities = valuesOf((accessToken as { xms_cc?: unknown }).xms_cc);
  if (acrs === undefined || capabilities === undefined || !acrs.every((c) => AUTH_CONTEXT_PATTERN.test(c)))
    return undefined;
  return { acrs, capabilities };
}

/** Both requests' claims together (MSAL sends them on `/authorize` and again on `/token`). */
export function mergeClaims(a: RequestedClaims, b: RequestedClaims): RequestedClaims {
  return {
    acrs: [...new Set([...a.acrs, ...b.acrs])],
    capabilities: [...new Set([...a.capabilities, ...b.capabilities])],
  };
}

/**
 * A redirect URI a public client may use here: loopback `http`, as Entra allows for native
 * apps (RFC 8252 section 7.3). Anything else would make the dev provider an open redirector.
 */
export function isLoopbackRedirect(uri: string): boolean {
  try {
    const url = new URL(uri);
    return (
      (url.protocol === 'http:' || url.protocol === 'https:') &&
      isLoopbackHost(url.hostname) &&
      url.hash === ''
    );
  } catch {
    return false;
  }
}

/** What a code stands for. */
export interface CodeGrant {
  readonly clientId: string;
  readonly redirectUri: string;
  /** The PKCE `code_challenge` (S256). */
  readonly challenge: string;
  readonly scopes: readonly string[];
  readonly claims: RequestedClaims;
  readonly nonce: string | undefined;
}

/** Codes live this long, as Entra's (a few minutes at most). */
const CODE_SECONDS = 300;

/** Issued codes: each redeemed at most once, within its lifetime, with its verifier. */
export class AuthorizationCodes {
  private readonly codes = new Map<string, CodeGrant & { readonly expiresAt: number }>();

  constructor(private readonly clock: Clock) {}

  issue(grant: CodeGrant): string {
    const now = this.clock.now();
    for (const [code, held] of this.codes) if (held.expiresAt <= now) this.codes.delete(code);
    const code = randomBytes(32).toString('base64url');
    this.codes.set(code, { ...grant, expiresAt: now + CODE_SECONDS * 1000 });
    return code;
  }

  /** The grant of `code`, or why it cannot be redeemed (an `AADSTS` description). */
  redeem(code: string, clientId: string, redirectUri: string, verifier: string): CodeGrant | string {
    const grant = this.codes.get(code);
    // Used, unknown or expired: never twice (RFC 6749 section 4.1.2).
    this.codes.delete(code);
    if (grant === undefined || grant.expiresAt <= this.clock.now())
      return 'AADSTS70008: The provided authorization code or refresh token has expired or was already redeemed.';
    if (grant.clientId !== clientId)
      return 'AADSTS70000: The provided authorization code was issued to another client.';
    if (grant.redirectUri !== redirectUri)
      return 'AADSTS50148: The redirect_uri does not match the one of the authorization request.';
    const computed = createHash('sha256').update(verifier).digest('base64url');
    if (verifier.length < 43 || computed !== grant.challenge)
      return 'AADSTS501481: The Code_Verifier does not match the code_challenge supplied in the authorization request.';
    return grant;
  }
}
