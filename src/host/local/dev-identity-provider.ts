/**
 * Entra's twin for the local stack and the tests: a real HTTPS server on loopback that serves
 * Entra's URL layout and behaviour, so that the gateway and real MSAL clients meet it exactly as
 * they meet Entra, with no code path of their own for "dev mode":
 *
 * - OpenID metadata per tenant and version; the v1 issuer on a host of its own (as
 *   `sts.windows.net` is not `login.microsoftonline.com`); `organizations` has no v1 metadata
 *   (AADSTS90002), as at Entra;
 * - the JWKS per tenant (v2 keys carry the tenant's `issuer`), for `common` (with `{tenantid}`)
 *   and for v1 (no `issuer`);
 * - a token endpoint for confidential clients: client credentials and on-behalf-of
 *   (`urn:ietf:params:oauth:grant-type:jwt-bearer`), with Entra's error shapes;
 * - RS256 access tokens shaped like Entra's v1 and v2 tokens.
 *
 * Its certificate comes from the local certificate authority (`.local/embedded-cosmos/ca.pem`,
 * shared with the embedded Cosmos DB): clients trust that CA, and TLS checks stay on.
 *
 * @example
 * ```ts
 * const idp = await startDevIdentityProvider();
 * const token = idp.mintToken({ roles: ['Orders.Reader'] });
 * // ENTRA_AUTHORITY=idp.authority ENTRA_TENANT_ID=idp.tenantId ENTRA_AUDIENCES=idp.clientId
 * await idp.close();
 * ```
 */
import {
  constants,
  createHash,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  sign,
  type KeyObject,
} from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import jwt from 'jsonwebtoken';
import { systemClock, nowSeconds, type Clock } from '../../clock';
import type { Config } from '../../config/load-config';
import { ensureLocalCertificate, LOCAL_CA_DIR } from './local-certificate';
import { loadOrCreatePrivateKey } from './local-key-files';
import { fetchTrusting } from './local-trust';
import {
  AuthorizationCodes,
  isLoopbackRedirect,
  mergeClaims,
  parseClaimsRequest,
} from './dev-authorization-code';

export const DEV_TENANT_ID = '9f1c2c3e-0d1a-4b7e-9c55-2f0c6d1e7a01';
/** The gateway API's app registration. */
export const DEV_API_CLIENT_ID = '5e7d1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b';
/** Its App ID URI: the audience of v1 tokens. */
export const DEV_API_AUDIENCE = `api://${DEV_API_CLIENT_ID}`;
/** A "mobile app" client id (`azp` / `appid`). */
export const DEV_CLIENT_APP_ID = 'c0ffee00-1234-4abc-8def-000000000001';
/** The object id of the dev user that tokens name unless told otherwise. */
export const DEV_USER_OID = '0d5e1f3a-7b2c-4d8e-9f10-a1b2c3d4e5f6';
/**
 * The app roles of the dev user when it signs in through `/authorize` (a public client's
 * authorization code flow, src/host/local/dev-authorization-code.ts): a reader, as the banner's token.
 */
export const DEV_USER_ROLES: readonly string[] = ['Orders.Reader'];
/** The service principal object id of the dev client app, the `oid` of its app-only tokens. */
export const DEV_CLIENT_APP_ID_SP_OID = '7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d';

/** Where the local stack listens for the dev IdP, and what `token-cli` puts in `iss`. */
export const DEV_IDP_PORT = 7072;
export const DEV_IDP_AUTHORITY = `https://127.0.0.1:${DEV_IDP_PORT}`;

/** A confidential client app registered with the dev IdP (client credentials, on-behalf-of). */
export interface DevClientApp {
  readonly secret: string;
  /** App roles this app is granted on the gateway API: its client-credentials tokens carry them. */
  readonly roles: readonly string[];
}

/** A daemon / service app with a secret and an app role on the API (client credentials). */
export const DEV_SERVICE_CLIENT_ID = 'd43a1e5c-0b7a-4c1e-9f00-5e2d4c6b8a01';
export const DEV_SERVICE_CLIENT_SECRET = 'dev-only-service-secret';
/** The gateway API's own credential, for on-behalf-of calls to downstreams (`GATEWAY_CLIENT_SECRET`). */
export const DEV_API_CLIENT_SECRET = 'dev-only-gateway-secret';

/** The apps the dev IdP knows besides the API: client id → secret and granted app roles. */
export const DEV_CLIENT_APPS: Readonly<Record<string, DevClientApp>> = {
  [DEV_SERVICE_CLIENT_ID]: { secret: DEV_SERVICE_CLIENT_SECRET, roles: ['Orders.Reader'] },
  [DEV_API_CLIENT_ID]: { secret: DEV_API_CLIENT_SECRET, roles: [] },
};

/**
 * The host of the v1 issuer for an authority: the same loopback server under its other name
 * (`localhost` for `127.0.0.1` and back), so v1 and v2 issuers differ in their host as Entra's
 * `sts.windows.net` and `login.microsoftonline.com` do. A validator that derives the issuer from
 * the authority instead of reading the metadata fails here as it would against Entra.
 */
export function devV1IssuerBase(authority: string): string {
  const url = new URL(authority);
  url.hostname = url.hostname === 'localhost' ? '127.0.0.1' : 'localhost';
  return url.origin;
}
/** The persisted signing key shared by the local stack's IdP and `token-cli` (relative to the cwd). */
export const DEV_IDP_KEY_FILE = '.local/dev-idp/signing-key.pem';

/** Options of {@link DevIdentityProvider.mintToken}. */
export interface MintTokenOptions {
  /** Token format; default `'2.0'`. */
  version?: '1.0' | '2.0';
  roles?: string[];
  /** Delegated scopes (`scp`); default `['access_as_user']` for user tokens, none for app tokens. */
  scopes?: string[];
  groups?: string[];
  oid?: string;
  tid?: string;
  /** The client application (`azp` v2, `appid` v1); default {@link DEV_CLIENT_APP_ID}. */
  azp?: string;
  /** Default: the client id GUID (v2) or the App ID URI (v1). */
  audience?: string;
  /** Default 3600; negative: a token that expired that long ago (issued an hour before it expired). */
  lifetimeSeconds?: number;
  /** App-only token (client credentials): `idtyp: 'app'`, `sub === oid`, roles but no `scp`. */
  app?: boolean;
  /** Extra claims or overrides; a key set to `undefined` is dropped from the token. */
  claims?: Record<string, unknown>;
}

/** A running dev identity provider. */
export interface DevIdentityProvider {
  /** e.g. `https://127.0.0.1:7072`, no trailing slash: the value of `ENTRA_AUTHORITY`. */
  readonly authority: string;
  /** The PEM of the certificate authority its TLS certificate chains to. */
  readonly ca: string;
  /** `fetch` that trusts {@link ca} (and nothing else it would not trust anyway). */
  readonly fetch: typeof fetch;
  /** Token requests received, as parsed forms (secrets included: tests only). */
  readonly tokenRequests: readonly Readonly<Record<string, string>>[];
  readonly tenantId: string;
  /** The API's client id GUID (v2 audience). */
  readonly clientId: string;
  /** The API's App ID URI (v1 audience). */
  readonly audience: string;
  /** JWKS requests received (answered or refused with 503): what flood tests count. */
  readonly jwksRequests: number;
  /** OpenID metadata requests received. */
  readonly metadataRequests: number;
  /** The `kid` of the key that signs now. */
  readonly currentKid: string;
  /** The current key's public half as SPKI PEM (for "HS256 keyed with the public key" attacks). */
  readonly publicKeyPem: string;
  /** Mints an Entra-shaped RS256 access token signed with the current key. */
  mintToken(options?: MintTokenOptions): string;
  /**
   * Signs arbitrary header and payload with the current key, for hostile-token tests. The
   * header is used as given (add `kid` yourself); `algorithm` picks the RSA signature scheme.
   */
  signJwt(
    header: Record<string, unknown>,
    payload: Record<string, unknown>,
    algorithm?: 'RS256' | 'RS384' | 'PS256',
  ): string;
  /** A new key signs from now on; the old one stays published only with `keepOld`. */
  rotateSigningKey(options?: { keepOld?: boolean }): void;
  /**
   * Publishes one more key in every JWKS (it does not sign `mintToken`'s tokens: sign with
   * `mintDevToken`). `issuer`, when given, is the issuer its v2 JWK names wherever it is
   * published, as a key bound to one tenant or cloud is: what Microsoft's signing-key issuer
   * check (IDX40005) is about.
   */
  publishKey(key: DevSigningKey, options?: { issuer?: string }): void;
  /** `false`: metadata and JWKS answer 503, as in an outage. */
  setAvailable(available: boolean): void;
  close(): Promise<void>;
}

/**
 * The gateway's Entra settings for this provider's tokens: its authority and tenant, single
 * tenant, both audiences (v2 client id, v1 App ID URI), 60 s of clock skew, unless overridden.
 */
export function entraConfigFor(
  idp: Pick<DevIdentityProvider, 'authority' | 'tenantId' | 'clientId' | 'audience'>,
  overrides: Partial<Config['entra']> = {},
): Config['entra'] {
  return {
    authority: idp.authority,
    tenantId: idp.tenantId,
    multiTenant: false,
    allowedTenants: [idp.tenantId],
    audiences: [idp.clientId, idp.audience],
    clockSkewSeconds: 60,
    allowAclAuthorization: false,
    ...overrides,
  };
}

/** Options of {@link startDevIdentityProvider}. */
export interface DevIdentityProviderOptions {
  /** 0 (the default) picks a free port. */
  port?: number;
  /** Default `127.0.0.1`. */
  host?: string;
  tenantId?: string;
  clientId?: string;
  /** Persist the RSA private key (PKCS#8 PEM) here; reuse it if the file exists. */
  keyFile?: string;
  clock?: Clock;
  /** Where the local certificate authority lives; default the stack's (`.local/embedded-cosmos`). */
  certDir?: string;
  /** Confidential clients; default {@link DEV_CLIENT_APPS}. */
  clients?: Readonly<Record<string, DevClientApp>>;
}

/** An RSA signing key with its published form. */
export interface DevSigningKey {
  readonly kid: string;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  /** The public JWK as the JWKS publishes it. */
  readonly jwk: Readonly<Record<string, string>>;
}

/** Wraps a private key: derives the public key, its JWK and its RFC 7638 thumbprint `kid`. */
export function devSigningKey(privateKey: KeyObject): DevSigningKey {
  const publicKey = createPublicKey(privateKey);
  const { n, e } = publicKey.export({ format: 'jwk' });
  if (typeof n !== 'string' || typeof e !== 'string') throw new Error('dev IdP keys must be RSA');
  // RFC 7638: the thumbprint is over the required members only, in lexicographic order.
  const kid = createHash('sha256')
    .update(JSON.stringify({ e, kty: 'RSA', n }))
    .digest('base64url');
  return { kid, privateKey, publicKey, jwk: { kty: 'RSA', use: 'sig', alg: 'RS256', kid, n, e } };
}

/** A fresh RSA 2048 key. */
export function generateDevSigningKey(): DevSigningKey {
  return devSigningKey(generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey);
}

/**
 * Loads the dev signing key from `file` (PKCS#8 PEM), or creates it there (mode 0600) when absent.
 * Two processes racing to create it both end up with the key that was written first.
 */
export function loadOrCreateDevSigningKey(file: string = DEV_IDP_KEY_FILE): DevSigningKey {
  return devSigningKey(loadOrCreatePrivateKey(file, () => generateDevSigningKey().privateKey));
}

/** What a minted token is stamped with besides the caller's options. */
export interface DevTokenContext {
  readonly authority: string;
  readonly tenantId: string;
  readonly clientId: string;
  readonly clock: Clock;
}

/**
 * Mints an Entra-shaped access token (v2 by default) signed RS256 with `key`. Shared by the
 * running provider and `token-cli`, so both produce the same shape.
 */
export function mintDevToken(
  key: DevSigningKey,
  context: DevTokenContext,
  options: MintTokenOptions = {},
): string {
  const now = nowSeconds(context.clock);
  const version = options.version ?? '2.0';
  const tid = options.tid ?? context.tenantId;
  const oid = options.oid ?? (options.app ? DEV_CLIENT_APP_ID_SP_OID : DEV_USER_OID);
  const client = options.azp ?? DEV_CLIENT_APP_ID;
  // Entra's `sub` is pairwise (per user and app) for delegated tokens and equals `oid` for app-only ones.
  const sub = options.app
    ? oid
    : createHash('sha256').update(`${oid}:${context.clientId}`).digest('base64url').slice(0, 43);
  const scopes = options.app ? [] : (options.scopes ?? ['access_as_user']);

  const exp = now + (options.lifetimeSeconds ?? 3600);
  // A token already expired when minted (a negative lifetime) was issued an hour before it
  // expired, as a real one would have been: never `nbf` after `exp`.
  const issued = exp <= now ? exp - 3600 : now;
  const payload: Record<string, unknown> = {
    aud: options.audience ?? (version === '2.0' ? context.clientId : `api://${context.clientId}`),
    iss:
      version === '2.0'
        ? `${context.authority}/${tid}/v2.0`
        : `${devV1IssuerBase(context.authority)}/${tid}/`,
    iat: issued,
    nbf: issued,
    exp,
    ...(version === '2.0'
      ? { azp: client, azpacr: '0' }
      : {
          appid: client,
          appidacr: '0',
          ...(options.app ? {} : { upn: 'dev.user@example.test', unique_name: 'dev.user@example.test' }),
        }),
    ...(options.app ? { idtyp: 'app' } : { name: 'Dev User', preferred_username: 'dev.user@example.test' }),
    ...(options.groups && options.groups.length > 0 ? { groups: options.groups } : {}),
    oid,
    ...(options.roles && options.roles.length > 0 ? { roles: options.roles } : {}),
    ...(scopes.length > 0 ? { scp: scopes.join(' ') } : {}),
    sub,
    tid,
    uti: randomBytes(16).toString('base64url'),
    ver: version,
  };
  for (const [name, value] of Object.entries(options.claims ?? {})) {
    if (value === undefined) delete payload[name];
    else payload[name] = value;
  }
  // jsonwebtoken keeps the given `iat` (from the injected clock); it only adds one when absent.
  return jwt.sign(payload, key.privateKey, { algorithm: 'RS256', keyid: key.kid });
}

const MULTI_TENANT_SEGMENTS = new Set(['organizations', 'common']);
const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const OIDC_SCOPES = new Set(['openid', 'profile', 'offline_access', 'email']);
/** Longest token request body read; Entra's own limit is far above any real request. */
const MAX_FORM_BYTES = 64 * 1024;

/** An Entra-style OAuth error: status, `error`, and an `AADSTS` description. */
class OAuthError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    description: string,
  ) {
    super(description);
  }
}

/**
 * Starts the dev identity provider on loopback, over HTTPS.
 *
 * Routes (as Entra lays them out), `{tenant}` being its tenant GUID, `organizations` or `common`:
 * - `GET /{tenant}/v2.0/.well-known/openid-configuration`: issuer `${authority}/${tid}/v2.0`
 *   (`{tenantid}` for the multi-tenant segments); jwks_uri the tenant's own JWKS, or `common`'s.
 * - `GET /{tenant}/.well-known/openid-configuration`: v1; issuer `${v1 host}/${tid}/`;
 *   `organizations` answers 400 AADSTS90002, as Entra does.
 * - `GET /{tid}/discovery/v2.0/keys`, `/common/discovery/v2.0/keys`: keys with `issuer`
 *   (tenant-specific, or with `{tenantid}`); `GET /{tenant}/discovery/keys`: v1 keys, no `issuer`.
 * - `POST /{tenant}/oauth2/v2.0/token`: `client_credentials` (scope `<api>/.default`) and
 *   on-behalf-of (`jwt-bearer`, `requested_token_use=on_behalf_of`), client secret in the form.
 */
export async function startDevIdentityProvider(
  options: DevIdentityProviderOptions = {},
): Promise<DevIdentityProvider> {
  const host = options.host ?? '127.0.0.1';
  const tenantId = (options.tenantId ?? DEV_TENANT_ID).toLowerCase();
  const clientId = options.clientId ?? DEV_API_CLIENT_ID;
  const clock = options.clock ?? systemClock;
  const clients = options.clients ?? DEV_CLIENT_APPS;
  const certificate = await ensureLocalCertificate(options.certDir ?? LOCAL_CA_DIR);

  let current = options.keyFile ? loadOrCreateDevSigningKey(options.keyFile) : generateDevSigningKey();
  let published: DevSigningKey[] = [current];
  /** Keys published with an issuer of their own (kid → issuer), whatever JWKS they appear in. */
  const boundIssuers = new Map<string, string>();
  let available = true;
  let jwksRequests = 0;
  let metadataRequests = 0;
  const tokenRequests: Record<string, string>[] = [];
  let authority = '';

  const isTenant = (segment: string) => segment === tenantId || MULTI_TENANT_SEGMENTS.has(segment);

  const metadata = (tenantSegment: string, version: '1.0' | '2.0') => {
    const multi = MULTI_TENANT_SEGMENTS.has(tenantSegment);
    const issuerTenant = multi ? '{tenantid}' : tenantSegment;
    const base = `${authority}/${tenantSegment}`;
    const v2 = version === '2.0';
    return {
      issuer: v2 ? `${authority}/${issuerTenant}/v2.0` : `${devV1IssuerBase(authority)}/${issuerTenant}/`,
      jwks_uri: v2
        ? `${authority}/${multi ? 'common' : tenantSegment}/discovery/v2.0/keys`
        : `${authority}/common/discovery/keys`,
      authorization_endpoint: v2 ? `${base}/oauth2/v2.0/authorize` : `${base}/oauth2/authorize`,
      token_endpoint: v2 ? `${base}/oauth2/v2.0/token` : `${base}/oauth2/token`,
      end_session_endpoint: v2 ? `${base}/oauth2/v2.0/logout` : `${base}/oauth2/logout`,
      token_endpoint_auth_methods_supported: ['client_secret_post', 'client_secret_basic'],
      response_types_supported: ['code', 'id_token', 'code id_token', 'token id_token', 'token'],
      subject_types_supported: ['pairwise'],
      id_token_signing_alg_values_supported: ['RS256'],
      tenant_region_scope: 'EU',
      cloud_instance_name: 'dev.local',
    };
  };

  /** A JWKS document: v2 keys name the issuer they sign for, v1 keys do not. */
  const jwks = (issuer: string | undefined) => ({
    keys: published.map((k) =>
      issuer === undefined ? k.jwk : { ...k.jwk, issuer: boundIssuers.get(k.kid) ?? issuer },
    ),
  });

  const send = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
    res.end(JSON.stringify(body));
  };

  const context = (): DevTokenContext => ({ authority, tenantId, clientId, clock });

  /** The confidential client of a token request, authenticated by its secret. */
  const authenticateClient = (form: Record<string, string>): { id: string; app: DevClientApp } => {
    const id = form.client_id ?? '';
    const app = Object.hasOwn(clients, id) ? clients[id] : undefined;
    if (app === undefined) {
      throw new OAuthError(
        400,
        'unauthorized_client',
        `AADSTS700016: Application with identifier '${id}' was not found.`,
      );
    }
    if (form.client_secret !== app.secret) {
      throw new OAuthError(401, 'invalid_client', 'AADSTS7000215: Invalid client secret provided.');
    }
    return { id, app };
  };

  /** `client_credentials`: an app-only v2 token for the API named by `scope=<api>/.default`. */
  const clientCredentials = (tenant: string, form: Record<string, string>) => {
    const { id, app } = authenticateClient(form);
    const scope = form.scope ?? '';
    const resource = scope.endsWith('/.default') ? scope.slice(0, -'/.default'.length) : undefined;
    if (resource === undefined || scope.includes(' ')) {
      throw new OAuthError(
        400,
        'invalid_scope',
        `AADSTS1002012: The provided value for scope ${scope} is not valid.`,
      );
    }
    if (resource !== clientId && resource !== `api://${clientId}`) {
      throw new OAuthError(
        400,
        'invalid_resource',
        `AADSTS500011: The resource principal named ${resource} was not found.`,
      );
    }
    return mintDevToken(current, context(), {
      app: true,
      azp: id,
      tid: MULTI_TENANT_SEGMENTS.has(tenant) ? tenantId : tenant,
      roles: [...app.roles],
      claims: { oid: servicePrincipalOid(id), sub: servicePrincipalOid(id) },
    });
  };

  /** On-behalf-of: the caller's token for the requesting client in, a token for another API out. */
  const onBehalfOf = (form: Record<string, string>) => {
    const { id } = authenticateClient(form);
    if (form.requested_token_use !== 'on_behalf_of') {
      throw new OAuthError(
        400,
        'invalid_request',
        "AADSTS900144: The request body must contain 'requested_token_use'.",
      );
    }
    let user: Record<string, unknown>;
    try {
      user = verifyOwnToken(form.assertion ?? '', published, clock);
    } catch {
      throw new OAuthError(400, 'invalid_grant', 'AADSTS50013: Assertion failed signature validation.');
    }
    // The assertion must have been issued to the requesting app (its client id or App ID URI).
    if (user.aud !== id && user.aud !== `api://${id}` && user.aud !== `api://${id}/`) {
      throw new OAuthError(
        400,
        'invalid_grant',
        'AADSTS50013: Assertion audience does not match the Client app presenting the assertion.',
      );
    }
    // MSAL adds the OpenID Connect scopes to every request; Entra grants them beside the API's.
    const scopes = (form.scope ?? '').split(' ').filter((s) => s.length > 0 && !OIDC_SCOPES.has(s));
    const resource = scopes[0]?.replace(/\/[^/]*$/, '');
    if (resource === undefined || resource === '' || scopes.some((s) => !s.startsWith(`${resource}/`))) {
      throw new OAuthError(
        400,
        'invalid_scope',
        'AADSTS70011: The provided request must include a valid scope.',
      );
    }
    const names = scopes.map((s) => s.slice(resource.length + 1)).filter((s) => s !== '.default');
    const accessToken = mintDevToken(current, context(), {
      azp: id,
      tid: typeof user.tid === 'string' ? user.tid : tenantId,
      ...(typeof user.oid === 'string' ? { oid: user.oid } : {}),
      audience: resource,
      scopes: names.length > 0 ? names : ['user_impersonation'],
    });
    return { accessToken, scope: scopes.join(' ') };
  };

  const codes = new AuthorizationCodes(clock);

  /** The API scope names of a request's `scope` (OpenID Connect scopes aside), or none when another API's. */
  const apiScopes = (scope: string | undefined): string[] | undefined => {
    const names: string[] = [];
    for (const s of (scope ?? '').split(' ')) {
      if (s.length === 0 || OIDC_SCOPES.has(s)) continue;
      const name = [`api://${clientId}/`, `${clientId}/`]
        .map((p) => (s.startsWith(p) ? s.slice(p.length) : undefined))
        .find((n) => n !== undefined);
      if (name === undefined || name === '' || name === '.default') return undefined;
      names.push(name);
    }
    return names.length > 0 ? names : undefined;
  };

  /**
   * `GET /authorize`: the dev user signs in without a page (response_type=code, PKCE S256 only,
   * a loopback redirect), and the browser is sent back with a code. Errors the client can be
   * told of go back to its redirect URI; any other is a 400 here, as Entra does.
   */
  const authorizeRequest = (req: IncomingMessage, res: ServerResponse, tenant: string) => {
    const query = Object.fromEntries(new URL(req.url ?? '/', 'https://dev-idp').searchParams);
    const redirectUri = query.redirect_uri ?? '';
    const clientKnown =
      query.client_id === DEV_CLIENT_APP_ID || Object.hasOwn(clients, query.client_id ?? '');
    if (!isTenant(tenant))
      return send(res, 400, {
        error: 'invalid_tenant',
        error_description: `AADSTS90002: Tenant '${tenant}' not found.`,
      });
    if (!clientKnown)
      return send(res, 400, {
        error: 'unauthorized_client',
        error_description: `AADSTS700016: Application with identifier '${query.client_id ?? ''}' was not found.`,
      });
    if (!isLoopbackRedirect(redirectUri))
      return send(res, 400, {
        error: 'invalid_request',
        error_description: 'AADSTS50011: The redirect URI must be a loopback address for this public client.',
      });
    const back = (params: Record<string, string>) => {
      const url = new URL(redirectUri);
      for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
      if (query.state !== undefined) url.searchParams.set('state', query.state);
      res.writeHead(302, { location: url.toString(), 'cache-control': 'no-store' });
      res.end();
    };
    const scopes = apiScopes(query.scope);
    const claims = parseClaimsRequest(query.claims);
    if (query.response_type !== 'code')
      return back({
        error: 'unsupported_response_type',
        error_description: 'AADSTS700054: response_type must be code.',
      });
    if (query.code_challenge_method !== 'S256' || !/^[A-Za-z0-9_-]{43}$/.test(query.code_challenge ?? ''))
      return back({
        error: 'invalid_request',
        error_description: 'AADSTS501491: A PKCE code_challenge with method S256 is required.',
      });
    if (scopes === undefined)
      return back({
        error: 'invalid_scope',
        error_description: `AADSTS70011: The provided value for scope ${query.scope ?? ''} is not valid.`,
      });
    if (claims === undefined)
      return back({
        error: 'invalid_request',
        error_description: "AADSTS90015: The 'claims' parameter is not a valid claims request.",
      });
    const code = codes.issue({
      clientId: query.client_id!,
      redirectUri,
      challenge: query.code_challenge!,
      scopes,
      claims,
      nonce: query.nonce,
    });
    back({
      code,
      ...(query.client_info === '1' ? { client_info: clientInfo() } : {}),
    });
  };

  /** MSAL's `client_info`: the user's home account (uid, utid), base64url JSON. */
  const clientInfo = () =>
    Buffer.from(JSON.stringify({ uid: DEV_USER_OID, utid: tenantId })).toString('base64url');

  /** `authorization_code` with PKCE: the dev user's token for the API, with what the claims asked. */
  const authorizationCode = (form: Record<string, string>) => {
    const clientKnown = form.client_id === DEV_CLIENT_APP_ID || Object.hasOwn(clients, form.client_id ?? '');
    if (!clientKnown)
      throw new OAuthError(
        400,
        'unauthorized_client',
        `AADSTS700016: Application with identifier '${form.client_id ?? ''}' was not found.`,
      );
    const grant = codes.redeem(
      form.code ?? '',
      form.client_id!,
      form.redirect_uri ?? '',
      form.code_verifier ?? '',
    );
    if (typeof grant === 'string') throw new OAuthError(400, 'invalid_grant', grant);
    const asked = parseClaimsRequest(form.claims);
    if (asked === undefined)
      throw new OAuthError(
        400,
        'invalid_request',
        "AADSTS90015: The 'claims' parameter is not a valid claims request.",
      );
    const claims = mergeClaims(grant.claims, asked);
    const accessToken = mintDevToken(current, context(), {
      azp: grant.clientId,
      scopes: [...grant.scopes],
      roles: [...DEV_USER_ROLES],
      claims: {
        ...(claims.acrs.length > 0 ? { acrs: claims.acrs } : {}),
        ...(claims.capabilities.length > 0 ? { xms_cc: claims.capabilities } : {}),
      },
    });
    const now = nowSeconds(clock);
    const idToken = jwt.sign(
      {
        aud: grant.clientId,
        iss: `${authority}/${tenantId}/v2.0`,
        iat: now,
        nbf: now,
        exp: now + 3600,
        sub: createHash('sha256')
          .update(`${DEV_USER_OID}:${grant.clientId}`)
          .digest('base64url')
          .slice(0, 43),
        oid: DEV_USER_OID,
        tid: tenantId,
        name: 'Dev User',
        preferred_username: 'dev.user@example.test',
        ver: '2.0',
        ...(grant.nonce === undefined ? {} : { nonce: grant.nonce }),
      },
      current.privateKey,
      { algorithm: 'RS256', keyid: current.kid },
    );
    return {
      accessToken,
      scope: [...grant.scopes.map((s) => `api://${clientId}/${s}`), 'openid', 'profile'].join(' '),
      idToken,
      clientInfo: clientInfo(),
    };
  };

  const token = async (req: IncomingMessage, res: ServerResponse, tenant: string) => {
    try {
      const form = await readForm(req);
      tokenRequests.push(form);
      if (!isTenant(tenant)) {
        throw new OAuthError(400, 'invalid_tenant', `AADSTS90002: Tenant '${tenant}' not found.`);
      }
      const grant = form.grant_type;
      const issued:
        { accessToken: string; scope?: string; idToken?: string; clientInfo?: string } | undefined =
        grant === 'client_credentials'
          ? { accessToken: clientCredentials(tenant, form) }
          : grant === JWT_BEARER
            ? onBehalfOf(form)
            : grant === 'authorization_code'
              ? authorizationCode(form)
              : undefined;
      if (issued === undefined) {
        throw new OAuthError(
          400,
          'unsupported_grant_type',
          `AADSTS70003: The app requested an unsupported grant type '${grant ?? ''}'.`,
        );
      }
      const lifetime = 3600;
      send(res, 200, {
        token_type: 'Bearer',
        expires_in: lifetime,
        ext_expires_in: lifetime,
        access_token: issued.accessToken,
        ...(issued.scope === undefined ? {} : { scope: issued.scope }),
        ...(issued.idToken === undefined ? {} : { id_token: issued.idToken }),
        ...(issued.clientInfo === undefined ? {} : { client_info: issued.clientInfo }),
      });
    } catch (err) {
      const failure =
        err instanceof OAuthError
          ? err
          : new OAuthError(400, 'invalid_request', 'AADSTS900144: malformed request');
      send(res, failure.status, {
        error: failure.error,
        error_description: failure.message,
        error_codes: [Number(/AADSTS(\d+)/.exec(failure.message)?.[1] ?? 0)],
        timestamp: new Date(clock.now()).toISOString().replace('T', ' ').slice(0, 19) + 'Z',
      });
    }
  };

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'https://dev-idp').pathname;
    const segments = path.split('/').filter((s) => s.length > 0);
    const tenant = (segments[0] ?? '').toLowerCase();
    const rest = segments.slice(1).join('/');

    if (rest === 'oauth2/v2.0/token') {
      if (req.method !== 'POST') return send(res, 405, { error: 'method_not_allowed' });
      void token(req, res, tenant);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, { error: 'method_not_allowed' });
    if (rest === 'oauth2/v2.0/authorize') return authorizeRequest(req, res, tenant);

    const keys =
      rest === 'discovery/v2.0/keys'
        ? ('v2' as const)
        : rest === 'discovery/keys'
          ? ('v1' as const)
          : undefined;
    if (keys !== undefined) {
      jwksRequests += 1;
      if (!available) return send(res, 503, { error: 'temporarily_unavailable' });
      if (!isTenant(tenant)) return send(res, 400, { error: 'invalid_tenant' });
      if (keys === 'v1') return send(res, 200, jwks(undefined));
      const issuerTenant = MULTI_TENANT_SEGMENTS.has(tenant) ? '{tenantid}' : tenant;
      return send(res, 200, jwks(`${authority}/${issuerTenant}/v2.0`));
    }
    const v2Metadata = rest === 'v2.0/.well-known/openid-configuration';
    const v1Metadata = rest === '.well-known/openid-configuration';
    if (v2Metadata || v1Metadata) {
      metadataRequests += 1;
      if (!available) return send(res, 503, { error: 'temporarily_unavailable' });
      // Entra has no v1 metadata for `organizations`: Microsoft's validators read `common`'s.
      if (!isTenant(tenant) || (v1Metadata && tenant === 'organizations')) {
        return send(res, 400, {
          error: 'invalid_tenant',
          error_description: `AADSTS90002: Tenant '${tenant}' not found.`,
        });
      }
      return send(res, 200, metadata(tenant, v2Metadata ? '2.0' : '1.0'));
    }
    return send(res, 404, { error: 'not_found' });
  };

  const server = createServer({ cert: certificate.cert, key: certificate.key }, handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  authority = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;

  return {
    authority,
    tenantId,
    clientId,
    audience: `api://${clientId}`,
    ca: certificate.ca,
    fetch: fetchTrusting(certificate.ca),
    tokenRequests,
    get jwksRequests() {
      return jwksRequests;
    },
    get metadataRequests() {
      return metadataRequests;
    },
    get currentKid() {
      return current.kid;
    },
    get publicKeyPem() {
      return current.publicKey.export({ format: 'pem', type: 'spki' }).toString();
    },
    mintToken: (mintOptions) => mintDevToken(current, context(), mintOptions),
    signJwt(header, payload, algorithm = 'RS256') {
      const signingInput = `${b64url(header)}.${b64url(payload)}`;
      const signature =
        algorithm === 'PS256'
          ? sign('sha256', Buffer.from(signingInput), {
              key: current.privateKey,
              padding: constants.RSA_PKCS1_PSS_PADDING,
              saltLength: 32,
            })
          : sign(algorithm === 'RS384' ? 'sha384' : 'sha256', Buffer.from(signingInput), current.privateKey);
      return `${signingInput}.${signature.toString('base64url')}`;
    },
    rotateSigningKey(rotateOptions = {}) {
      current = generateDevSigningKey();
      published = rotateOptions.keepOld ? [...published, current] : [current];
    },
    publishKey(key, publishOptions = {}) {
      published = [...published, key];
      if (publishOptions.issuer !== undefined) boundIssuers.set(key.kid, publishOptions.issuer);
    },
    setAvailable(value) {
      available = value;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}

/** The service principal object id of an app in the dev tenant: stable per client id. */
function servicePrincipalOid(appId: string): string {
  if (appId === DEV_CLIENT_APP_ID) return DEV_CLIENT_APP_ID_SP_OID;
  const hex = createHash('sha256').update(`sp:${appId}`).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/** Verifies a token this provider signed (any published key, RS256, lifetime); returns its claims. */
function verifyOwnToken(
  token: string,
  keys: readonly DevSigningKey[],
  clock: Clock,
): Record<string, unknown> {
  const kid = (jwt.decode(token, { complete: true })?.header as { kid?: string } | undefined)?.kid;
  const key = keys.find((k) => k.kid === kid);
  if (key === undefined) throw new Error('unknown key');
  const payload = jwt.verify(token, key.publicKey, {
    algorithms: ['RS256'],
    clockTimestamp: nowSeconds(clock),
  });
  if (typeof payload === 'string') throw new Error('not a JWT');
  return payload;
}

/** Reads an `application/x-www-form-urlencoded` body (bounded) into a plain object. */
async function readForm(req: IncomingMessage): Promise<Record<string, string>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_FORM_BYTES)
      throw new OAuthError(400, 'invalid_request', 'AADSTS90014: The request body is too large.');
    chunks.push(chunk as Buffer);
  }
  const form: Record<string, string> = {};
  for (const [name, value] of new URLSearchParams(Buffer.concat(chunks).toString('utf8'))) form[name] = value;
  // Client secret in an Authorization: Basic header (client_secret_basic).
  const basic = /^Basic (.+)$/i.exec(req.headers.authorization ?? '')?.[1];
  if (basic !== undefined) {
    const [id, secret] = Buffer.from(basic, 'base64').toString('utf8').split(':').map(decodeURIComponent);
    if (id !== undefined) form.client_id ??= id;
    if (secret !== undefined) form.client_secret ??= secret;
  }
  return form;
}

function b64url(value: Record<string, unknown>): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}
