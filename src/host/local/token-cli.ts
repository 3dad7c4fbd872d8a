/**
 * Prints a dev access token, and only the token, on stdout: for curl lines and scripts.
 *
 * ```sh
 * npm run token -- --role Orders.Reader --scope access_as_user
 * node dist/src/host/local/token-cli.js --role Gateway.Admin --app --lifetime 600
 * curl -H "Authorization: Bearer $(npm run --silent token -- --role Orders.Reader)" ...
 * ```
 *
 * Flags: `--role R` `--scope S` `--group G` `--acrs C` `--cc CAP` (each repeatable), `--oid ID`, `--tid ID`,
 * `--v1` (v1 token: App ID URI audience, `appid`), `--app` (app-only token), `--lifetime SECONDS`,
 * `--gateway URL` (the running stack whose gateway the token is for).
 *
 * The token is signed with the persisted dev key {@link DEV_IDP_KEY_FILE} (created if absent),
 * the same file the local stack's dev identity provider loads, so the running stack accepts it.
 * Its issuer is that of the identity provider the running stack's gateway trusts: the stack at
 * `--gateway URL` (or `GATEWAY_URL`, or `http://127.0.0.1:$PORT`), else the only stack running
 * ({@link findRunningStack}), else `https://127.0.0.1:7072`. `ENTRA_AUTHORITY` and a GUID
 * `ENTRA_TENANT_ID` in the environment override it.
 */
import { parseArgs } from 'node:util';
import { systemClock } from '../../clock';
import {
  DEV_IDP_KEY_FILE,
  loadOrCreateDevSigningKey,
  mintDevToken,
  type MintTokenOptions,
} from './dev-identity-provider';
import { devIssuerFor } from './running-stacks';
import { AUTH_CONTEXT_PATTERN } from '../../policy/model';

/** What `npm run -s token -- --help` prints. */
export const TOKEN_CLI_USAGE = `usage: npm run -s token -- [options]
prints a dev access token for the running local stack, and only the token
options:
  --role ROLE          an app role (repeatable), e.g. Orders.Reader, Gateway.Admin
  --scope SCOPE        a delegated scope (repeatable), e.g. access_as_user
  --group ID           a group object id (repeatable)
  --acrs CONTEXT       an authentication context the user met (repeatable), e.g. c1 (docs/step-up.md)
  --cc CAPABILITY      a client capability in xms_cc (repeatable): cp1 = the client answers claims challenges
  --oid ID             the caller's object id (default: the dev user)
  --tid ID             the tenant (default: the stack's)
  --v1                 a v1 token (App ID URI audience, appid)
  --app                an app-only token (no user)
  --lifetime SECONDS   how long it is valid (default 3600)
  --gateway URL        the running stack the token is for (default: the only one running)
  -h, --help           print this usage
`;

/** Turns the command line into mint options; throws with a one-line message on a bad flag. */
export function parseTokenCliArgs(
  args: readonly string[],
): MintTokenOptions & { gateway?: string; help?: boolean } {
  const { values } = parseArgs({
    args: [...args],
    strict: true,
    options: {
      role: { type: 'string', multiple: true },
      scope: { type: 'string', multiple: true },
      group: { type: 'string', multiple: true },
      acrs: { type: 'string', multiple: true },
      cc: { type: 'string', multiple: true },
      oid: { type: 'string' },
      tid: { type: 'string' },
      v1: { type: 'boolean' },
      app: { type: 'boolean' },
      lifetime: { type: 'string' },
      gateway: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return { help: true };
  const lifetime = values.lifetime === undefined ? undefined : Number(values.lifetime);
  if (lifetime !== undefined && (!Number.isInteger(lifetime) || lifetime <= 0)) {
    throw new Error('--lifetime: expected a positive whole number of seconds');
  }
  for (const context of values.acrs ?? []) {
    if (!AUTH_CONTEXT_PATTERN.test(context)) throw new Error(`--acrs: expected c1 to c99, not "${context}"`);
  }
  const claims = {
    ...(values.acrs ? { acrs: values.acrs } : {}),
    ...(values.cc ? { xms_cc: values.cc } : {}),
  };
  return {
    version: values.v1 ? '1.0' : '2.0',
    ...(Object.keys(claims).length > 0 ? { claims } : {}),
    ...(values.role ? { roles: values.role } : {}),
    ...(values.scope ? { scopes: values.scope } : {}),
    ...(values.group ? { groups: values.group } : {}),
    ...(values.oid ? { oid: values.oid } : {}),
    ...(values.tid ? { tid: values.tid } : {}),
    ...(values.app ? { app: true } : {}),
    ...(lifetime !== undefined ? { lifetimeSeconds: lifetime } : {}),
    ...(values.gateway ? { gateway: values.gateway } : {}),
  };
}

function main(): void {
  try {
    const { gateway, help, ...options } = parseTokenCliArgs(process.argv.slice(2));
    if (help) {
      process.stdout.write(TOKEN_CLI_USAGE);
      return;
    }
    const token = mintDevToken(
      loadOrCreateDevSigningKey(DEV_IDP_KEY_FILE),
      { ...devIssuerFor(process.env, gateway), clock: systemClock },
      options,
    );
    process.stdout.write(`${token}\n`);
  } catch (err) {
    process.stderr.write(`token-cli: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 2;
  }
}

if (require.main === module) main();
