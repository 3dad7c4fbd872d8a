/**
 * The audit writer's thread: it owns a connection pool of its own to Cosmos DB and turns the rows
 * the request thread sends into stored pages (see {@link AuditWorkerSink}). Nothing else runs here.
 *
 * Protocol: the parent posts `{ n, rows }` one batch at a time and gets `{ n }` once every row is
 * stored, or `{ n, error }` when the write failed (the parent keeps the rows and retries).
 */
import type { TokenCredential } from '@azure/core-auth';
import { parentPort, workerData } from 'node:worker_threads';
import { systemClock } from '../clock';
import { describeError } from '../logger';
import { CosmosDocuments } from '../store/cosmos-documents';
import type { AuditWorkerData, AuditWorkerReply, AuditWorkerRequest } from './audit-worker-sink';
import { restAuditWriter } from './cosmos-audit-store';

const data = workerData as AuditWorkerData;
const port = parentPort!;

/** The Function App's managed identity when there is no key: `@azure/identity`, loaded on first use. */
let credential: Promise<TokenCredential> | undefined;
const loadCredential = () =>
  (credential ??= import('@azure/identity').then(
    ({ DefaultAzureCredential }) => new DefaultAzureCredential(),
    (err: unknown) => {
      credential = undefined;
      throw err;
    },
  ));

// Pages are created over the REST API (src/store/cosmos-documents.ts): the SDK is never loaded here.
const documents = new CosmosDocuments({
  endpoint: data.cosmos.endpoint,
  database: data.cosmos.database,
  auth: data.cosmos.key !== undefined ? { key: data.cosmos.key } : { credential: loadCredential },
  clock: systemClock,
  ca: data.ca,
});

const write = restAuditWriter(documents, data.container);

port.on('message', ({ n, rows }: AuditWorkerRequest) => {
  write(rows).then(
    () => port.postMessage({ n } satisfies AuditWorkerReply),
    (err: unknown) => port.postMessage({ n, error: describeError(err) } satisfies AuditWorkerReply),
  );
});
