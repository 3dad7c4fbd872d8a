/**
 * A DPoP client key for the tests (jest cannot load the ESM `dpop` package: the
 * interoperability tests with it and oauth4webapi are test/esm/dpop-clients.test.mjs). Proofs
 * are made as RFC 9449 section 4.2 says; a test may change any part to make a hostile one.
 */
import { constants, createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { jwkThumbprint } from '../../src/dpop/dpop-proof';

/** The algorithms a test key can sign with. */
export type TestDpopAlgorithm = 'ES256' | 'ES384' | 'RS256' | 'PS256' | 'EdDSA';

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
  /** Changes the signature's bytes (a tampered proof). */
  readonly signature?: (signature: Buffer) => Buffer;
}

export class DpopKey {
  readonly jwk: Record<string, unknown>;
  /** RFC 7638 thumbprint: what a bound token's `jkt` is. */
  readonly jkt: string;

  private constructor(
    readonly alg: TestDpopAlgorithm,
    private readonly privateKey: KeyObject,
    publicKey: KeyObject,
  ) {
    this.jwk = publicKey.export({ format: 'jwk' });
    this.jkt = jwkThumbprint(this.jwk);
  }

  /** A new key pair; `rsaBits` only for RS256 / PS256 (default 2048). */
  static generate(alg: TestDpopAlgorithm = 'ES256', rsaBits = 2048): DpopKey {
    const { privateKey, publicKey } =
      alg === 'EdDSA'
        ? generateKeyPairSync('ed25519')
        : alg === 'RS256' || alg === 'PS256'
          ? generateKeyPairSync('rsa', { modulusLength: rsaBits })
          : generateKeyPairSync('ec', { namedCurve: alg === 'ES384' ? 'P-384' : 'P-256' });
    return new DpopKey(alg, privateKey, publicKey);
  }

  /** A signed proof. */
  proof(options: ProofOptions): string {
    const header = { typ: 'dpop+jwt', alg: this.alg, jwk: this.jwk, ...options.header };
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
    const signature = this.sign(Buffer.from(input));
    return `${input}.${(options.signature ?? ((s) => s))(signature).toString('base64url')}`;
  }

  private sign(data: Buffer): Buffer {
    const key = this.privateKey;
    switch (this.alg) {
      case 'EdDSA':
        return sign(null, data, key);
      case 'PS256':
        return sign('sha256', data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 });
      case 'RS256':
        return sign('sha256', data, key);
      default:
        return sign(this.alg === 'ES384' ? 'sha384' : 'sha256', data, { key, dsaEncoding: 'ieee-p1363' });
    }
  }
}

const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
