/**
 * The one reading of the gateway's key-ring settings: `SAS_SIGNING_KEYS` (`name=base64secret,...`,
 * HMAC secrets) and `STATEMENT_SIGNING_KEYS` (`name=base64(PKCS#8 DER),...`, EC P-256 private
 * keys). Key names, the base64 rule and the size and type rules live here once; the first key of
 * a ring signs, every key verifies (or is published).
 */
import { createPrivateKey, generateKeyPairSync } from 'node:crypto';

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
  for (const [index, pair] of keyPairs(value).entries()) {
    const secret = decodeSecret(pair.encoded);
    const problem = signingKeyProblem(pair.name, secret, names);
    if (problem !== undefined) throw new TypeError(`key ${index + 1}: ${problem}`);
    names.add(pair.name);
    keys.push({ name: pair.name, secret: secret! });
  }
  if (keys.length === 0) throw new TypeError('expected at least one name=base64secret pair');
  return keys;
}

/** The `name=value` pairs of a comma list (blank items skipped). */
function keyPairs(value: string): { name: string; encoded: string }[] {
  return value
    .split(',')
    .map((pair) => pair.trim())
    .filter((pair) => pair.length > 0)
    .map((pair) => {
      const eq = pair.indexOf('=');
      return eq > 0 ? { name: pair.slice(0, eq), encoded: pair.slice(eq + 1) } : { name: '', encoded: '' };
    });
}

/** A statement signing key as configured: its name (the JWT `kid`) and PKCS#8 DER bytes. */
export interface StatementKey {
  readonly name: string;
  /** EC P-256 private key, PKCS#8 DER. */
  readonly der: Buffer;
}

/** A fresh EC P-256 statement key named `name` (local runs without the setting). */
export function generateStatementKey(name: string): StatementKey {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { name, der: privateKey.export({ format: 'der', type: 'pkcs8' }) };
}

/** The setting value (`name=base64 DER`) of statement keys. */
export function statementKeySetting(keys: readonly StatementKey[]): string {
  return keys.map((k) => `${k.name}=${k.der.toString('base64')}`).join(',');
}

/**
 * Parses `STATEMENT_SIGNING_KEYS`: `name=base64(PKCS#8 DER)` pairs of EC P-256 private keys (ES256).
 *
 * @throws {TypeError} naming the pair at fault, never echoing the key
 * @example
 * ```ts
 * const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
 * parseStatementKeySetting(`s1=${privateKey.export({ format: 'der', type: 'pkcs8' }).toString('base64')}`);
 * ```
 */
export function parseStatementKeySetting(value: string): StatementKey[] {
  const keys: StatementKey[] = [];
  const names = new Set<string>();
  for (const [index, pair] of keyPairs(value).entries()) {
    const fail = (why: string) => new TypeError(`key ${index + 1}: ${why}`);
    if (!KEY_NAME_PATTERN.test(pair.name))
      throw fail('expected name=base64(PKCS#8 DER) with a name of [A-Za-z0-9._-]');
    if (names.has(pair.name)) throw fail(`name "${pair.name}" appears twice`);
    const der = decodeSecret(pair.encoded);
    if (der === undefined) throw fail(`key "${pair.name}" is not base64`);
    let curve: string | undefined;
    try {
      curve = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }).asymmetricKeyDetails?.namedCurve;
    } catch {
      throw fail(`key "${pair.name}" is not a PKCS#8 private key`);
    }
    if (curve !== 'prime256v1') throw fail(`key "${pair.name}" is not an EC P-256 key (ES256)`);
    names.add(pair.name);
    keys.push({ name: pair.name, der });
  }
  if (keys.length === 0) throw new TypeError('expected at least one name=base64(PKCS#8 DER) pair');
  return keys;
}
