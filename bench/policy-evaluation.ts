/**
 * Policy decisions per second, single thread, for 10, 1,000 and 100,000 policies.
 *
 * The policy set is shaped like a real deployment: resources with about 50 policies each
 * (100,000 policies over 2,000 resources), mixed allow / deny, role, group and tenant
 * principals, `*` / `**` / `{claims.oid}` / literal paths, `in` and `exists` conditions, `*`
 * actions, and a handful of `*`-resource policies that every decision must consider. Requests
 * are drawn from a fixed pseudo-random sample (seeded: runs are comparable) and pass the path as
 * a string, so splitting it is part of the measured cost.
 *
 * Run: `npm run bench` (through bench/run), or compile this file and call
 * {@link benchPolicyEvaluation}.
 */
import { ACTIONS, type Action } from '../src/policy/actions';
import { evaluatePolicies } from '../src/policy/evaluate';
import type { PolicySubject } from '../src/policy/subject';
import { parsePolicy, type Policy, type PolicyInput } from '../src/policy/model';
import { compilePolicies, type PolicyIndex } from '../src/policy/policy-index';
import { prng } from '../loadtest/random';

export interface PolicyBenchResult {
  policies: number;
  resources: number;
  decisionsPerSecond: number;
  /** Share of the sampled decisions that allowed: a sanity check that the mix is not trivial. */
  allowedShare: number;
  compileMs: number;
}

const SIZES = [10, 1_000, 100_000] as const;
const POLICIES_PER_RESOURCE = 50;
const ROLE_POOL = 400;
const GROUP_POOL = 200;
const TENANTS = ['9f1c2c3e-0d1a-4b7e-9c55-2f0c6d1e7a01', '11111111-2222-4333-8444-555555555555'];
const SAMPLE = 4096;
const MEASURE_MS = 1000;

function pick<T>(rand: () => number, items: readonly T[]): T {
  return items[Math.floor(rand() * items.length)]!;
}

const PATHS = [
  ['/**'],
  ['/customers/{claims.oid}/**'],
  ['/items/*'],
  ['/items/*/reviews/**'],
  ['/reports/daily', '/reports/weekly'],
  ['/catalog/**'],
  ['/a/**/b'],
];
const DENY_PATHS = [['/admin/**'], ['/**/secret'], ['/customers/*/billing/**']];

function buildPolicies(count: number, rand: () => number): { policies: Policy[]; resources: number } {
  const resources = Math.max(1, Math.round(count / POLICIES_PER_RESOURCE));
  const docs: PolicyInput[] = [];
  // A few global policies, as a real tenant has: every decision considers them.
  const globals: PolicyInput[] = [
    {
      id: 'global-admin',
      effect: 'allow',
      resource: '*',
      actions: ['*'],
      principals: { roles: ['Gateway.Admin'] },
    },
    {
      id: 'global-block-tenant',
      effect: 'deny',
      resource: '*',
      actions: ['*'],
      principals: { tenants: [TENANTS[1]!] },
    },
    { id: 'global-no-secrets', effect: 'deny', resource: '*', paths: ['/**/secret'], actions: ['*'] },
  ];
  for (const g of globals.slice(0, Math.min(globals.length, Math.max(1, count - 1)))) docs.push(g);
  for (let i = docs.length; i < count; i++) {
    const resource = `res-${i % resources}`;
    const deny = rand() < 0.1;
    const actions: Array<Action | '*'> = rand() < 0.2 ? ['*'] : ACTIONS.filter(() => rand() < 0.5);
    if (actions.length === 0) actions.push('read');
    const r = rand();
    const principals =
      r < 0.6
        ? { roles: [`Role.${Math.floor(rand() * ROLE_POOL)}`, `Role.${Math.floor(rand() * ROLE_POOL)}`] }
        : r < 0.8
          ? { groups: [`group-${Math.floor(rand() * GROUP_POOL)}`], tenants: [TENANTS[0]!] }
          : r < 0.9
            ? { roles: [`Role.${Math.floor(rand() * ROLE_POOL)}`], scopes: ['Orders.Read'] }
            : undefined;
    const doc: PolicyInput = {
      id: `p-${i}`,
      effect: deny ? 'deny' : 'allow',
      resource,
      actions,
      paths: deny ? pick(rand, DENY_PATHS) : pick(rand, PATHS),
      ...(principals === undefined ? {} : { principals }),
      ...(rand() < 0.3
        ? { conditions: [{ claim: 'ctry', operator: 'in' as const, values: ['NL', 'DE', 'FR'] }] }
        : {}),
      ...(rand() < 0.05 ? { conditions: [{ claim: 'mfa', operator: 'exists' as const }] } : {}),
      ...(rand() < 0.3 ? { maxTokenLifetimeSeconds: 300 + Math.floor(rand() * 3000) } : {}),
      ...(rand() < 0.02 ? { enabled: false } : {}),
    };
    docs.push(doc);
  }
  const policies = docs.map((doc) => {
    const parsed = parsePolicy(doc);
    if (!parsed.ok) throw new Error(`bench fixture ${String(doc.id)}: ${parsed.error}`);
    return parsed.value;
  });
  return { policies, resources };
}

interface BenchRequest {
  resource: string;
  action: Action;
  path: string;
  principal: PolicySubject;
}

function buildRequests(resources: number, rand: () => number): BenchRequest[] {
  const principals: PolicySubject[] = Array.from({ length: 100 }, (_, i) => {
    const oid = `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;
    const tid = i % 20 === 0 ? TENANTS[1]! : TENANTS[0]!;
    return {
      oid,
      tid,
      azp: 'c0ffee00-0000-4000-8000-000000000001',
      roles: Array.from({ length: 4 }, () => `Role.${Math.floor(rand() * ROLE_POOL)}`),
      scopes: rand() < 0.5 ? ['Orders.Read'] : [],
      groups: Array.from({ length: 3 }, () => `group-${Math.floor(rand() * GROUP_POOL)}`),
      claims: { oid, tid, ctry: pick(rand, ['NL', 'DE', 'US']), ...(rand() < 0.5 ? { mfa: true } : {}) },
    };
  });
  return Array.from({ length: SAMPLE }, () => {
    const principal = pick(rand, principals);
    const paths = [
      `/customers/${principal.oid!}/orders/${Math.floor(rand() * 1000)}`,
      `/customers/someone-else/orders`,
      `/items/${Math.floor(rand() * 1000)}`,
      `/items/7/reviews/3`,
      '/reports/daily',
      '/catalog/x/y/z',
      '/a/x/y/b',
      '/admin/settings',
      '/catalog/secret',
    ];
    return {
      resource: `res-${Math.floor(rand() * resources)}`,
      action: pick(rand, ACTIONS),
      path: pick(rand, paths),
      principal,
    };
  });
}

function measure(
  index: PolicyIndex,
  requests: readonly BenchRequest[],
): { perSecond: number; allowedShare: number } {
  let allowed = 0;
  const run = (n: number): void => {
    for (let i = 0; i < n; i++) {
      if (evaluatePolicies(index, requests[i % requests.length]!).allowed) allowed++;
    }
  };
  run(50_000); // warm-up: let the JIT settle
  allowed = 0;
  let decisions = 0;
  const start = process.hrtime.bigint();
  let elapsedMs = 0;
  while (elapsedMs < MEASURE_MS) {
    run(requests.length * 8);
    decisions += requests.length * 8;
    elapsedMs = Number(process.hrtime.bigint() - start) / 1e6;
  }
  return { perSecond: Math.round((decisions / elapsedMs) * 1000), allowedShare: allowed / decisions };
}

/** Decisions per second for 10, 1,000 and 100,000 policies. */
export async function benchPolicyEvaluation(): Promise<PolicyBenchResult[]> {
  const results: PolicyBenchResult[] = [];
  for (const size of SIZES) {
    const rand = prng(0x5eed + size);
    const { policies, resources } = buildPolicies(size, rand);
    const compileStart = process.hrtime.bigint();
    const index = compilePolicies(policies);
    const compileMs = Number(process.hrtime.bigint() - compileStart) / 1e6;
    const requests = buildRequests(resources, rand);
    const { perSecond, allowedShare } = measure(index, requests);
    results.push({
      policies: size,
      resources,
      decisionsPerSecond: perSecond,
      allowedShare: Math.round(allowedShare * 1000) / 1000,
      compileMs: Math.round(compileMs),
    });
    // Yield between sizes so a caller's timers and logs get a turn.
    await new Promise((resolve) => setImmediate(resolve));
  }
  return results;
}

if (require.main === module) {
  benchPolicyEvaluation().then(
    (results) => console.table(results),
    (err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
