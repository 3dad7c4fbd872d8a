/**
 * `gateway check-access` cost (docs/policy-analysis.md): the demo set against itself with its
 * assertions, then realistic sets of 100, 1,000 and 5,000 policies over 20 resources (per-resource
 * reader / writer / admin roles, a few shared groups, country and app-only conditions,
 * `{claims.oid}` and literal paths), each compared with itself plus one widening allow. Reports the
 * kinds of request decided, seconds, and the heap after; a set past the analyzer's bound is
 * reported as refused, with the size, as the CLI would.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseDesiredState } from '../src/admin/desired-state';
import { parseAssertions } from '../src/analysis/assertions';
import { checkAccess } from '../src/analysis/check-access';
import { AnalysisTooLargeError } from '../src/analysis/request-classes';
import { parsePolicy, type Policy, type PolicyInput } from '../src/policy/model';
import { prng } from '../loadtest/random';

const ROOT = join(__dirname, '..', '..');

function parsed(doc: PolicyInput): Policy {
  const result = parsePolicy(doc);
  if (!result.ok) throw new Error(result.error);
  return result.value;
}

/** A realistic set: most policies grant a per-resource role one action on a path shape. */
export function realisticPolicies(count: number, seed = 7): Policy[] {
  const rand = prng(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)]!;
  const groups = [
    '1b1e7c1a-0000-4000-8000-00000000b10c',
    '2b1e7c1a-0000-4000-8000-0000000c0de5',
    '3b1e7c1a-0000-4000-8000-00000000ad31',
  ];
  const paths = ['/customers/{claims.oid}/**', '/customers/*/orders/**', '/reports/*', '/admin/**', '/**'];
  const policies: Policy[] = [];
  for (let i = 0; i < count; i++) {
    const resource = `res-${i % 20}`;
    const deny = rand() < 0.1;
    const role = `${resource}.${pick(['Reader', 'Writer', 'Admin'])}`;
    policies.push(
      parsed({
        id: `p-${String(i).padStart(5, '0')}`,
        effect: deny ? 'deny' : 'allow',
        resource,
        actions: deny ? ['*'] : [pick(['read', 'create', 'write', 'delete'] as const)],
        paths: [deny ? pick(['/admin/**', '/**']) : pick(paths)],
        principals: deny ? { groups: [pick(groups)] } : { roles: [role] },
        ...(!deny && rand() < 0.2
          ? { conditions: [{ claim: 'ctry', operator: 'in' as const, values: ['NL', 'DE'] }] }
          : {}),
        ...(!deny && rand() < 0.1
          ? { conditions: [{ claim: 'idtyp', operator: 'equals' as const, value: 'app' }] }
          : {}),
      }),
    );
  }
  return policies;
}

function measure(
  name: string,
  run: () => { classes: number; findings: number },
): Record<string, string | number> {
  const started = process.hrtime.bigint();
  try {
    const { classes, findings } = run();
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    return {
      [`${name}: kinds of request`]: classes,
      [`${name}: seconds`]: Number(seconds.toFixed(2)),
      [`${name}: findings`]: findings,
      [`${name}: heap MB after`]: Math.round(process.memoryUsage().heapUsed / 1e6),
    };
  } catch (err) {
    if (!(err instanceof AnalysisTooLargeError)) throw err;
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    return { [`${name}: refused after ${seconds.toFixed(2)} s`]: err.message };
  }
}

export function benchCheckAccess(): Promise<Record<string, string | number>> {
  const demo = parseDesiredState(readFileSync(join(ROOT, 'samples/demo-policies.yaml'), 'utf8'), 'demo');
  const demoPolicies = demo.policies.map((doc) => parsed(doc as PolicyInput));
  const assertions = parseAssertions(
    readFileSync(join(ROOT, 'samples/demo-assertions.yaml'), 'utf8'),
    'assertions',
  );
  if (typeof assertions === 'string') throw new Error(assertions);
  const results: Record<string, string | number> = {
    ...measure('demo', () => {
      const r = checkAccess({ candidate: demoPolicies, baseline: demoPolicies, assertions });
      return { classes: r.classes, findings: r.newAccess.length };
    }),
  };
  for (const size of [100, 1000, 5000]) {
    const baseline = realisticPolicies(size);
    const widening = parsed({
      id: 'widening',
      effect: 'allow',
      resource: 'res-3',
      actions: ['delete'],
      principals: { roles: ['res-3.Reader'] },
    });
    Object.assign(
      results,
      measure(`${size} policies`, () => {
        const r = checkAccess({ candidate: [...baseline, widening], baseline });
        return { classes: r.classes, findings: r.newAccess.length };
      }),
    );
  }
  return Promise.resolve(results);
}
