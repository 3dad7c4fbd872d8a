/**
 * Which local stacks run on this machine, and whom their gateways trust: a small file per running
 * `npm start` under `.local/stacks/`, so that `npm run token` and the CLI's admin token name the
 * identity provider the gateway they talk to actually uses (its port moves when 7072 is taken by
 * another stack). Written when a stack listens, removed when it stops; a file left by a stack
 * that died is ignored (its process is gone).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULTS } from '../../config/defaults';
import { DEV_API_CLIENT_ID, DEV_IDP_AUTHORITY, DEV_TENANT_ID } from './dev-identity-provider';

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Where the records are kept, under the working directory. */
export const RUNNING_STACKS_DIR = '.local/stacks';

/** What a token for one running stack's gateway needs. */
export interface RunningStack {
  /** `http://127.0.0.1:7071` (no `/api`). */
  readonly gatewayUrl: string;
  /** The identity provider the gateway trusts (`ENTRA_AUTHORITY`). */
  readonly authority: string;
  readonly tenantId: string;
  /** The API's client id: a v2 token's `aud`. */
  readonly clientId: string;
  readonly pid: number;
}

const fileOf = (dir: string, gatewayUrl: string) => join(dir, `${new URL(gatewayUrl).port || '80'}.json`);

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Records a running stack; returns what removes the record (call it on stop). */
export function recordRunningStack(stack: Omit<RunningStack, 'pid'>, dir = RUNNING_STACKS_DIR): () => void {
  mkdirSync(dir, { recursive: true });
  const file = fileOf(dir, stack.gatewayUrl);
  writeFileSync(file, `${JSON.stringify({ ...stack, pid: process.pid })}\n`);
  return () => rmSync(file, { force: true });
}

/** Every stack recorded whose process still runs. */
export function runningStacks(dir = RUNNING_STACKS_DIR): RunningStack[] {
  if (!existsSync(dir)) return [];
  const found: RunningStack[] = [];
  for (const name of readdirSync(dir)) {
    if (!name.endsWith('.json')) continue;
    try {
      const stack = JSON.parse(readFileSync(join(dir, name), 'utf8')) as RunningStack;
      if (typeof stack.authority === 'string' && alive(stack.pid)) found.push(stack);
    } catch {
      // a record being written, or not ours: skipped
    }
  }
  return found;
}

/**
 * The stack whose gateway is at `gatewayUrl`; without one, the only stack running. Undefined when
 * none matches (or, without a URL, several run and none is meant).
 */
export function findRunningStack(gatewayUrl?: string, dir = RUNNING_STACKS_DIR): RunningStack | undefined {
  const stacks = runningStacks(dir);
  if (gatewayUrl !== undefined) {
    const port = new URL(gatewayUrl).port || '80';
    return stacks.find((s) => (new URL(s.gatewayUrl).port || '80') === port);
  }
  return stacks.length === 1 ? stacks[0] : undefined;
}

/**
 * The identity provider a dev token must name: the environment's, else the one the running
 * stack's gateway trusts, else the dev identity provider's fixed address.
 */
export function devIssuerFor(
  env: NodeJS.ProcessEnv,
  gatewayUrl?: string,
  dir = RUNNING_STACKS_DIR,
): { authority: string; tenantId: string; clientId: string } {
  const stack =
    findRunningStack(gatewayUrl ?? env.GATEWAY_URL ?? `http://127.0.0.1:${env.PORT || DEFAULTS.port}`, dir) ??
    findRunningStack(undefined, dir);
  const tenant = env.ENTRA_TENANT_ID;
  return {
    authority: (env.ENTRA_AUTHORITY || stack?.authority || DEV_IDP_AUTHORITY).replace(/\/+$/, ''),
    tenantId: tenant && GUID.test(tenant) ? tenant.toLowerCase() : (stack?.tenantId ?? DEV_TENANT_ID),
    clientId: stack?.clientId ?? DEV_API_CLIENT_ID,
  };
}
