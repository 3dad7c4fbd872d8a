/**
 * The audit writer alone: how many rows a second the production path (AuditLog, the writer
 * thread, one REST create per page) stores in the embedded Cosmos DB, in its own process. The
 * queue's bound (AUDIT_DEFAULTS.maxQueue) is sized from this figure and the gateway's top rate.
 * Rounds alternate records with decision inputs (an Entra caller's roles, scopes, groups and the
 * claims policies read, as `gateway replay` needs them) and records of identifiers only.
 */
import { AUDIT_DEFAULTS, AuditLog } from '../src/audit/audit-log';
import type { AuditInput } from '../src/audit/audit-record';
import { AuditWorkerSink } from '../src/audit/audit-worker-sink';
import { systemClock } from '../src/clock';
import { startEmbeddedCosmos } from '../src/host/local/embedded-cosmos';
import { createJsonLogger } from '../src/logger';
import { CONTAINERS, createCosmosClient, ensureContainers } from '../src/store/cosmos';
import { median } from './load';

/** A full queue: more would be dropped (and counted as dropped), not stored. */
const ROWS = AUDIT_DEFAULTS.maxQueue;
const ROUNDS = 3;

/** What an Entra reader's record keeps for replay (src/audit/audit-record.ts). */
const INPUTS = {
  decided: 'allow',
  reason: 'ALLOWED',
  roles: ['Orders.Reader'],
  scopes: ['access_as_user'],
  groups: ['5b1e7c1a-0000-4000-8000-00000000b10c', '2b1e7c1a-0000-4000-8000-0000000c0de5'],
  idtyp: 'user',
  claims: { oid: '0d5e1f3a-7b2c-4d8e-9f10-a1b2c3d4e5f6', amr: ['pwd', 'mfa'] },
} as const;

const input = (n: number, withInputs: boolean): AuditInput => ({
  correlationId: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
  operation: 'proxy',
  oid: `user-${n % 500}`,
  tid: '9f1c2c3e-0d1a-4b7e-9c55-2f0c6d1e7a01',
  azp: '5e7d1a2b-0000-4000-8000-000000000001',
  credential: 'entra',
  inputs: withInputs ? INPUTS : null,
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
    const rates = { inputs: [] as number[], identifiers: [] as number[] };
    for (let round = 0; round <= ROUNDS; round++) {
      for (const kind of ['inputs', 'identifiers'] as const) {
        for (let i = 0; i < ROWS; i++) log.record(input(round * ROWS + i, kind === 'inputs'));
        const started = performance.now();
        if (!(await log.flush())) throw new Error('an audit write failed');
        // Round 0 starts the thread and its connections: not counted.
        if (round > 0) rates[kind].push(Math.round(ROWS / ((performance.now() - started) / 1000)));
      }
    }
    const { dropped, failedWrites } = log.stats;
    return {
      [`rows stored per second, with decision inputs (${ROWS} queued at once, median of ${ROUNDS})`]: median(
        rates.inputs,
      ),
      [`rows stored per second, identifiers only (the same, alternating)`]: median(rates.identifiers),
      'rounds (rows/s, with inputs)': rates.inputs.join(', '),
      'rounds (rows/s, identifiers only)': rates.identifiers.join(', '),
      'dropped / failed writes': `${dropped} / ${failedWrites}`,
    };
  } finally {
    await log.close();
    client.dispose();
    await cosmos.close();
  }
}
