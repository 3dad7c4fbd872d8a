/**
 * The load and soak test (issue #7): the local stack in this process, a seeded mix of decision,
 * token exchange, proxy and admin traffic on loopback, faults injected midway, and a verdict.
 * `npm run loadtest` runs it (run.ts); test/integration/resilience.test.ts runs it small.
 */
import { randomBytes } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Pool } from 'undici';
import { rawPathResolvesDots } from '../src/host/local/http/route-template';
import {
  startGatewayInstance,
  startLocalStack,
  type GatewayInstance,
  type LocalStack,
} from '../src/host/local/local-stack';
import type { Logger, LogLevel } from '../src/logger';
import { auditRecordsOf } from '../src/audit/cosmos-audit-store';
import { CONTAINERS, createCosmosClient, PARTITION_KEYS } from '../src/store/cosmos';
import { DEFAULT_FAULT_PLAN, FaultController, type FaultActions, type FaultPlan } from './faults';
import {
  SCRATCH_RESOURCE,
  Scenario,
  SLOW_RESOURCE,
  type CaseName,
  type Expectation,
  type PlannedRequest,
} from './scenario';
import { RunStats, type Failure, type RouteSummary } from './stats';
import { SwitchableDownstream } from './switchable-downstream';

/** Defaults in one place: a run that fits in about a minute and a half on two cores. */
export const LOADTEST_DEFAULTS = {
  requests: 30_000,
  concurrency: 24,
  seed: 7,
  /** Requests of the mix before the "before" memory sample (at most, 10% of the run). */
  warmupRequests: 3_000,
  memoryGrowthLimitPercent: 20,
  /** The slow resource's `timeoutMs`, and how late the slow downstream answers. */
  resourceTimeoutMs: 1_000,
  slowMs: 1_600,
  /** Gateway instances on the one Cosmos DB; every request goes to one of them at random. */
  instances: 2,
  /** `POLICY_REFRESH_SECONDS` of every instance: short, so a change is due everywhere soon. */
  refreshSeconds: 2,
  /** What a pull may take beyond the refresh interval before a change must be honoured. */
  changeMarginMs: 3_000,
} as const;

export interface LoadTestOptions {
  /** Total requests of the measured run (ignored with `durationSeconds`). */
  readonly requests?: number;
  /** Run for this long instead of a request count. */
  readonly durationSeconds?: number;
  readonly concurrency?: number;
  readonly seed?: number;
  readonly warmupRequests?: number;
  readonly faultPlan?: readonly FaultPlan[];
  readonly memoryGrowthLimitPercent?: number;
  readonly weights?: Partial<Record<CaseName, number>>;
  /** Overrides of the expectation table (a test proves a wrong one is caught). */
  readonly expectations?: Partial<Record<CaseName, Expectation>>;
  readonly resourceTimeoutMs?: number;
  readonly slowMs?: number;
  readonly instances?: number;
  readonly refreshSeconds?: number;
  /** Progress lines (stderr in the CLI). */
  readonly progress?: (line: string) => void;
}

export interface MemorySample {
  readonly heapUsedMB: number;
  readonly rssMB: number;
}

/** What a run found; `exitCode` is 0 only when `verdict.ok`. */
export interface LoadReport {
  readonly verdict: { readonly ok: boolean; readonly reasons: readonly string[] };
  readonly exitCode: number;
  readonly config: {
    readonly requests: number | null;
    readonly durationSeconds: number | null;
    readonly concurrency: number;
    readonly seed: number;
    readonly warmupRequests: number;
    readonly instances: number;
    readonly refreshSeconds: number;
  };
  readonly totals: RunStats['counts'] & { readonly seconds: number; readonly throughputPerSecond: number };
  readonly routes: Readonly<Record<string, RouteSummary>>;
  readonly faults: readonly {
    readonly kind: string;
    readonly fromSeconds: number;
    readonly toSeconds: number | null;
    readonly faultAnswers: number;
  }[];
  readonly memory: {
    readonly gc: boolean;
    readonly before: MemorySample;
    /** Same conditions as `before`: just before Cosmos DB stops (or at the end without that fault). */
    readonly after: MemorySample;
    /** At the very end, with the audit records queued while Cosmos DB is down. */
    readonly end: MemorySample;
    readonly heapGrowthPercent: number;
    readonly limitPercent: number;
    readonly checked: boolean;
  };
  readonly audit: {
    readonly written: number;
    readonly dropped: number;
    readonly queued: number;
    readonly failedWrites: number;
    /**
     * Audit documents in Cosmos DB just before it was stopped (traffic paused, queue flushed),
     * and how many the gateway counted as written since the store was emptied after warm-up:
     * fewer stored than written fails the run.
     */
    readonly storedBeforeCosmosFault: number | null;
    readonly writtenBeforeCosmosFault: number | null;
    /**
     * Requests sent after warm-up (until the trail was read) whose answer is audited, those of them whose record (found by
     * correlation id) is not in Cosmos DB when it is read, and the records the gateways counted as
     * dropped or discarded meanwhile: more missing than counted fails the run.
     */
    readonly auditedRequests: number;
    readonly missingRecords: number;
    readonly countedLosses: number;
  };
  readonly warmup: { readonly requests: number; readonly failures: number };
  /** The gateway's warning and error log lines during the whole run, by level and event. */
  readonly gatewayLog: Readonly<Record<string, number>>;
  /** Calls that reached the switchable downstream, by the mode it was in. */
  readonly slowDownstreamHits: Readonly<Record<string, number>>;
  readonly failures: readonly Failure[];
}

/**
 * Runs the load test and returns its report; never throws for what the gateway answered (that
 * is the verdict), only when the stack cannot start or a fault cannot be injected.
 */
export async function runLoadTest(options: LoadTestOptions = {}): Promise<LoadReport> {
  const concurrency = options.concurrency ?? LOADTEST_DEFAULTS.concurrency;
  const seed = options.seed ?? LOADTEST_DEFAULTS.seed;
  const duration = options.durationSeconds;
  const requests = duration === undefined ? (options.requests ?? LOADTEST_DEFAULTS.requests) : undefined;
  const warmupRequests =
    options.warmupRequests ??
    Math.min(LOADTEST_DEFAULTS.warmupRequests, Math.ceil((requests ?? duration! * 300) / 10));
  const limitPercent = options.memoryGrowthLimitPercent ?? LOADTEST_DEFAULTS.memoryGrowthLimitPercent;
  const plan = options.faultPlan ?? DEFAULT_FAULT_PLAN;
  for (const fault of plan) {
    if (fault.kind === 'cosmos-down' && fault.to < 1) {
      throw new Error(
        'cosmos-down must last to the end of the run: the embedded Cosmos DB cannot restart with its data',
      );
    }
  }
  const say = options.progress ?? (() => undefined);
  const gc = obtainGc();
  const logger = new CountingLogger();

  const slow = await SwitchableDownstream.start(options.slowMs ?? LOADTEST_DEFAULTS.slowMs);
  const instanceCount = options.instances ?? LOADTEST_DEFAULTS.instances;
  const refreshSeconds = options.refreshSeconds ?? LOADTEST_DEFAULTS.refreshSeconds;
  let stack: LocalStack | undefined;
  const others: GatewayInstance[] = [];
  const pools: Pool[] = [];
  try {
    stack = await startLocalStack({
      // Only what the run needs: every other part embedded, on loopback, on free ports.
      env: {
        SAS_SIGNING_KEYS: `lt=${randomBytes(32).toString('base64')}`,
        POLICY_REFRESH_SECONDS: String(refreshSeconds),
      },
      port: 0,
      logger,
      seedDemo: true,
      // The database in its own process, as in Azure: its heap (every document it holds) is not
      // the gateway's, and the memory check measures the gateway alone.
      isolateCosmos: true,
    });
    const gateway = stack.gateway!;
    // More instances on the same database, as Flex Consumption scales out: every change made on
    // one must reach the others, whatever they write themselves meanwhile.
    for (let i = 1; i < instanceCount; i++) others.push(await startGatewayInstance(stack, { logger }));
    const gateways = [gateway, ...others.map((o) => o.gateway)];
    for (const url of [stack.gatewayUrl!, ...others.map((o) => o.url)]) {
      pools.push(new Pool(url, { connections: concurrency, pipelining: 1 }));
    }
    const pool = pools[0]!;
    const audit = {
      flush: () => Promise.all(gateways.map((g) => g.auditLog.flush())),
      written: () => gateways.reduce((sum, g) => sum + g.auditLog.stats.written, 0),
      losses: () =>
        gateways.reduce((sum, g) => sum + g.auditLog.stats.dropped + g.auditLog.stats.discarded, 0),
    };
    const scenario = new Scenario({
      seed,
      idp: stack.idp!,
      adminRole: gateway.config.adminRole,
      instances: instanceCount,
      changeBoundMs: refreshSeconds * 1000 + LOADTEST_DEFAULTS.changeMarginMs,
      ...(options.weights ? { weights: options.weights } : {}),
      ...(options.expectations ? { expectations: options.expectations } : {}),
    });
    await prepare(pool, stack, slow, options.resourceTimeoutMs ?? LOADTEST_DEFAULTS.resourceTimeoutMs);
    // The other instances learn the set-up now rather than on their next refresh.
    await Promise.all(gateways.map((g) => g.state.refresher.refresh()));
    for (const setup of scenario.setupRequests()) {
      const answer = await send(pools, setup);
      setup.settle(answer.status ?? 0, answer.json);
      if (answer.status !== 200) throw new Error(`setup: ${setup.path} answered ${answer.status}`);
    }

    say(`warm-up: ${warmupRequests} requests`);
    const warmStats = new RunStats();
    const traffic = new Traffic();
    await drive(pools, scenario, concurrency, warmStats, traffic, undefined, { requests: warmupRequests });
    await audit.flush();
    await expireAuditDocuments(stack);
    let after: MemorySample | undefined;
    const writtenAtWarmupPurge = audit.written();
    const before = await sampleMemory(gc);

    let storedBeforeCosmosFault: number | null = null;
    let writtenBeforeCosmosFault: number | null = null;
    /** Audited requests of the window whose record is not in Cosmos DB, and the losses counted meanwhile. */
    let missingRecords: readonly string[] = [];
    let countedLosses = 0;
    const ledgerMark = ledger.size;
    const lossesAtMark = audit.losses();
    let checkedRequests = 0;
    const checkTrail = (stored: readonly string[] | null) => {
      if (stored === null) return;
      missingRecords = ledger.missingSince(ledgerMark, stored);
      checkedRequests = ledger.size - ledgerMark;
      countedLosses = audit.losses() - lossesAtMark;
      storedBeforeCosmosFault = stored.length;
    };
    const live = stack;
    const actions: FaultActions = {
      'downstream-slow': { inject: () => slow.setMode('slow'), heal: () => slow.setMode('ok') },
      'downstream-dead': {
        // Late answers of the slow window go out first: killing the server must not cut them.
        inject: async () => {
          await slow.settle();
          await slow.setMode('dead');
        },
        heal: () => slow.setMode('ok'),
      },
      'idp-down': {
        inject: () => Promise.resolve(live.idp!.setAvailable(false)),
        heal: () => Promise.resolve(live.idp!.setAvailable(true)),
      },
      'cosmos-down': {
        inject: async () => {
          // A moment without traffic, so every audit record so far reaches the store and can be
          // counted, and the store can be emptied without racing the audit writer.
          await traffic.quiesce(async () => {
            await audit.flush();
            writtenBeforeCosmosFault = audit.written() - writtenAtWarmupPurge;
            checkTrail(await expireAuditDocuments(live));
            // The leak check's "after": the same conditions as "before" (no traffic, audit
            // flushed, store emptied). Once Cosmos DB is down, audit records queue by design.
            after = await sampleMemory(gc);
            await live.cosmos!.close();
          });
        },
        heal: () => Promise.reject(new Error('the embedded Cosmos DB cannot be restarted')),
      },
    };
    const faults = new FaultController(plan, actions);
    const stats = new RunStats();
    say(
      `run: ${requests === undefined ? `${duration} s` : `${requests} requests`}, ${concurrency} in flight, seed ${seed}`,
    );
    const started = performance.now();
    await drive(
      pools,
      scenario,
      concurrency,
      stats,
      traffic,
      faults,
      requests === undefined ? { seconds: duration! } : { requests },
      say,
    );
    const seconds = (performance.now() - started) / 1000;
    await faults.settled();
    await slow.settle();

    if (after === undefined) {
      await audit.flush();
      writtenBeforeCosmosFault = audit.written() - writtenAtWarmupPurge;
      checkTrail(await expireAuditDocuments(stack));
      after = await sampleMemory(gc);
    }
    const auditStats = gateways.map((g) => g.auditLog.stats);
    const end = await sampleMemory(gc);
    const heapGrowthPercent = round1(((after.heapUsedMB - before.heapUsedMB) / before.heapUsedMB) * 100);

    const reasons: string[] = [];
    const counts = stats.counts;
    const warmFailures =
      warmStats.counts.wrongAllows +
      warmStats.counts.unexpected5xx +
      warmStats.counts.unexpectedStatus +
      warmStats.counts.transportErrors;
    if (counts.wrongAllows > 0) reasons.push(`${counts.wrongAllows} wrong allow(s)`);
    if (counts.unexpected5xx > 0) reasons.push(`${counts.unexpected5xx} unexpected 5xx`);
    if (counts.unexpectedStatus > 0) reasons.push(`${counts.unexpectedStatus} unexpected status(es)`);
    if (counts.transportErrors > 0) reasons.push(`${counts.transportErrors} request(s) without an answer`);
    if (warmFailures > 0) reasons.push(`${warmFailures} failure(s) during warm-up`);
    const stored = storedBeforeCosmosFault as number | null;
    const written = writtenBeforeCosmosFault;
    if (stored !== null && written !== null && stored !== written) {
      reasons.push(`${written} audit record(s) counted as written, ${stored} in Cosmos DB`);
    }
    if (missingRecords.length > countedLosses) {
      reasons.push(
        `${missingRecords.length - countedLosses} audited request(s) without a record that no counter reports ` +
          `(e.g. correlation id ${missingRecords[0]})`,
      );
    }
    if (gc && heapGrowthPercent > limitPercent) {
      reasons.push(`heap grew ${heapGrowthPercent}% (limit ${limitPercent}%)`);
    }
    const ok = reasons.length === 0;
    return {
      verdict: { ok, reasons },
      exitCode: ok ? 0 : 1,
      config: {
        requests: requests ?? null,
        durationSeconds: duration ?? null,
        concurrency,
        seed,
        warmupRequests,
        instances: instanceCount,
        refreshSeconds,
      },
      totals: {
        ...counts,
        seconds: round1(seconds),
        throughputPerSecond: Math.round(counts.requests / seconds),
      },
      routes: stats.summary(),
      faults: faults.windows.map((w) => ({
        kind: w.kind,
        fromSeconds: round1((w.startedAt - started) / 1000),
        toSeconds: w.endedAt === undefined ? null : round1((w.endedAt - started) / 1000),
        faultAnswers: w.observed,
      })),
      memory: {
        gc: gc !== undefined,
        before,
        after,
        end,
        heapGrowthPercent,
        limitPercent,
        checked: gc !== undefined,
      },
      audit: {
        written: sum(auditStats, 'written'),
        dropped: sum(auditStats, 'dropped'),
        queued: sum(auditStats, 'queued'),
        failedWrites: sum(auditStats, 'failedWrites'),
        storedBeforeCosmosFault,
        writtenBeforeCosmosFault,
        auditedRequests: checkedRequests,
        missingRecords: missingRecords.length,
        countedLosses,
      },
      warmup: { requests: warmStats.counts.requests, failures: warmFailures },
      gatewayLog: { ...logger.events },
      slowDownstreamHits: { ...slow.hits },
      failures: [...warmStats.failures, ...stats.failures].slice(0, 20),
    };
  } finally {
    await Promise.all(pools.map((p) => p.close()));
    for (const other of others) await other.close();
    await stack?.close();
    await slow.close();
  }
}

function sum<T extends Record<K, number>, K extends string>(items: readonly T[], key: K): number {
  return items.reduce((total, item) => total + item[key], 0);
}

/** Checks the demo policies the expectations rely on, and adds the load test's own resources. */
async function prepare(
  pool: Pool,
  stack: LocalStack,
  slow: SwitchableDownstream,
  timeoutMs: number,
): Promise<void> {
  const admin = `Bearer ${stack.idp!.mintToken({ roles: [stack.gateway!.config.adminRole] })}`;
  const call = async (method: 'GET' | 'PUT', path: string, body?: unknown): Promise<number> => {
    const res = await pool.request({
      method,
      path,
      headers: { authorization: admin, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    await res.body.dump();
    return res.statusCode;
  };
  for (const id of ['orders-read-own', 'orders-writers', 'orders-deny-blocked-group']) {
    if ((await call('GET', `/api/policies/${id}`)) !== 200) {
      throw new Error(`demo policy "${id}" is missing: the expectations rely on samples/demo-policies.yaml`);
    }
  }
  const documents: [string, unknown][] = [
    [
      `/api/resources/${SLOW_RESOURCE}`,
      { name: SLOW_RESOURCE, upstream: slow.upstream, auth: { type: 'none' }, timeoutMs },
    ],
    [
      `/api/resources/${SCRATCH_RESOURCE}`,
      { name: SCRATCH_RESOURCE, upstream: slow.upstream, auth: { type: 'none' } },
    ],
    [
      `/api/policies/${SLOW_RESOURCE}-read`,
      {
        id: `${SLOW_RESOURCE}-read`,
        effect: 'allow',
        resource: SLOW_RESOURCE,
        actions: ['read'],
        principals: { roles: ['Orders.Reader'] },
      },
    ],
  ];
  for (const [path, body] of documents) {
    const status = await call('PUT', path, body);
    if (status !== 200 && status !== 201) throw new Error(`setup: PUT ${path} answered ${status}`);
  }
}

/**
 * Empties the audit container, as the deployed container's default TTL would over time. Why:
 * the embedded Cosmos DB keeps every document in this process's heap and has no TTL, so without
 * this the memory check would measure the database, not the gateway. Returns the correlation id
 * of every stored record (null when the container could not be read).
 */
async function expireAuditDocuments(stack: LocalStack): Promise<string[] | null> {
  const config = stack.gateway!.config.cosmos;
  const client = await createCosmosClient(config, { agent: stack.cosmos!.agent });
  try {
    const database = client.database(config.database);
    let stored: string[] | null = null;
    try {
      const { resources } = await database
        .container(CONTAINERS.audit)
        // Records are stored in pages of rows under `columns`: every row's correlation id.
        .items.query<{ pk: string; columns: string[]; rows: unknown[][] }>(
          'SELECT c.pk, c.columns, c.rows FROM c',
        )
        .fetchAll();
      stored = resources.flatMap((page) => auditRecordsOf(page).map((r) => r.correlationId));
    } catch {
      stored = null;
    }
    await database.container(CONTAINERS.audit).delete();
    await database.containers.createIfNotExists({
      id: CONTAINERS.audit,
      partitionKey: { paths: [PARTITION_KEYS.audit] },
    });
    return stored;
  } finally {
    client.dispose();
  }
}

interface Answer {
  status: number | undefined;
  json: Record<string, unknown> | undefined;
  error?: string;
}

/**
 * The correlation id of every request the run sent to a route that audits it (docs/operations.md
 * "Which answers are audited"), so that the trail can be checked record by record.
 */
class AuditLedger {
  private next = 0;
  /** Numbers, not strings: the ledger lives in the measured process and must not weigh on its heap. */
  private readonly sent: number[] = [];

  /** The correlation id to send with `planned`, noted when its answer must be audited. */
  idFor(planned: PlannedRequest): string {
    const n = this.next++;
    if (isAuditedRequest(planned.method, planned.path)) this.sent.push(n);
    return `${LEDGER_PREFIX}${n}`;
  }

  /** The ids noted from `mark` on (a mark is `size` at some moment) that `stored` lacks. */
  missingSince(mark: number, stored: readonly string[]): string[] {
    const found = new Set<number>();
    for (const id of stored)
      if (id.startsWith(LEDGER_PREFIX)) found.add(Number(id.slice(LEDGER_PREFIX.length)));
    return this.sent
      .slice(mark)
      .filter((n) => !found.has(n))
      .map((n) => `${LEDGER_PREFIX}${n}`);
  }

  get size(): number {
    return this.sent.length;
  }
}

const LEDGER_PREFIX = 'lt-';

const DECISION_ROUTE = /^\/api\/(?:authorize|token|revocations)\/?(?:\?|$)/i;
const PROXY_ROUTE = /^\/api\/proxy\/[^/?]+(?:[/?]|$)/i;
const PROXY_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']);
const ADMIN_DOCUMENT = /^\/api\/(?:policies|resources)(?:\/[^/?]*)?\/?(?:\?|$)/i;

/** Whether the gateway writes a record for this request (admin reads and host answers aside). */
export function isAuditedRequest(method: string, path: string): boolean {
  if (rawPathResolvesDots(path)) return false;
  if (DECISION_ROUTE.test(path)) return method === 'POST';
  if (PROXY_ROUTE.test(path)) return PROXY_METHODS.has(method);
  return ADMIN_DOCUMENT.test(path) && (method === 'PUT' || method === 'DELETE');
}

const ledger = new AuditLedger();

async function send(pools: readonly Pool[], planned: PlannedRequest): Promise<Answer> {
  try {
    const res = await pools[planned.instance % pools.length]!.request({
      method: planned.method,
      path: planned.path,
      headers: { ...planned.headers, 'x-correlation-id': ledger.idFor(planned) },
      ...(planned.body === undefined ? {} : { body: planned.body }),
      // Bounded: a request the gateway never answers is a failure, not a hang.
      headersTimeout: 30_000,
      bodyTimeout: 30_000,
    });
    const text = await res.body.text();
    let json: Record<string, unknown> | undefined;
    const type = res.headers['content-type'];
    if (typeof type === 'string' && type.includes('json') && text.length > 0) {
      try {
        json = JSON.parse(text) as Record<string, unknown>;
      } catch {
        json = undefined;
      }
    }
    return { status: res.statusCode, json };
  } catch (err) {
    return {
      status: undefined,
      json: undefined,
      error: err instanceof Error ? `${err.name}: ${err.message}` : String(err),
    };
  }
}

/** The run's own traffic, which a fault may pause for a moment (see `quiesce`). */
class Traffic {
  inFlight = 0;
  paused: Promise<void> | undefined;

  /** Holds new requests, waits for those in flight, runs `step`, then lets traffic go on. */
  async quiesce(step: () => Promise<void>): Promise<void> {
    let resume = () => undefined as void;
    this.paused = new Promise<void>((resolve) => (resume = resolve));
    try {
      while (this.inFlight > 0) await new Promise((resolve) => setTimeout(resolve, 5));
      await step();
    } finally {
      this.paused = undefined;
      resume();
    }
  }
}

/** Runs the mix until the request count or the time is reached, `concurrency` at a time. */
async function drive(
  pools: readonly Pool[],
  scenario: Scenario,
  concurrency: number,
  stats: RunStats,
  traffic: Traffic,
  faults: FaultController | undefined,
  limit: { requests: number } | { seconds: number },
  say: (line: string) => void = () => undefined,
): Promise<void> {
  const started = performance.now();
  let issued = 0;
  let lastReport = started;
  const progress = () =>
    'requests' in limit ? issued / limit.requests : (performance.now() - started) / 1000 / limit.seconds;
  const worker = async () => {
    for (;;) {
      const p = progress();
      if (p >= 1) return;
      const transition = faults?.advance(p);
      if (transition) {
        await transition;
        continue;
      }
      if (traffic.paused) {
        await traffic.paused;
        continue;
      }
      issued++;
      const planned = scenario.next();
      const t0 = performance.now();
      traffic.inFlight++;
      const answer = await send(pools, planned);
      traffic.inFlight--;
      const t1 = performance.now();
      planned.settle(answer.status ?? 0, answer.json);
      stats.record(planned.route, answer.status ?? 'error', t1 - t0);
      judge(planned, answer, t0, t1, stats, faults);
      if (t1 - lastReport > 10_000) {
        lastReport = t1;
        say(`  ${Math.round(progress() * 100)}%: ${stats.counts.requests} answered`);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

/** Compares one answer with its expectation (and the faults it overlapped) and records the result. */
function judge(
  planned: PlannedRequest,
  answer: Answer,
  start: number,
  end: number,
  stats: RunStats,
  faults: FaultController | undefined,
): void {
  const { status, json } = answer;
  const expect = planned.expect;
  const code =
    typeof json?.code === 'string' ? json.code : typeof json?.error === 'string' ? json.error : undefined;
  // The token route's OAuth body has both; its expectations name the OAuth `error`.
  const expectedCode = planned.route === 'token' && typeof json?.error === 'string' ? json.error : code;
  const base = {
    caseName: planned.caseName,
    method: planned.method,
    path: redact(planned.path),
    status,
    code,
    expected: `${expect.statuses.join('|')}${expect.code ? ` ${expect.code}` : ''} (${expect.outcome})`,
  };
  if (status === undefined) {
    stats.fail({ ...base, kind: 'transport-error', ...(answer.error ? { detail: answer.error } : {}) });
    return;
  }
  const granted = grants(planned, status, json);
  if (expect.outcome === 'deny' && granted) {
    stats.fail({ ...base, kind: 'wrong-allow' });
    return;
  }
  const statusRight = expect.statuses.includes(status);
  const codeRight = expect.code === undefined || status < 400 || expectedCode === expect.code;
  const decisionRight =
    planned.route !== 'authorize' || status !== 200 || expect.outcome !== 'allow' || granted;
  if (statusRight && codeRight && decisionRight) return;
  if (faults && status >= 500) {
    for (const window of faults.overlapping(start, end)) {
      const allowed = planned.faultAnswers[window.kind];
      if (allowed && allowed.status === status && (allowed.code === '' || allowed.code === code)) {
        window.observed++;
        stats.counts.faultAnswers++;
        return;
      }
    }
  }
  stats.fail({ ...base, kind: status >= 500 ? 'unexpected-5xx' : 'unexpected-status' });
}

/** Whether the answer let the caller through: the decision, a token, a forwarded call, a change. */
function grants(planned: PlannedRequest, status: number, json: Record<string, unknown> | undefined): boolean {
  switch (planned.route) {
    case 'authorize':
      return status === 200 && json?.allowed === true;
    case 'token':
      return status === 200;
    case 'proxy-orders':
    case 'proxy-slow':
      // 502 / 504 mean the gateway forwarded the call: authorization had let it through.
      return status < 400 || status === 502 || status === 504;
    case 'admin':
      return status < 300;
    case 'health':
      return false;
  }
}

/** Paths carry no secrets, but keep report lines short. */
function redact(path: string): string {
  return path.length > 120 ? `${path.slice(0, 117)}...` : path;
}

/** `global.gc` when node runs with `--expose-gc`; otherwise switched on at run time, if node allows. */
function obtainGc(): (() => void) | undefined {
  const existing = (globalThis as { gc?: unknown }).gc;
  if (typeof existing === 'function') return existing as () => void;
  try {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as unknown;
    return typeof gc === 'function' ? (gc as () => void) : undefined;
  } catch {
    return undefined;
  }
}

async function sampleMemory(gc: (() => void) | undefined): Promise<MemorySample> {
  for (let i = 0; i < 3; i++) {
    gc?.();
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const usage = process.memoryUsage();
  return { heapUsedMB: round1(usage.heapUsed / 2 ** 20), rssMB: round1(usage.rss / 2 ** 20) };
}

function round1(n: number): number {
  return Math.round(n * 10) / 10;
}

/**
 * The gateway's log during a run: counted, never kept (a logger that kept every line would be
 * the leak the memory check finds). Error lines are counted for the report.
 */
class CountingLogger implements Logger {
  /** Error and warning lines by event name. */
  readonly events: Record<string, number> = {};
  log(level: LogLevel, event: string): void {
    if (level !== 'error' && level !== 'warn') return;
    const key = `${level} ${event}`;
    this.events[key] = (this.events[key] ?? 0) + 1;
  }
}
