/**
 * The audit writer's thread: it owns a Cosmos DB client of its own and turns the rows the
 * request thread sends into stored pages (see {@link AuditWorkerSink}). Nothing else runs here.
 *
 * Protocol: the parent posts `{ n, rows }` one batch at a time and gets `{ n }` once every row is
 * stored, or `{ n, error }` when the write failed (the parent keeps the rows and retries).
 */
import { Agent } from 'node:https';
import { parentPort, workerData } from 'node:worker_threads';
import { describeError } from '../logger';
import { createCosmosClient } from '../store/cosmos';
import type { AuditRow } from './audit-record';
import type { AuditWorkerData, AuditWorkerReply, AuditWorkerRequest } from './audit-worker-sink';
import { CosmosAuditStore } from './cosmos-audit-store';

const data = workerData as AuditWorkerData;
const port = parentPort!;

const store = createCosmosClient(
  data.cosmos,
  data.ca === undefined ? {} : { agent: new Agent({ ca: data.ca, keepAlive: true }) },
).then((client) => new CosmosAuditStore(client.database(data.cosmos.database).container(data.container)));

async function write(rows: readonly AuditRow[]): Promise<void> {
  await (await store).write(rows);
}

port.on('message', ({ n, rows }: AuditWorkerRequest) => {
  write(rows).then(
    () => port.postMessage({ n } satisfies AuditWorkerReply),
    (err: unknown) => port.postMessage({ n, error: describeError(err) } satisfies AuditWorkerReply),
  );
});
