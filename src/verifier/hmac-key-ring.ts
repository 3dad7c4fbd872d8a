/**
 * A named set of HMAC-SHA256 keys: the first signs, every one verifies (rotation). Checked
 * eagerly: a ring that could never verify anything is a configuration error, not a 401 later.
 */
import { createSecretKey, type KeyObject } from 'node:crypto';

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

/** Key names as `SAS_SIGNING_KEYS` allows them, and as the SAS `skn` / statement `kid` carry them. */
export const KEY_NAME_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

/** Shortest secret accepted: one SHA-256 output of entropy. */
export const MIN_SECRET_BYTES = 32;

const BASE64_TEXT = /^[A-Za-z0-9+/_-]+={0,2}$/;

function secretBytes(name: string, secret: Uint8Array | string): Buffer {
  if (typeof secret !== 'string') return Buffer.from(secret);
  if (!BASE64_TEXT.test(secret)) throw new TypeError(`keys: the secret of "${name}" is not base64`);
  return Buffer.from(secret, /[-_]/.test(secret) ? 'base64url' : 'base64');
}

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
    for (const input of keys) {
      if (typeof input?.name !== 'string' || !KEY_NAME_PATTERN.test(input.name)) {
        throw new TypeError('keys: every key needs a name of 1 to 64 of A-Z a-z 0-9 . _ -');
      }
      if (byName.has(input.name)) throw new TypeError(`keys: the name "${input.name}" appears twice`);
      const bytes = secretBytes(input.name, input.secret);
      if (bytes.length < MIN_SECRET_BYTES) {
        throw new TypeError(`keys: the secret of "${input.name}" is shorter than ${MIN_SECRET_BYTES} bytes`);
      }
      byName.set(input.name, { name: input.name, key: createSecretKey(bytes) });
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
