/**
 * `gateway replay` at scale (docs/policy-analysis.md): 1,000,000 recorded decisions, made by the
 * gateway's own decision under a realistic 1,000-policy set (bench/check-access.ts) for 5,000
 * users and stored as the writer thread stores them (pages per `<day>:<bucket>` partition, in
 * 5,000-record batches, 24 hours of traffic) in the embedded Cosmos DB; then read back through the
 * audit store's window query (what `GET /api/audit` runs) and replayed under the same set with one
 * widening policy. Reports records per second read and decided, and what a one-hour window costs
 * next to the whole day (queries, pages).
 */
import { systemClock } from '../src/clock';
import { auditInputsOf, toAuditRow, type AuditRecord, type AuditRow } from '../src/audit/audit-record';
import { CosmosAuditStore, restAuditWriter } from '../src/audit/cosmos-audit-store';
import { decisionSnapshot, replayRecords, Replayer } from '../src/analysis/replay';
import { authorize } from '../src/decision/authorize';
import { startEmbeddedCosmos } from '../src/host/local/embedded-cosmos';
import { parsePolicy, type Policy } from '../src/policy/model';
import { subjectFromClaims } from '../src/policy/subject';
import { CONTAINERS, createCosmosClient, ensureContainers } from '../src/store/cosmos';
import { CosmosDocuments } from '../src/store/cosmos-documents';
import { prng } from '../loadtest/random';
import { realisticPolicies } from './check-access';

const RECORDS = Number(process.env.BENCH_REPLAY_RECORDS ?? 1_000_000);
const USERS = 5000;
const BATCH = 5000;
const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;

/** `count` records of one day ending at `end`, in time order, decided under `policies`. */
function traffic(policies: readonly Policy[], count: number, end: number): AuditRow[] {
  const rand = prng(11);
  const snapshot = decisionSnapshot(
    policies,
    Array.from({ length: 20 }, (_, i) => ({ name: `res-${i}` })),
  );
  const subjects = Array.from({ length: USERS }, (_, u) =>
    subjectFromClaims({
      oid: `00000000-0000-4000-8000-${String(u).padStart(12, '0')}`,
      tid: '9f1c2c3e-0d1a-4b7e-9c55-2f0c6d1e7a01',
      azp: 'c0ffee00-1234-4abc-8def-000000000001',
      scp: 'access_as_user',
      roles: [`res-${u % 20}.${['Reader', 'Writer', 'Admin'][u % 3]}`, `res-${(u * 7) % 20}.Reader`],
      ...(u % 4 === 0 ? { ctry: ['NL', 'DE', 'US'][u % 3] } : {}),
    }),
  );
  const actions = ['read', 'read', 'read', 'create', 'write', 'delete'] as const;
  const rows: AuditRow[] = [];
  for (let i = 0; i < count; i++) {
    const subject = subjects[Math.floor(rand() * USERS)]!;
    const resource = `res-${Math.floor(rand() * 20)}`;
    const action = actions[Math.floor(rand() * actions.length)]!;
    const path =
      rand() < 0.5 ? `/customers/${subject.oid}/orders` : `/customers/${Math.floor(rand() * 100)}/orders/1`;
    const decision = authorize(snapshot, subject, { resource, action, path });
    const at = end - DAY_MS + Math.floor((i / count) * DAY_MS);
    rows.push(
      toAuditRow(
        {
          correlationId: `c-${i}`,
          operation: 'authorize',
          oid: subject.oid ?? null,
          tid: subject.tid,
          azp: subject.azp ?? null,
          credential: 'entra',
          resource,
          action,
          path,
          decision: decision.decision,
          policies: decision.policies,
          reasonCode: decision.reasonCode,
          status: 200,
          latencyMs: 1,
          inputs: auditInputsOf(subject, snapshot.index.claimsRead, decision, false),
        },
        at,
      ),
    );
  }
  return rows;
}

/** Every record of `[fromMs, toMs]`, 5,000 at a time, as the API pages them. */
async function readWindow(store: CosmosAuditStore, fromMs: number, toMs: number): Promise<AuditRecord[]> {
  const records: AuditRecord[] = [];
  let cursor: string | undefined;
  do {
    const page = await store.query({ fromMs, toMs, limit: 5000, cursor });
    records.push(...page.items);
    cursor = page.next;
  } while (cursor !== undefined);
  return records;
}

export async function benchReplay(): Promise<Record<string, number | string>> {
  const policies = realisticPolicies(1000);
  const widening = parsePolicy({
    id: 'p-widening',
    effect: 'allow',
    resource: 'res-3',
    actions: ['read'],
    paths: ['/**'],
  });
  if (!widening.ok) throw new Error(widening.error);
  const end = Date.now();
  const generated = process.hrtime.bigint();
  const rows = traffic(policies, RECORDS, end);
  const generateSeconds = Number(process.hrtime.bigint() - generated) / 1e9;

  const cosmos = await startEmbeddedCosmos({ isolated: true });
  const config = { endpoint: cosmos.endpoint, key: cosmos.key, database: 'bench-replay' };
  const client = await createCosmosClient(config, { agent: cosmos.agent });
  const documents = new CosmosDocuments({
    endpoint: cosmos.endpoint,
    database: config.database,
    auth: { key: cosmos.key },
    clock: systemClock,
    ca: cosmos.ca,
  });
  try {
    await ensureContainers(client, config.database);
    const write = restAuditWriter(documents, CONTAINERS.audit);
    const written = process.hrtime.bigint();
    for (let i = 0; i < rows.length; i += BATCH) await write(rows.slice(i, i + BATCH));
    const writeSeconds = Number(process.hrtime.bigint() - written) / 1e9;
    const store = new CosmosAuditStore(client.database(config.database).container(CONTAINERS.audit));

    const hour = process.hrtime.bigint();
    const lastHour = await readWindow(store, end - HOUR_MS, end);
    const hourSeconds = Number(process.hrtime.bigint() - hour) / 1e9;
    const hourReads = { ...store.reads };

    const read = process.hrtime.bigint();
    const records = await readWindow(store, end - DAY_MS - 1, end);
    const readSeconds = Number(process.hrtime.bigint() - read) / 1e9;
    const dayReads = {
      queries: store.reads.queries - hourReads.queries,
      pages: store.reads.pages - hourReads.pages,
    };
    if (records.length !== RECORDS) throw new Error(`read ${records.length} of ${RECORDS} records`);

    const resources = Array.from({ length: 20 }, (_, i) => ({ name: `res-${i}` }));
    const candidate = new Replayer(decisionSnapshot([...policies, widening.value], resources));
    // Twice: the first run warms the evaluator; the second is reported.
    replayRecords(records, candidate, { from: '', to: '' });
    const report = replayRecords(records, candidate, { from: '', to: '' });
    const replayed = report.unchanged + report.allowToDeny + report.denyToAllow;
    return {
      'records (24 h, 5,000 users, 1,000 policies)': RECORDS,
      'generated (decided by the gateway) in s': Number(generateSeconds.toFixed(1)),
      'stored (pages as the writer thread writes them) in s': Number(writeSeconds.toFixed(1)),
      'read: the whole day, records/s': Math.round(RECORDS / readSeconds),
      'read: the whole day, queries / pages': `${dayReads.queries} / ${dayReads.pages}`,
      'read: the last hour, records': lastHour.length,
      'read: the last hour, queries / pages / s': `${hourReads.queries} / ${hourReads.pages} / ${hourSeconds.toFixed(2)}`,
      'decided (replay under 1,001 policies), records/s': Math.round(RECORDS / report.decideSeconds),
      'replayed / deny -> allow / not replayable': `${replayed} / ${report.denyToAllow} / ${report.notReplayable.total}`,
    };
  } finally {
    await documents.close();
    client.dispose();
    await cosmos.close();
  }
}
