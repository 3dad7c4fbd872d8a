/**
 * The load test's harness, small (issue #7): mixed traffic with one fault of each kind must give
 * a clean verdict, and the same run with a wrong expectation table must fail it: proof that the
 * harness can see a wrong allow. `npm run loadtest` runs the full size.
 */
import { runLoadTest, type LoadReport } from '../../loadtest/harness';
import type { FaultPlan } from '../../loadtest/faults';
import { DEFAULT_WEIGHTS, type CaseName } from '../../loadtest/scenario';

/** One fault of each kind, each long enough for the small run to meet it. */
const PLAN: FaultPlan[] = [
  { kind: 'downstream-slow', from: 0.1, to: 0.3 },
  { kind: 'downstream-dead', from: 0.35, to: 0.5 },
  { kind: 'idp-down', from: 0.55, to: 0.7 },
  { kind: 'cosmos-down', from: 0.75, to: 1 },
];

/** More of the cases the faults act on, so 300 requests meet each fault. */
const WEIGHTS: Partial<Record<CaseName, number>> = {
  ...DEFAULT_WEIGHTS,
  'proxy.slow-reader': 12,
  'admin.put': 6,
  'admin.get': 6,
  health: 4,
};

const small = {
  requests: 300,
  warmupRequests: 60,
  concurrency: 8,
  faultPlan: PLAN,
  weights: WEIGHTS,
  // The proxy's upstream timeout fires on undici's coarse timer (up to about a second late),
  // so the slow downstream answers well after that. The memory check means nothing at this size.
  resourceTimeoutMs: 250,
  slowMs: 1500,
  memoryGrowthLimitPercent: 1000,
};

describe('load test harness', () => {
  let clean: LoadReport;

  beforeAll(async () => {
    clean = await runLoadTest(small);
  }, 60_000);

  it('gives a clean verdict: no wrong allow, no unexpected 5xx or status, every request answered', () => {
    expect(clean.failures).toEqual([]);
    expect(clean.verdict).toEqual({ ok: true, reasons: [] });
    expect(clean.exitCode).toBe(0);
    expect(clean.totals.requests).toBe(300);
  });

  it('injected each fault and saw the answers it causes (504, 502, 503) where they are allowed', () => {
    const answers = Object.fromEntries(clean.faults.map((f) => [f.kind, f.faultAnswers]));
    expect(Object.keys(answers).sort()).toEqual([
      'cosmos-down',
      'downstream-dead',
      'downstream-slow',
      'idp-down',
    ]);
    expect(answers['downstream-slow']).toBeGreaterThan(0);
    expect(answers['downstream-dead']).toBeGreaterThan(0);
    expect(answers['cosmos-down']).toBeGreaterThan(0);
    // Cached signing keys keep verifying: the identity provider's outage causes no answer at all.
    expect(answers['idp-down']).toBe(0);
    expect(clean.routes['proxy-slow']?.statuses).toEqual(
      expect.objectContaining({ '502': expect.any(Number), '504': expect.any(Number) }),
    );
  });

  it('wrote every audit record to Cosmos DB until it stopped, then buffered them', () => {
    expect(clean.audit.storedBeforeCosmosFault).toBe(clean.audit.writtenBeforeCosmosFault);
    // Record by record: every audited request of the window is found by its correlation id.
    expect(clean.audit.auditedRequests).toBeGreaterThan(0);
    expect(clean.audit.missingRecords).toBe(0);
    expect(clean.audit.dropped).toBe(0);
    expect(clean.audit.queued).toBeGreaterThan(0);
  });

  it('fails the run on a wrong allow: a table that expects a deny where policy allows', async () => {
    const wrong = await runLoadTest({
      ...small,
      faultPlan: [],
      expectations: { 'authorize.reader-own': { statuses: [200], outcome: 'deny' } },
    });
    expect(wrong.totals.wrongAllows).toBeGreaterThan(0);
    expect(wrong.failures[0]).toEqual(
      expect.objectContaining({ kind: 'wrong-allow', caseName: 'authorize.reader-own' }),
    );
    expect(wrong.verdict.ok).toBe(false);
    expect(wrong.exitCode).not.toBe(0);
  }, 60_000);
});
