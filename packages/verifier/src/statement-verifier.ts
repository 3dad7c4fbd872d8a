/**
 * Verifying the gateway's `x-gateway-principal` statement in a downstream written in Node: a JWT
 * checked through the gateway's published JWKS with the standard libraries (jsonwebtoken,
 * jwks-rsa with its key cache), so the downstream holds no secret. Any other language does the
 * same with its own JWT library (docs/downstream-trust.md).
 */
import jwt from 'jsonwebtoken';
import { JwksClient } from 'jwks-rsa';
import { VerifierError } from './verifier-error';

/** A JWT verifier over a JWKS: resolves with the claims, or rejects with the library's error. */
export type JwksVerifier = (token: string) => Promise<jwt.JwtPayload>;

/** Options of {@link createJwksVerifier}. */
export interface JwksVerifierOptions {
  readonly jwksUri: string;
  readonly issuer: string;
  /** One audience, or any of several. */
  readonly audience: string | readonly [string, ...string[]];
  readonly algorithms: readonly jwt.Algorithm[];
  /** Refuse tokens issued longer ago than this (seconds). */
  readonly maxAgeSeconds?: number;
  /** Tolerance on `exp`, `nbf` and `iat` (seconds). Default 30. */
  readonly clockToleranceSeconds?: number;
  /** `fetch` for the JWKS; default the global one. */
  readonly fetch?: typeof fetch;
}

/**
 * A verifier for JWTs from one issuer, keys from its JWKS (cached by jwks-rsa; an unknown `kid`
 * refetches, rate-limited). The same helper checks the gateway's statements and, in the sample,
 * Entra tokens for the downstream's own API.
 */
export function createJwksVerifier(options: JwksVerifierOptions): JwksVerifier {
  const fetchImpl = options.fetch ?? globalThis.fetch;
  const client = new JwksClient({
    jwksUri: options.jwksUri,
    cache: true,
    rateLimit: true,
    fetcher: async (uri) => (await (await fetchImpl(uri)).json()) as { keys: never[] },
  });
  const verifyOptions: jwt.VerifyOptions & { algorithms: jwt.Algorithm[] } = {
    algorithms: [...options.algorithms],
    issuer: options.issuer,
    audience: typeof options.audience === 'string' ? options.audience : [...options.audience],
    clockTolerance: options.clockToleranceSeconds ?? 30,
    ...(options.maxAgeSeconds === undefined ? {} : { maxAge: options.maxAgeSeconds }),
  };
  return (token) =>
    new Promise((resolve, reject) => {
      jwt.verify(
        token,
        (header, callback) => {
          client
            .getSigningKey(header.kid)
            .then((key) => callback(null, key.getPublicKey()))
            .catch((err: Error) => callback(err));
        },
        verifyOptions,
        (err, payload) => {
          if (err) reject(err);
          else if (typeof payload !== 'object' || payload === null)
            reject(new Error('the token has no claims'));
          else resolve(payload);
        },
      );
    });
}

/** The caller a verified statement names. */
export interface VerifiedStatement extends jwt.JwtPayload {
  readonly sub: string;
  readonly tid: string;
  readonly oid?: string;
  readonly azp?: string;
  readonly roles: readonly string[];
  /** Delegated scopes, space-separated, when the caller's credential had any. */
  readonly scp?: string;
  readonly idtyp: 'app' | 'user';
  /** The credential the caller presented to the gateway: `entra` or `sas`. */
  readonly cred: 'entra' | 'sas';
  /** Bound statements only: the method and upstream URL they were issued for, and a unique id. */
  readonly htm?: string;
  readonly htu?: string;
  readonly jti?: string;
}

/**
 * Where a downstream remembers the `jti` of the bound statements it accepted, so that each is
 * accepted once. {@link MemoryStatementReplay} keeps them in this process; a downstream that runs
 * on several instances passes one shared by all of them (a `SET NX` with expiry in Redis, a
 * create in Cosmos DB) in the same shape.
 */
export interface StatementReplayMemory {
  /** True the first time `jti` is offered; it must be remembered until `expiresAt` (unix seconds). */
  firstUse(jti: string, expiresAt: number): boolean | Promise<boolean>;
}

/** A {@link StatementReplayMemory} in this process's memory, bounded; expired ids are swept. */
export class MemoryStatementReplay implements StatementReplayMemory {
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly now: () => number = () => Date.now() / 1000,
    private readonly maxEntries = 100_000,
  ) {}

  firstUse(jti: string, expiresAt: number): boolean {
    const now = this.now();
    const until = this.seen.get(jti);
    if (until !== undefined && until > now) return false;
    if (this.seen.size >= this.maxEntries) {
      for (const [id, t] of this.seen) if (t <= now) this.seen.delete(id);
      // Still full of live ids: refuse rather than forget one (a replay must never pass).
      if (this.seen.size >= this.maxEntries) return false;
    }
    this.seen.set(jti, expiresAt);
    return true;
  }
}

/** The tolerance on a statement's times: a `jti` is remembered until `exp` plus it. */
const STATEMENT_CLOCK_TOLERANCE_SECONDS = 30;

/** Options of {@link createStatementVerifier}. */
export interface StatementVerifierOptions {
  /** The gateway's issuer URL (`GATEWAY_ISSUER`): its JWKS is `${issuer}/.well-known/jwks.json`. */
  readonly issuer: string;
  /** This downstream's audience: the resource's `audience`, by default its name. */
  readonly audience: string | readonly [string, ...string[]];
  /**
   * Demand bound statements (a resource with `boundStatement: true`): `htm`, `htu` and `jti`
   * must be present and match the request, which must be given. Without it an unbound statement
   * passes, and an unbound statement of another resource with the same audience, or one signed
   * before `boundStatement` was turned on, would be accepted for any request.
   */
  readonly requireBound?: boolean;
  /** With `requireBound`: refuse a statement whose `jti` was accepted before. */
  readonly replay?: StatementReplayMemory;
  readonly fetch?: typeof fetch;
}

/**
 * Verifies `x-gateway-principal`: ES256, the gateway's issuer, this downstream's audience, at most
 * 60 s old and not expired; for a bound statement (always, with `requireBound`), also the
 * request's method and URL, and with `replay`, a `jti` never accepted before.
 *
 * @example
 * ```ts
 * const verify = createStatementVerifier({ issuer: process.env.GATEWAY_ISSUER!, audience: 'orders' });
 * const caller = await verify(request.headers.get('x-gateway-principal') ?? '');
 *
 * // A resource with boundStatement: true
 * const verifyBound = createStatementVerifier({
 *   issuer: process.env.GATEWAY_ISSUER!,
 *   audience: 'orders-admin',
 *   requireBound: true,
 *   replay: new MemoryStatementReplay(),
 * });
 * const admin = await verifyBound(statement, { method: request.method, url: request.url });
 * ```
 */
export function createStatementVerifier(
  options: StatementVerifierOptions,
): (statement: string, request?: { method: string; url: string }) => Promise<VerifiedStatement> {
  const verify = createJwksVerifier({
    jwksUri: `${options.issuer}/.well-known/jwks.json`,
    issuer: options.issuer,
    audience: options.audience,
    algorithms: ['ES256'],
    maxAgeSeconds: 60,
    clockToleranceSeconds: STATEMENT_CLOCK_TOLERANCE_SECONDS,
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  return async (statement, request) => {
    let claims: jwt.JwtPayload;
    try {
      claims = await verify(statement);
    } catch (err) {
      const expired = err instanceof jwt.TokenExpiredError;
      throw new VerifierError(
        expired ? 'ERR_PRINCIPAL_STATEMENT_EXPIRED' : 'ERR_PRINCIPAL_STATEMENT_INVALID',
        expired ? 'The statement has expired' : 'The statement did not verify',
      );
    }
    const bound = claims.htm !== undefined || claims.htu !== undefined;
    if (options.requireBound) {
      if (typeof claims.htm !== 'string' || typeof claims.htu !== 'string' || typeof claims.jti !== 'string')
        throw new VerifierError('ERR_PRINCIPAL_STATEMENT_INVALID', 'The statement is not bound to a request');
      if (request === undefined)
        throw new VerifierError(
          'ERR_PRINCIPAL_STATEMENT_INVALID',
          'A bound statement needs the request to check',
        );
    }
    if (
      (bound || options.requireBound) &&
      (request === undefined || claims.htm !== request.method || claims.htu !== withoutQuery(request.url))
    ) {
      throw new VerifierError('ERR_PRINCIPAL_STATEMENT_INVALID', 'The statement is bound to another request');
    }
    if (options.replay !== undefined && options.requireBound) {
      const first = await options.replay.firstUse(
        claims.jti!,
        (claims.exp ?? 0) + STATEMENT_CLOCK_TOLERANCE_SECONDS + 1,
      );
      if (!first) throw new VerifierError('ERR_PRINCIPAL_STATEMENT_INVALID', 'The statement was used before');
    }
    return claims as VerifiedStatement;
  };
}

/** A URL without its query and fragment (RFC 9449 `htu`). */
function withoutQuery(url: string): string {
  const end = url.search(/[?#]/);
  return end === -1 ? url : url.slice(0, end);
}
