/**
 * An Entra-shaped identity provider for the local stack and the tests: a real `node:http` server
 * on loopback that serves Entra's URL layout (OpenID metadata per tenant and version, the JWKS)
 * and mints RS256 access tokens shaped like Entra's v1 and v2 tokens.
 *
 * It exists so that the gateway's validator runs against real HTTP and real signatures, with no
 * code path of its own for "dev mode": the gateway only sees another authority URL.
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
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  sign,
  type KeyObject,
} from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname } from 'node:path';
import jwt from 'jsonwebtoken';
import { systemClock, nowSeconds, type Clock } from '../../clock';
import type { Config } from '../../config/load-config';

export const DEV_TENANT_ID = '9f1c2c3e-0d1a-4b7e-9c55-2f0c6d1e7a01';
/** The gateway API's app registration. */
export const DEV_API_CLIENT_ID = '5e7d1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b';
/** Its App ID URI: the audience of v1 tokens. */
export const DEV_API_AUDIENCE = `api://${DEV_API_CLIENT_ID}`;
/** A "mobile app" client id (`azp` / `appid`). */
export const DEV_CLIENT_APP_ID = 'c0ffee00-1234-4abc-8def-000000000001';
/** The object id of the dev user that tokens name unless told otherwise. */
export const DEV_USER_OID = '0d5e1f3a-7b2c-4d8e-9f10-a1b2c3d4e5f6';
/** The service principal object id of the dev client app, the `oid` of its app-only tokens. */
export const DEV_CLIENT_APP_ID_SP_OID = '7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d';

/** Where the local stack listens for the dev IdP, and what `token-cli` puts in `iss`. */
export const DEV_IDP_PORT = 7072;
export const DEV_IDP_AUTHORITY = `http://127.0.0.1:${DEV_IDP_PORT}`;
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
  /** Default 3600. */
  lifetimeSeconds?: number;
  /** App-only token (client credentials): `idtyp: 'app'`, `sub === oid`, roles but no `scp`. */
  app?: boolean;
  /** Extra claims or overrides; a key set to `undefined` is dropped from the token. */
  claims?: Record<string, unknown>;
}

/** A running dev identity provider. */
export interface DevIdentityProvider {
  /** e.g. `http://127.0.0.1:7072`, no trailing slash: the value of `ENTRA_AUTHORITY`. */
  readonly authority: string;
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
  try {
    return devSigningKey(createPrivateKey(readFileSync(file, 'utf8')));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const key = generateDevSigningKey();
  mkdirSync(dirname(file), { recursive: true });
  try {
    writeFileSync(file, key.privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600, flag: 'wx' });
    return key;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return devSigningKey(createPrivateKey(readFileSync(file, 'utf8')));
  }
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

  const payload: Record<string, unknown> = {
    aud: options.audience ?? (version === '2.0' ? context.clientId : `api://${context.clientId}`),
    iss: version === '2.0' ? `${context.authority}/${tid}/v2.0` : `${context.authority}/${tid}/`,
    iat: now,
    nbf: now,
    exp: now + (options.lifetimeSeconds ?? 3600),
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

/**
 * Starts the dev identity provider on loopback.
 *
 * Routes (as Entra lays them out), for `{tenant}` = its tenant GUID, `organizations` or `common`:
 * - `GET /{tenant}/v2.0/.well-known/openid-configuration`: v2 metadata; issuer
 *   `${authority}/${tid}/v2.0`, or `${authority}/{tenantid}/v2.0` for the multi-tenant segments.
 * - `GET /{tenant}/.well-known/openid-configuration`: v1 metadata; issuer `${authority}/${tid}/`.
 * - `GET /common/discovery/v2.0/keys` and `GET /common/discovery/keys`: the JWKS.
 */
export async function startDevIdentityProvider(
  options: DevIdentityProviderOptions = {},
): Promise<DevIdentityProvider> {
  const host = options.host ?? '127.0.0.1';
  const tenantId = (options.tenantId ?? DEV_TENANT_ID).toLowerCase();
  const clientId = options.clientId ?? DEV_API_CLIENT_ID;
  const clock = options.clock ?? systemClock;

  let current = options.keyFile ? loadOrCreateDevSigningKey(options.keyFile) : generateDevSigningKey();
  let published: DevSigningKey[] = [current];
  let available = true;
  let jwksRequests = 0;
  let metadataRequests = 0;
  let authority = '';

  const metadata = (tenantSegment: string, version: '1.0' | '2.0') => {
    const issuerTenant = MULTI_TENANT_SEGMENTS.has(tenantSegment) ? '{tenantid}' : tenantSegment;
    const base = `${authority}/${tenantSegment}`;
    const v2 = version === '2.0';
    return {
      issuer: v2 ? `${authority}/${issuerTenant}/v2.0` : `${authority}/${issuerTenant}/`,
      jwks_uri: v2 ? `${authority}/common/discovery/v2.0/keys` : `${authority}/common/discovery/keys`,
      authorization_endpoint: v2 ? `${base}/oauth2/v2.0/authorize` : `${base}/oauth2/authorize`,
      token_endpoint: v2 ? `${base}/oauth2/v2.0/token` : `${base}/oauth2/token`,
      response_types_supported: ['code', 'id_token', 'code id_token', 'token id_token', 'token'],
      subject_types_supported: ['pairwise'],
      id_token_signing_alg_values_supported: ['RS256'],
      tenant_region_scope: 'EU',
      cloud_instance_name: 'dev.local',
    };
  };

  const send = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
    res.end(JSON.stringify(body));
  };

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'http://dev-idp').pathname;
    const segments = path.split('/').filter((s) => s.length > 0);
    const isJwks = path === '/common/discovery/v2.0/keys' || path === '/common/discovery/keys';
    const v2Metadata =
      segments.length === 4 &&
      segments[1] === 'v2.0' &&
      segments[2] === '.well-known' &&
      segments[3] === 'openid-configuration';
    const v1Metadata =
      segments.length === 3 && segments[1] === '.well-known' && segments[2] === 'openid-configuration';
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, { error: 'method_not_allowed' });

    if (isJwks) {
      jwksRequests += 1;
      if (!available) return send(res, 503, { error: 'temporarily_unavailable' });
      return send(res, 200, { keys: published.map((k) => k.jwk) });
    }
    if (v2Metadata || v1Metadata) {
      metadataRequests += 1;
      if (!available) return send(res, 503, { error: 'temporarily_unavailable' });
      const tenant = (segments[0] ?? '').toLowerCase();
      if (tenant !== tenantId && !MULTI_TENANT_SEGMENTS.has(tenant)) {
        return send(res, 400, {
          error: 'invalid_tenant',
          error_description: `AADSTS90002: Tenant '${tenant}' not found.`,
        });
      }
      return send(res, 200, metadata(tenant, v2Metadata ? '2.0' : '1.0'));
    }
    return send(res, 404, { error: 'not_found' });
  };

  const server = createServer(handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  authority = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  const context = (): DevTokenContext => ({ authority, tenantId, clientId, clock });

  return {
    authority,
    tenantId,
    clientId,
    audience: `api://${clientId}`,
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

function b64url(value: Record<string, unknown>): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}
