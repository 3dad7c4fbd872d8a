/**
 * The audit writer alone: how many rows a second the production path (AuditLog, the writer
 * thread, one REST create per page) stores in the embedded Cosmos DB, in its own process. The
 * queue's bound (AUDIT_DEFAULTS.maxQueue) is sized from this figure and the gateway's top rate.
 */
import { AuditLog } from '../src/audit/audit-log';
import type { AuditInput } from '../src/audit/audit-record';
import { AuditWorkerSink } from '../src/audit/audit-worker-sink';
import { systemClock } from '../src/clock';
import { startEmbeddedCosmos } from '../src/host/local/embedded-cosmos';
import { createJsonLogger } from '../src/logger';
import { CONTAINERS, createCosmosClient, ensureContainers } from '../src/store/cosmos';
import { median } from './load';

const ROWS = 60_000;
const ROUNDS = 3;

const input = (n: number): AuditInput => ({
  correlationId: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
  operation: 'proxy',
  oid: `user-${n % 500}`,
  tid: '9f1c2c3e-0d1a-4b7e-9c55-2f0c6d1e7a01',
  azp: '5e7d1a2b-0000-4000-8000-000000000001',
  credential: 'sas',
  inputs: null,
  resource: 'orders',
  action: 'read',
  path: `/customers/${n % 500}/orders`,
  decision: 'allow',
  policies: ['orders-read-own'],
  reasonCode: 'ALLOWED',
  status: 200,
  latencyMs: 1,
});

/** Rows per second stored by the writer thread, a full queue at a time (median of rounds). */
export async function benchAudit(): Promise<Record<string, number | string>> {
  const cosmos = await startEmbeddedCosmos({ isolated: true });
  const config = { endpoint: cosmos.endpoint, key: cosmos.key, database: 'bench-audit' };
  const client = await createCosmosClient(config, { agent: cosmos.agent });
  await ensureContainers(client, config.database);
  const sink = new AuditWorkerSink({ cosmos: config, container: CONTAINERS.audit, ca: cosmos.ca });
  const log = new AuditLog({ sink, clock: systemClock, logger: createJsonLogger({ minLevel: 'warn' }) });
  try {
    const rates: number[] = [];
    for (let round = 0; round <= ROUNDS; round++) {
      for (let i = 0; i < ROWS; i++) log.record(input(round * ROWS + i));
      const started = performance.now();
      if (!(await log.flush())) throw new Error('an audit write failed');
      // Round 0 starts the thread and its connections: not counted.
      if (round > 0) rates.push(Math.round(ROWS / ((performance.now() - started) / 1000)));
    }
    const { dropped, failedWrites } = log.stats;
    return {
      [`rows stored per second (${ROWS} queued at once, median of ${ROUNDS})`]: median(rates),
      'rounds (rows/s)': rates.join(', '),
      'dropped / failed writes': `${dropped} / ${failedWrites}`,
    };
  } finally {
    await log.close();
    client.dispose();
    await cosmos.close();
  }
}
