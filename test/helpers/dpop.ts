/**
 * A DPoP client key for the integration tests (jest cannot load the ESM `dpop` package: the
 * interoperability tests with it and oauth4webapi are test/esm/dpop-clients.test.mjs). Proofs
 * are made as RFC 9449 section 4.2 says; a test may change any part to make a hostile one.
 */
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { jwkThumbprint } from '../../src/dpop/dpop-proof';

export interface ProofOptions {
  readonly htm: string;
  readonly htu: string;
  /** The access token the proof comes with: `ath` is its hash. */
  readonly accessToken?: string;
  readonly iat?: number;
  readonly jti?: string;
  /** Members to add to (or, as undefined, remove from) the header and the claims. */
  readonly header?: Record<string, unknown>;
  readonly claims?: Record<string, unknown>;
}

export class DpopKey {
  readonly jwk: Record<string, unknown>;
  /** RFC 7638 thumbprint: what a bound token's `jkt` is. */
  readonly jkt: string;

  private constructor(
    private readonly privateKey: KeyObject,
    publicKey: KeyObject,
  ) {
    this.jwk = publicKey.export({ format: 'jwk' });
    this.jkt = jwkThumbprint(this.jwk);
  }

  static generate(): DpopKey {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    return new DpopKey(privateKey, publicKey);
  }

  /** A signed ES256 proof. */
  proof(options: ProofOptions): string {
    const header = { typ: 'dpop+jwt', alg: 'ES256', jwk: this.jwk, ...options.header };
    const claims = {
      jti: options.jti ?? randomBytes(16).toString('base64url'),
      htm: options.htm,
      htu: options.htu,
      iat: options.iat ?? Math.floor(Date.now() / 1000),
      ...(options.accessToken === undefined
        ? {}
        : { ath: createHash('sha256').update(options.accessToken).digest('base64url') }),
      ...options.claims,
    };
    const input = `${b64(header)}.${b64(claims)}`;
    const signature = sign('sha256', Buffer.from(input), { key: this.privateKey, dsaEncoding: 'ieee-p1363' });
    return `${input}.${signature.toString('base64url')}`;
  }
}

const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
