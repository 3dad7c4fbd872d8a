/**
 * A named set of HMAC-SHA256 keys: the first signs, every one verifies (rotation). Checked
 * eagerly: a ring that could never verify anything is a configuration error, not a 401 later.
 */
import { createSecretKey, type KeyObject } from 'node:crypto';
import { decodeSecret, KEY_NAME_PATTERN, MIN_SECRET_BYTES, signingKeyProblem } from '../config/signing-keys';

/** A key as configured: `SAS_SIGNING_KEYS` holds `name=base64secret` pairs. */
export interface SigningKeyInput {
  readonly name: string;
  /** The raw secret bytes, or their base64 / base64url text. */
  readonly secret: Uint8Array | string;
}

/** A usable key: its name and a ready KeyObject (no per-call key import on the hot path). */
export interface HmacKey {
  readonly name: string;
  readonly key: KeyObject;
}

export { KEY_NAME_PATTERN, MIN_SECRET_BYTES };

/**
 * The key ring. Build it once (at start-up) and reuse it.
 *
 * @example
 * ```ts
 * const ring = new HmacKeyRing([{ name: 'k2', secret: process.env.K2! }, { name: 'k1', secret: process.env.K1! }]);
 * ring.signing.name; // 'k2'
 * ring.get('k1');    // verifies tokens signed before the rotation
 * ```
 * @throws {TypeError} no keys, a bad or repeated name, or a secret shorter than 32 bytes.
 */
export class HmacKeyRing {
  /** The key that signs. */
  readonly signing: HmacKey;
  private readonly byName: ReadonlyMap<string, HmacKey>;

  constructor(keys: readonly SigningKeyInput[]) {
    if (typeof keys !== 'object' || keys === null || keys.length === 0) {
      throw new TypeError('keys: expected at least one key');
    }
    const byName = new Map<string, HmacKey>();
    const names = new Set<string>();
    for (const [index, input] of keys.entries()) {
      const name = typeof input?.name === 'string' ? input.name : '';
      const secret =
        typeof input?.secret === 'string' ? decodeSecret(input.secret) : Buffer.from(input?.secret ?? []);
      const problem = signingKeyProblem(name, secret, names);
      if (problem !== undefined) throw new TypeError(`keys: key ${index + 1}: ${problem}`);
      names.add(name);
      byName.set(name, { name, key: createSecretKey(secret!) });
    }
    this.byName = byName;
    this.signing = byName.get(keys[0]!.name)!;
  }

  /** The key named `name`, or undefined (an unknown `skn` / `kid`). */
  get(name: string): HmacKey | undefined {
    return this.byName.get(name);
  }

  /** Key names, signing key first. */
  get names(): string[] {
    return [...this.byName.keys()];
  }

  /** A ring from keys or an existing ring (options of the verify functions accept both). */
  static from(keys: HmacKeyRing | readonly SigningKeyInput[]): HmacKeyRing {
    return keys instanceof HmacKeyRing ? keys : new HmacKeyRing(keys);
  }
}
