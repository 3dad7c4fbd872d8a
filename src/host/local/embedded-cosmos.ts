import { spawn } from 'node:child_process';
import { Agent } from 'node:https';
import type { AddressInfo } from 'node:net';
import { resolve, type PlatformPath } from 'node:path';
import { createHttpsServer } from '@vercel/cosmosdb-server';
import { ensureLocalCertificate, LOCAL_CA_DIR, type LocalCertificate } from './local-certificate';

/**
 * The account key of the embedded server: any base64 value works, since the server checks no
 * signatures; the SDK still needs one to sign with. Dev only, and named so.
 */
export const EMBEDDED_COSMOS_KEY = Buffer.from(
  'dev-only dummy key: the embedded server checks none',
).toString('base64');

/** Where the local stack keeps its certificate authority (see local-certificate.ts). */
export const EMBEDDED_COSMOS_CERT_DIR = LOCAL_CA_DIR;

/** The port the Cosmos DB emulator uses, so `local.settings.sample.json` works with `npm run dev:deps`. */
export const EMBEDDED_COSMOS_PORT = 8081;

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

/**
 * Makes the library answer a document create into a database or container that does not exist
 * as Cosmos DB does: 404 `NotFound` (the library throws there, and answers 500). The create
 * operation is looked up on its module at every call, so wrapping it takes effect whenever it
 * runs. Self-contained (it runs in the isolated server's process from its source text too).
 */
function answerMissingOwnerWith404(library: string): void {
  /* eslint-disable @typescript-eslint/no-require-imports -- the library's own module, by path */
  const path = require('node:path') as PlatformPath;
  const operations = require(path.join(path.dirname(library), 'handler', '_document-operations.js')) as {
    createOperation: ((collection: { read(): unknown }, input: unknown) => unknown) & { ownerChecked?: true };
  };
  /* eslint-enable @typescript-eslint/no-require-imports */
  const create = operations.createOperation;
  if (create.ownerChecked) return;
  const checked = (collection: { read(): unknown }, input: unknown) =>
    collection.read() === undefined
      ? { statusCode: 404, body: { code: 'NotFound', message: 'Owner resource does not exist' } }
      : create(collection, input);
  operations.createOperation = Object.assign(checked, { ownerChecked: true as const });
}

async function listenInline(certificate: LocalCertificate, port: number, host: string): Promise<Listening> {
  answerMissingOwnerWith404(require.resolve('@vercel/cosmosdb-server'));
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
  (${answerMissingOwnerWith404.toString()})(library);
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
