/**
 * The one reading of a key-ring setting (`SAS_SIGNING_KEYS`: `name=base64secret,...`): key names,
 * the base64 rule and the minimum secret size. The gateway's config and the exported verifier
 * both parse with it, so a setting one accepts the other accepts too.
 */

/** Key names as the setting allows them, and as the SAS `skn` / statement `kid` carry them. */
export const KEY_NAME_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

/** Shortest secret accepted: one SHA-256 output of entropy. */
export const MIN_SECRET_BYTES = 32;

/** Padded base64 (`+/`, `=` only at the end, whole quads) or unpadded base64url (`-_`). */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$|^[A-Za-z0-9_-]+$/;

/** A named secret of a key ring, decoded. */
export interface SigningKey {
  readonly name: string;
  readonly secret: Buffer;
}

/** The bytes of a secret written as base64 or base64url, or undefined when it is neither. */
export function decodeSecret(text: string): Buffer | undefined {
  if (text.length === 0 || !BASE64.test(text)) return undefined;
  return Buffer.from(text, text.includes('-') || text.includes('_') ? 'base64url' : 'base64');
}

/**
 * Why one key is unusable, or undefined when it is fine. Never echoes the secret.
 *
 * @param taken names already in the ring
 */
export function signingKeyProblem(
  name: string,
  secret: Buffer | undefined,
  taken: ReadonlySet<string>,
): string | undefined {
  if (!KEY_NAME_PATTERN.test(name)) return 'expected name=base64secret with a name of [A-Za-z0-9._-]';
  if (secret === undefined) return `secret of "${name}" is not base64`;
  if (secret.length < MIN_SECRET_BYTES) {
    return `secret of "${name}" is ${secret.length} bytes; at least ${MIN_SECRET_BYTES} are required`;
  }
  if (taken.has(name)) return `name "${name}" appears twice`;
  return undefined;
}

/**
 * Parses a key-ring setting: comma-separated `name=base64secret` pairs, the first the signing key.
 *
 * @throws {TypeError} naming the pair at fault (`key 2: ...`), never its secret
 * @example
 * ```ts
 * parseSigningKeySetting(`k2=${newSecret},k1=${oldSecret}`); // [{ name: 'k2', secret }, { name: 'k1', secret }]
 * ```
 */
export function parseSigningKeySetting(value: string): SigningKey[] {
  const keys: SigningKey[] = [];
  const names = new Set<string>();
  const pairs = value
    .split(',')
    .map((pair) => pair.trim())
    .filter((pair) => pair.length > 0);
  for (const [index, pair] of pairs.entries()) {
    const eq = pair.indexOf('=');
    const name = eq > 0 ? pair.slice(0, eq) : '';
    const secret = decodeSecret(eq > 0 ? pair.slice(eq + 1) : '');
    const problem = signingKeyProblem(name, secret, names);
    if (problem !== undefined) throw new TypeError(`key ${index + 1}: ${problem}`);
    names.add(name);
    keys.push({ name, secret: secret! });
  }
  if (keys.length === 0) throw new TypeError('expected at least one name=base64secret pair');
  return keys;
}
