import { extname, join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Config } from '../config/load-config';
import type { AuditSink } from './audit-log';
import type { AuditRow } from './audit-record';

/** What the writer thread needs to reach the audit container: plain data, copied to the thread. */
export interface AuditWorkerData {
  readonly cosmos: Config['cosmos'];
  readonly container: string;
  /** A CA (PEM) the endpoint's certificate chains to: the local stack's; absent in Azure. */
  readonly ca?: string | undefined;
}

/** One batch to store, numbered. */
export interface AuditWorkerRequest {
  readonly n: number;
  readonly rows: readonly AuditRow[];
}

/** The answer to batch `n`: stored, or the error that stopped it. */
export interface AuditWorkerReply {
  readonly n: number;
  readonly error?: Record<string, unknown>;
}

/**
 * From sources (ts-jest), the writer thread compiles the gateway's TypeScript modules as it
 * requires them, with TypeScript's own `transpileModule`; from `dist/` or the bundle it runs the
 * compiled `audit-worker.js`, and TypeScript is never loaded.
 */
const FROM_SOURCES = `
const { readFileSync } = require('node:fs');
const { createRequire } = require('node:module');
const { workerData } = require('node:worker_threads');
const ts = createRequire(workerData.entry)('typescript');
require.extensions['.ts'] = (module, file) => {
  const out = ts.transpileModule(readFileSync(file, 'utf8'), {
    fileName: file,
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
  });
  module._compile(out.outputText, file);
};
require(workerData.entry);
`;

/**
 * The production audit sink: Cosmos DB writes on a `worker_thread` of their own.
 *
 * Why a thread: writing a page is JSON, request signing, TLS and retries, and on the request
 * thread (with the SDK) it cost ~75 µs per request under load, between requests that were
 * waiting (docs/performance.md). The request thread only builds a flat row per decision and posts
 * a batch a second; the thread owns its own connections and creates each page with one REST call
 * (src/store/cosmos-documents.ts). The {@link AuditLog} in front keeps the
 * contract: a bounded queue that drops and counts, retries, and a flush on graceful shutdown that
 * waits for this sink's acknowledgement of every row.
 *
 * The thread starts on the first write, holds the process open only while a write is pending,
 * and is started again after it dies (its pending writes fail and are retried).
 */
export class AuditWorkerSink implements AuditSink {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, { resolve: () => void; reject: (err: Error) => void }>();
  private next = 0;

  constructor(private readonly data: AuditWorkerData) {}

  write(rows: readonly AuditRow[]): Promise<void> {
    const worker = (this.worker ??= this.spawn());
    const n = this.next++;
    return new Promise<void>((resolve, reject) => {
      this.pending.set(n, { resolve, reject });
      if (this.pending.size === 1) worker.ref();
      worker.postMessage({ n, rows } satisfies AuditWorkerRequest);
    });
  }

  /** The writer thread's id while it runs (it starts on the first write). */
  get threadId(): number | undefined {
    return this.worker?.threadId;
  }

  /** Stops the thread; call after the last write was acknowledged (AuditLog.close does). */
  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    await worker?.terminate();
  }

  private spawn(): Worker {
    const fromSources = extname(__filename) === '.ts';
    const entry = join(__dirname, `audit-worker${extname(__filename)}`);
    const worker = fromSources
      ? new Worker(FROM_SOURCES, {
          eval: true,
          workerData: { ...this.data, entry },
        })
      : new Worker(entry, { workerData: this.data });
    worker.unref();
    worker.on('message', ({ n, error }: AuditWorkerReply) => {
      const waiting = this.pending.get(n);
      this.pending.delete(n);
      if (this.pending.size === 0) worker.unref();
      if (error === undefined) waiting?.resolve();
      else waiting?.reject(Object.assign(new Error(String(error.message)), error));
    });
    worker.on('error', (err) => this.failPending(err));
    worker.on('exit', (code) => {
      if (this.worker === worker) this.worker = undefined;
      this.failPending(new Error(`the audit writer thread stopped (exit code ${code})`));
    });
    return worker;
  }

  private failPending(err: Error): void {
    for (const { reject } of this.pending.values()) reject(err);
    this.pending.clear();
  }
}
