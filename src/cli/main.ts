/**
 * `npm run gateway -- <command>`: declarative policy management over the gateway's admin API.
 *
 *   apply -f policies.yaml [--prune] [--dry-run]   make the gateway hold exactly what the file lists
 *   get policies|resources                          print what is stored (JSON)
 *   explain --resource R --action A --path P        ask the decision API why, for the token's caller
 *
 * Global options: `--url` (or `GATEWAY_URL`, default `http://127.0.0.1:7071`) and `--token` (or
 * `GATEWAY_TOKEN`: an Entra access token with the admin app role). Against a local stack on
 * loopback with no token given, the CLI signs a dev admin token with the dev identity provider's
 * key file, as `npm run token` does.
 *
 * It talks to the admin API, never to Cosmos DB directly: the API validates every document,
 * enforces the admin role and ETags, and makes the change visible on the instance at once.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { systemClock } from '../clock';
import { isLoopbackHost } from '../config/url-rules';
import { loadOrCreateDevSigningKey, mintDevToken } from '../host/local/dev-identity-provider';
import { devIssuerFor } from '../host/local/running-stacks';
import { AdminApiError, AdminClient } from './admin-client';
import { describePlan, executePlan, planChanges, type DesiredState, type PlannedChange } from './apply';
import { KIND_RULES } from './kind-rules';

const USAGE = `usage: npm run gateway -- <command> [options]
  apply -f FILE [--prune] [--dry-run]
  get policies|resources
  explain --resource NAME --action read|create|write|delete [--path /p]
options: --url URL (GATEWAY_URL)  --token TOKEN (GATEWAY_TOKEN)`;

/** Parses the text of a `{ resources: [...], policies: [...] }` document (YAML, or JSON, which YAML reads too). */
export function parseDesiredState(text: string, source: string): DesiredState {
  const data = parseYaml(text) as unknown;
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new Error(`${source}: expected an object with "resources" and/or "policies" lists`);
  }
  const { resources = [], policies = [], ...rest } = data as Record<string, unknown>;
  const unknown = Object.keys(rest)[0];
  if (unknown !== undefined) throw new Error(`${source}: unknown top-level key "${unknown}"`);
  if (!Array.isArray(resources) || !Array.isArray(policies)) {
    throw new Error(`${source}: "resources" and "policies" must be lists`);
  }
  return {
    resources: resources as Record<string, unknown>[],
    policies: policies as Record<string, unknown>[],
  };
}

/** Reads a YAML or JSON file of `{ resources: [...], policies: [...] }`. */
export function readDesiredState(file: string): DesiredState {
  return parseDesiredState(readFileSync(file, 'utf8'), file);
}

/** Plans (and unless `dryRun`, applies) a desired state through the admin API. */
export async function applyDesiredState(
  client: AdminClient,
  desired: DesiredState,
  options: { prune: boolean; dryRun: boolean },
): Promise<PlannedChange[]> {
  const plan: PlannedChange[] = [];
  plan.push(
    ...planChanges(
      'resources',
      desired.resources,
      await client.list('resources'),
      KIND_RULES.resources,
      options.prune,
    ),
  );
  plan.push(
    ...planChanges(
      'policies',
      desired.policies,
      await client.list('policies'),
      KIND_RULES.policies,
      options.prune,
    ),
  );
  if (!options.dryRun) await executePlan(client, plan);
  return plan;
}

function tokenFor(url: string, given: string | undefined): string {
  if (given) return given;
  if (!isLoopbackHost(new URL(url).hostname)) {
    throw new Error(
      '--token (or GATEWAY_TOKEN) is required: an Entra access token with the gateway admin role',
    );
  }
  // The identity provider the gateway at `url` trusts (a second stack's moved off 7072).
  return mintDevToken(
    loadOrCreateDevSigningKey(),
    { ...devIssuerFor(process.env, url), clock: systemClock },
    { roles: ['Gateway.Admin'], lifetimeSeconds: 600 },
  );
}

/** Runs one CLI invocation; returns the process exit code. */
export async function runCli(
  argv: readonly string[],
  out: (line: string) => void = console.log,
): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      file: { type: 'string', short: 'f' },
      prune: { type: 'boolean', default: false },
      'dry-run': { type: 'boolean', default: false },
      url: { type: 'string' },
      token: { type: 'string' },
      resource: { type: 'string' },
      action: { type: 'string' },
      path: { type: 'string' },
    },
  });
  const url = values.url ?? process.env.GATEWAY_URL ?? 'http://127.0.0.1:7071';
  const client = new AdminClient({
    baseUrl: url,
    token: tokenFor(url, values.token ?? process.env.GATEWAY_TOKEN),
  });
  const [command, target] = positionals;

  if (command === 'apply' && values.file) {
    const plan = await applyDesiredState(client, readDesiredState(values.file), {
      prune: values.prune,
      dryRun: values['dry-run'],
    });
    out(describePlan(plan));
    return 0;
  }
  if (command === 'get' && (target === 'policies' || target === 'resources')) {
    out(JSON.stringify(await client.list(target), null, 2));
    return 0;
  }
  if (command === 'explain' && values.resource && values.action) {
    const decision = await client.authorize({
      resource: values.resource,
      action: values.action,
      path: values.path ?? '/',
    });
    out(JSON.stringify(decision, null, 2));
    return 0;
  }
  out(USAGE);
  return 2;
}

if (require.main === module) {
  runCli(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(err instanceof AdminApiError || err instanceof Error ? `gateway: ${err.message}` : err);
      process.exit(1);
    },
  );
}
