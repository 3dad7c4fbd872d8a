/**
 * The local stack's certificate authority and the loopback server certificate it signs, shared
 * by every HTTPS server of the stack (the embedded Cosmos DB, the dev identity provider). Made
 * once and reused across runs, so `NODE_EXTRA_CA_CERTS=.local/embedded-cosmos/ca.pem` stays valid
 * for `func start`; clients trust this CA and TLS verification stays on.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generate } from 'selfsigned';

/** Where the local stack keeps its certificate authority; `NODE_EXTRA_CA_CERTS` points at `ca.pem`. */
export const LOCAL_CA_DIR = '.local/embedded-cosmos';

/** A certificate authority and the server certificate it signed for the loopback names. */
export interface LocalCertificate {
  /** PEM of the certificate authority: the only thing a client needs to trust. */
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
}

/** Reissue certificates this long before they expire, so a running stack never outlives them. */
const RENEW_BEFORE_MS = 7 * 24 * 3600 * 1000;
const CERT_LIFETIME_MS = 365 * 24 * 3600 * 1000;
const LOOPBACK_NAMES = { dns: ['localhost'], ip: ['127.0.0.1', '::1'] };

const FILES = { ca: 'ca.pem', caKey: 'ca.key.pem', cert: 'server.pem', key: 'server.key.pem' } as const;

/**
 * Returns the local certificate authority and server certificate from `dir`, issuing new ones
 * when they are missing, about to expire, or do not belong together. Reused across runs so that
 * `NODE_EXTRA_CA_CERTS=.local/embedded-cosmos/ca.pem` stays valid for `func start`.
 */
export async function ensureLocalCertificate(dir: string): Promise<LocalCertificate> {
  const existing = await readCertificate(dir);
  if (existing) return existing;
  const now = Date.now();
  const validity = { notBeforeDate: new Date(now - 60_000), notAfterDate: new Date(now + CERT_LIFETIME_MS) };
  // EC keys: generation is instant, unlike RSA, and every TLS client here speaks ECDSA.
  const ca = await generate([{ name: 'commonName', value: 'entra-functions-gateway local CA' }], {
    ...validity,
    keyType: 'ec',
    algorithm: 'sha256',
    extensions: [
      { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    ],
  });
  const leaf = await generate([{ name: 'commonName', value: 'localhost' }], {
    ...validity,
    keyType: 'ec',
    algorithm: 'sha256',
    ca: { key: ca.private, cert: ca.cert },
    extensions: [
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          ...LOOPBACK_NAMES.dns.map((value) => ({ type: 2 as const, value })),
          ...LOOPBACK_NAMES.ip.map((ip) => ({ type: 7 as const, ip })),
        ],
      },
    ],
  });
  await mkdir(dir, { recursive: true });
  // Each file is replaced atomically; a concurrent run that interleaves is caught by the
  // issuer check in readCertificate next time and simply reissues.
  await writeAtomically(join(dir, FILES.caKey), ca.private, 0o600);
  await writeAtomically(join(dir, FILES.key), leaf.private, 0o600);
  await writeAtomically(join(dir, FILES.cert), leaf.cert, 0o644);
  await writeAtomically(join(dir, FILES.ca), ca.cert, 0o644);
  return { ca: ca.cert, cert: leaf.cert, key: leaf.private };
}

async function writeAtomically(path: string, content: string, mode: number): Promise<void> {
  const temp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  await writeFile(temp, content, { mode });
  await rename(temp, path);
}

async function readCertificate(dir: string): Promise<LocalCertificate | undefined> {
  try {
    const [ca, cert, key] = await Promise.all(
      [FILES.ca, FILES.cert, FILES.key].map((name) => readFile(join(dir, name), 'utf8')),
    );
    if (ca === undefined || cert === undefined || key === undefined) return undefined;
    const caCert = new X509Certificate(ca);
    const leafCert = new X509Certificate(cert);
    const usableUntil = Date.now() + RENEW_BEFORE_MS;
    const fits =
      caCert.ca &&
      leafCert.checkIssued(caCert) &&
      leafCert.verify(caCert.publicKey) &&
      leafCert.checkPrivateKey(createPrivateKey(key)) &&
      new Date(caCert.validTo).getTime() > usableUntil &&
      new Date(leafCert.validTo).getTime() > usableUntil &&
      LOOPBACK_NAMES.ip.every((ip) => leafCert.checkIP(ip) !== undefined) &&
      LOOPBACK_NAMES.dns.every((name) => leafCert.checkHost(name) !== undefined);
    return fits ? { ca, cert, key } : undefined;
  } catch {
    // Missing or unreadable: issue new ones.
    return undefined;
  }
}
