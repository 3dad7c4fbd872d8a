/**
 * Private keys the local stack keeps under `.local/` (PKCS#8 PEM, mode 0600) so that what they
 * sign stays valid across runs: the dev identity provider's token key and the gateway's
 * statement key.
 */
import { createECDH, createHash, createPrivateKey, type KeyObject } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { generateStatementKey, type StatementKey } from '../../config/signing-keys';

/** Where `npm start` keeps the statement key (relative to the cwd). */
export const LOCAL_STATEMENT_KEY_FILE = '.local/gateway-statement/signing-key.pem';

/**
 * The private key in `file`, or a new one from `generate` written there when the file is absent.
 * Two processes racing to create it both end up with the key that was written first.
 */
export function loadOrCreatePrivateKey(file: string, generate: () => KeyObject): KeyObject {
  const read = () => createPrivateKey(readFileSync(file, 'utf8'));
  try {
    return read();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const key = generate();
  mkdirSync(dirname(file), { recursive: true });
  try {
    writeFileSync(file, key.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600, flag: 'wx' });
    return key;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return read();
  }
}

/** The statement key in `file` (named `local`), created when absent. */
export function loadOrCreateStatementKey(file: string): StatementKey {
  const key = loadOrCreatePrivateKey(file, () =>
    createPrivateKey({ key: generateStatementKey('local').der, format: 'der', type: 'pkcs8' }),
  );
  return { name: 'local', der: key.export({ format: 'der', type: 'pkcs8' }) };
}

/**
 * The dev-only statement key of `local.settings.sample.json` (`func start` with `npm run
 * dev:deps`): derived from a fixed, public seed, so it is plainly no secret and the sample file
 * can be checked against it. Never configure it in Azure.
 */
export function devStatementKey(): StatementKey {
  const d = createHash('sha256').update('DEV-ONLY gateway statement key: never use in Azure').digest();
  const ecdh = createECDH('prime256v1');
  ecdh.setPrivateKey(d);
  const point = ecdh.getPublicKey();
  const key = createPrivateKey({
    key: {
      kty: 'EC',
      crv: 'P-256',
      d: d.toString('base64url'),
      x: point.subarray(1, 33).toString('base64url'),
      y: point.subarray(33).toString('base64url'),
    },
    format: 'jwk',
  });
  return { name: 'dev-only', der: key.export({ format: 'der', type: 'pkcs8' }) };
}
