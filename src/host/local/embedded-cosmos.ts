import { spawn } from 'node:child_process';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { Agent } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { createHttpsServer } from '@vercel/cosmosdb-server';
import { generate } from 'selfsigned';

/**
 * The account key of the embedded server: any base64 value works, since the server checks no
 * signatures; the SDK still needs one to sign with. Dev only, and named so.
 */
export const EMBEDDED_COSMOS_KEY = Buffer.from(
  'dev-only dummy key: the embedded server checks none',
).toString('base64');

/** Where the local stack keeps its certificate authority; `NODE_EXTRA_CA_CERTS` points at `ca.pem`. */
export const EMBEDDED_COSMOS_CERT_DIR = '.local/embedded-cosmos';

/** The port the Cosmos DB emulator uses, so `local.settings.sample.json` works with `npm run dev:deps`. */
export const EMBEDDED_COSMOS_PORT = 8081;

/** A certificate authority and the server certificate it signed for the loopback names. */
export interface LocalCertificate {
  /** PEM of the certificate authority: the only thing a client needs to trust. */
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
}

/** A running embedded Cosmos DB (NoSQL protocol) server. */
export interface EmbeddedCosmos {
  /** `https://127.0.0.1:<port>` */
  readonly endpoint: string;
  readonly key: string;
  /** PEM of the certificate authority that signed the server's certificate. */
  readonly ca: string;
  /** Trusts `ca` only, with keep-alive: pass it to `createCosmosClient`. */
  readonly agent: Agent;
  /** The process the server runs in: this one, or its own child when `isolated`. */
  readonly pid: number;
  /**
   * Moves the database's clock (the one that stamps `_ts`) by `seconds` from real time, as a real
   * account's clock is its own and not the gateway's. Tests use it to write at chosen `_ts`
   * values (the same second, later, even earlier than a write already seen) without waiting.
   * Only an `isolated` server has a clock of its own; inline, this rejects.
   */
  setClockOffset(seconds: number): Promise<void>;
  close(): Promise<void>;
}

export interface StartEmbeddedCosmosOptions {
  /** 0 (default) picks a free port. */
  port?: number;
  host?: string;
  /** Where the certificate authority is kept and reused; default `.local/embedded-cosmos` under the cwd. */
  certDir?: string;
  /**
   * Run the server in a child process of its own, as a real database runs apart from the
   * gateway. Why: the embedded server parses, stores and scans every document on the event loop
   * of the process it runs in; inline, that work (and the heap of everything stored) lands on the
   * gateway's own loop and garbage collector. The child exits with its parent. Default false
   * (tests: no process to start).
   */
  isolated?: boolean;
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

/**
 * Starts `@vercel/cosmosdb-server` over HTTPS with a certificate from the local CA. The returned
 * agent trusts that CA and nothing else: TLS verification stays on end to end.
 *
 * @example
 * const cosmos = await startEmbeddedCosmos();
 * const client = await createCosmosClient({ endpoint: cosmos.endpoint, key: cosmos.key, database: 'gateway' }, { agent: cosmos.agent });
 */
export async function startEmbeddedCosmos(options: StartEmbeddedCosmosOptions = {}): Promise<EmbeddedCosmos> {
  const host = options.host ?? '127.0.0.1';
  const certificate = await ensureLocalCertificate(resolve(options.certDir ?? EMBEDDED_COSMOS_CERT_DIR));
  const listening = options.isolated
    ? await listenInChild(certificate, options.port ?? 0, host)
    : await listenInline(certificate, options.port ?? 0, host);
  const agent = new Agent({ ca: certificate.ca, keepAlive: true });
  const urlHost = host.includes(':') ? `[${host}]` : host;
  let closed: Promise<void> | undefined;
  return {
    endpoint: `https://${urlHost}:${listening.port}`,
    key: EMBEDDED_COSMOS_KEY,
    ca: certificate.ca,
    agent,
    pid: listening.pid,
    setClockOffset: (seconds) => listening.setClockOffset(seconds),
    close() {
      closed ??= (async () => {
        agent.destroy();
        await listening.close();
      })();
      return closed;
    },
  };
}

interface Listening {
  readonly port: number;
  readonly pid: number;
  setClockOffset(seconds: number): Promise<void>;
  close(): Promise<void>;
}

/** The server options: the library defaults to TLSv1, and `keepAlive` makes it answer keep-alive. */
function serverOptions(certificate: LocalCertificate) {
  return { cert: certificate.cert, key: certificate.key, minVersion: 'TLSv1.2', keepAlive: true } as const;
}

async function listenInline(certificate: LocalCertificate, port: number, host: string): Promise<Listening> {
  const server = createHttpsServer(serverOptions(certificate));
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolveListen();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    pid: process.pid,
    setClockOffset: () =>
      Promise.reject(new Error('the inline embedded Cosmos DB shares this process clock; start it isolated')),
    close: () =>
      new Promise<void>((done) => {
        server.close(() => done());
        server.closeAllConnections();
      }),
  };
}

/**
 * The child's whole program. Plain CommonJS passed with `-e`, so it runs the same under ts-jest
 * and from `dist/`: it gets the library's resolved path and the server options over IPC, answers
 * with the port, and exits when its parent disconnects (including when the parent dies). Ctrl-C
 * reaches the whole process group: the child ignores it and lets the parent shut down first, so
 * the parent's last audit flush still has a database to write to. Its `Date.now` (which stamps
 * `_ts`) runs at an offset from real time that the parent sets over IPC ({@link EmbeddedCosmos.setClockOffset}).
 */
const CHILD_PROGRAM = `
const realNow = Date.now;
let offsetMs = 0;
Date.now = () => realNow() + offsetMs;
process.once('message', ({ library, options, port, host }) => {
  const server = require(library).createHttpsServer(options);
  server.once('error', (err) => process.send({ error: String(err) }));
  server.listen(port, host, () => process.send({ port: server.address().port }));
  process.on('message', (message) => {
    if (typeof message.offsetMs !== 'number') return;
    offsetMs = message.offsetMs;
    process.send({ clock: offsetMs });
  });
});
process.on('disconnect', () => process.exit(0));
process.on('SIGINT', () => {});
process.on('SIGTERM', () => {});
`;

async function listenInChild(certificate: LocalCertificate, port: number, host: string): Promise<Listening> {
  const child = spawn(process.execPath, ['-e', CHILD_PROGRAM], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  try {
    const reply = await new Promise<{ port?: number; error?: string }>((resolveReply, reject) => {
      child.once('message', resolveReply);
      child.once('exit', (code) => reject(new Error(`embedded Cosmos DB process exited (${code})`)));
      child.send({
        library: require.resolve('@vercel/cosmosdb-server'),
        options: serverOptions(certificate),
        port,
        host,
      });
    });
    if (reply.port === undefined) throw new Error(`embedded Cosmos DB: ${reply.error ?? 'no port'}`);
    return {
      port: reply.port,
      pid: child.pid!,
      setClockOffset: (seconds) =>
        new Promise<void>((done, fail) => {
          const onMessage = (message: { clock?: number }) => {
            if (message.clock !== seconds * 1000) return;
            child.off('message', onMessage);
            done();
          };
          child.on('message', onMessage);
          child.send({ offsetMs: seconds * 1000 }, (err) => {
            if (err) {
              child.off('message', onMessage);
              fail(err);
            }
          });
        }),
      close: async () => {
        if (child.connected) child.disconnect();
        await exited;
      },
    };
  } catch (err) {
    child.kill('SIGKILL'); // it ignores SIGTERM (see CHILD_PROGRAM)
    throw err;
  }
}
