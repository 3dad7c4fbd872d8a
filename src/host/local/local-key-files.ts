/**
 * Private keys the local stack keeps under `.local/` (PKCS#8 PEM, mode 0600) so that what they
 * sign stays valid across runs: the dev identity provider's token key and the gateway's
 * statement key.
 */
import { createPrivateKey, type KeyObject } from 'node:crypto';
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
