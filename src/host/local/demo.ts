import { readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { AdminClient } from '../../admin/admin-client';
import { describePlan } from '../../admin/apply';
import { applyDesiredState, parseDesiredState } from '../../admin/desired-state';

/**
 * The repository root when running from sources (jest), or `dist/` when running compiled: the
 * directory that holds `src/` and `samples/` either way.
 */
const PROJECT_ROOT = resolve(__dirname, '..', '..', '..');

/** The demo file in the repository (YAML is not compiled, so from `dist/` it is one level up). */
export const DEMO_POLICIES_FILE = join(
  basename(PROJECT_ROOT) === 'dist' ? join(PROJECT_ROOT, '..') : PROJECT_ROOT,
  'samples/demo-policies.yaml',
);

/**
 * Applies the demo resources and policies through the admin API, exactly as
 * `npm run gateway -- apply -f samples/demo-policies.yaml` would. Idempotent.
 */
export async function seedDemoPolicies(
  gatewayUrl: string,
  adminToken: string,
  ordersUrl: string,
): Promise<string> {
  const text = readFileSync(DEMO_POLICIES_FILE, 'utf8').replaceAll('${ORDERS_URL}', ordersUrl);
  const client = new AdminClient({ baseUrl: gatewayUrl, token: adminToken });
  const plan = await applyDesiredState(client, parseDesiredState(text, DEMO_POLICIES_FILE), {
    prune: false,
    dryRun: false,
  });
  return describePlan(plan);
}
