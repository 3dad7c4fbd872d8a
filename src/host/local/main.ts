/**
 * `npm start` (the local stack) and `npm run dev:deps` (`--deps-only`: the embedded dependencies
 * for `func start`). Prints one ready banner; Ctrl-C / SIGTERM stops everything and exits 0; a
 * setting that is present but wrong prints `configuration error: <line>` and exits 1.
 */
import { existsSync, readFileSync } from 'node:fs';
import { statementKeySetting } from '../../config/signing-keys';
import { ConfigError } from '../../config/load-config';
import { createJsonLogger, type LogLevel } from '../../logger';
import { DEV_USER_OID } from './dev-identity-provider';
import { EMBEDDED_COSMOS_CERT_DIR } from './embedded-cosmos';
import { startLocalStack, type LocalStack } from './local-stack';

/** The roles of the banner's dev token: the admin role and a reader, to try every route. */
const DEV_TOKEN_ROLES = ['Gateway.Admin', 'Orders.Reader'];

/** The ready banner: where everything runs, a dev token, and copy-paste curl lines. */
export function formatBanner(stack: LocalStack): string {
  const lines: string[] = [];
  const gateway = stack.gatewayUrl;
  const orders = `${stack.orders.url}/api/orders`;
  lines.push(
    '',
    gateway
      ? 'entra-functions-gateway: local stack ready'
      : 'entra-functions-gateway: dependencies ready (--deps-only)',
    '',
  );
  if (gateway) lines.push(`  gateway            ${gateway}/api`);
  lines.push(
    stack.cosmos
      ? `  Cosmos DB          ${stack.cosmos.endpoint}  embedded (CA: ${EMBEDDED_COSMOS_CERT_DIR}/ca.pem)`
      : `  Cosmos DB          ${stack.env.COSMOS_ENDPOINT ?? '(not set)'}  from COSMOS_ENDPOINT`,
  );
  lines.push(
    stack.idp
      ? `  identity provider  ${stack.idp.authority}  embedded (tenant ${stack.idp.tenantId}, audience ${stack.idp.clientId})`
      : `  identity provider  ${stack.env.ENTRA_AUTHORITY ?? '(not set)'}  from ENTRA_AUTHORITY`,
  );
  lines.push(`  sample downstream  ${orders}  embedded`);
  if (stack.gateway) {
    const redis = stack.gateway.config.redis;
    lines.push(
      redis === undefined
        ? '  quotas             counted per instance, in memory (set REDIS_URL to count across instances)'
        : `  quotas             counted across instances in Redis at ${redis.host}:${redis.port}`,
    );
  }

  const token = stack.idp?.mintToken({ roles: DEV_TOKEN_ROLES });
  if (token) {
    lines.push(
      '',
      `  dev token (roles ${DEV_TOKEN_ROLES.join(', ')}; valid 1 h):`,
      '',
      `export TOKEN=${token}`,
    );
  }
  lines.push('', '  try:', '');
  if (gateway) {
    const auth = token
      ? '-H "Authorization: Bearer $TOKEN"'
      : '-H "Authorization: Bearer <Entra access token>"';
    const decide = (path: string) =>
      `curl -s -X POST ${gateway}/api/authorize ${auth} -H 'content-type: application/json' -d '{"resource":"orders","action":"read","path":"${path}"}'`;
    lines.push(
      `# is the gateway healthy? (config, Cosmos DB, policies, identity provider)`,
      `curl -s ${gateway}/api/health`,
      `# allowed: policy orders-read-own lets a reader read their own orders`,
      decide(`/customers/${DEV_USER_OID}/orders`),
      `# denied, and why: someone else's orders`,
      decide('/customers/42/orders'),
      `# the admin API (the token has the Gateway.Admin role)`,
      `curl -s ${auth} ${gateway}/api/policies`,
      `# through the proxy: policy checked, then forwarded with a signed x-gateway-principal`,
      `curl -s ${auth} ${gateway}/api/proxy/orders/customers/${DEV_USER_OID}/orders`,
      `# the same, the downstream called with a token obtained on behalf of you (on-behalf-of)`,
      `curl -s ${auth} ${gateway}/api/proxy/orders-as-user/customers/${DEV_USER_OID}/orders`,
      `# step-up: exporting your orders needs authentication context c1; a client that declared cp1 gets a 401 claims challenge`,
      `curl -s -i -H "Authorization: Bearer $(npm run -s token -- --role Orders.Reader --cc cp1)" ${gateway}/api/proxy/orders/exports/${DEV_USER_OID} | grep -iE '^(HTTP|www-authenticate)'`,
      `# the same with a token that met c1 (the claims request in the challenge asks Entra for it): allowed`,
      `curl -s -H "Authorization: Bearer $(npm run -s token -- --role Orders.Reader --acrs c1)" ${gateway}/api/proxy/orders/exports/${DEV_USER_OID}`,
      `# exchange the Entra token for a 5-minute SAS token scoped to your own orders, then use it`,
      `SAS=$(curl -s ${gateway}/api/token -d grant_type=urn:ietf:params:oauth:grant-type:token-exchange -d subject_token_type=urn:ietf:params:oauth:token-type:access_token --data-urlencode "subject_token=$TOKEN" -d resource=orders/customers/${DEV_USER_OID} -d scope=read | sed -E 's/.*"access_token":"([^"]+)".*/\\1/')`,
      `curl -s -H "Authorization: SharedAccessSignature $SAS" ${gateway}/api/proxy/orders/customers/${DEV_USER_OID}/orders`,
    );
  }
  if (gateway && stack.gateway) {
    lines.push(
      `# a second instance on the same database and identity provider (scale-out, as Azure runs it)`,
      secondInstanceCommand(stack),
    );
  }
  lines.push(
    `# the sample downstream, directly: refused without the gateway's channel credential and signed statement`,
  );
  lines.push(`curl -s ${orders}/customers/42/orders`);
  if (!gateway) {
    lines.push('', '  then: cp local.settings.sample.json local.settings.json && func start');
  }
  lines.push('', '  Ctrl-C stops everything.', '');
  return lines.join('\n');
}

/**
 * The command that starts another instance beside this one: its own port, this one's database,
 * identity provider, SAS keys, issuer and statement key, so a token or change made on either is
 * honoured by both, and downstreams trust both alike.
 */
export function secondInstanceCommand(stack: LocalStack): string {
  const config = stack.gateway!.config;
  const keys = config.sas.signingKeys.map((k) => `${k.name}=${k.secret.toString('base64')}`).join(',');
  const settings = {
    PORT: String(config.port + 10),
    COSMOS_ENDPOINT: config.cosmos.endpoint,
    ENTRA_AUTHORITY: config.entra.authority,
    ENTRA_TENANT_ID: config.entra.tenantId,
    ENTRA_AUDIENCES: config.entra.audiences.join(','),
    SAS_SIGNING_KEYS: keys,
    // One issuer and one statement key for every instance, as one host name serves them in Azure.
    GATEWAY_ISSUER: stack.env.GATEWAY_ISSUER ?? '',
    STATEMENT_SIGNING_KEYS: statementKeySetting(config.statement.signingKeys),
  };
  return `${Object.entries(settings)
    .map(([name, value]) => `${name}=${value}`)
    .join(' ')} npm start`;
}

/**
 * For `dev:deps`: the sample downstream must trust what `func start` will give the gateway (its
 * issuer and the sample's function key), so take those from local.settings.json (or its sample)
 * when the environment does not set them.
 */
function withFunctionsSettings(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  for (const file of ['local.settings.json', 'local.settings.sample.json']) {
    if (!existsSync(file)) continue;
    const values =
      (JSON.parse(readFileSync(file, 'utf8')) as { Values?: Record<string, string> }).Values ?? {};
    const taken = Object.fromEntries(
      ['GATEWAY_ISSUER', 'ORDERS_KEY']
        .filter((name) => !env[name] && values[name])
        .map((name) => [name, values[name]]),
    );
    return { ...env, ...taken };
  }
  return env;
}

/** `LOG_LEVEL` (debug, info, warn, error); `warn` by default so the banner is the one thing printed. */
function logLevel(): LogLevel {
  const level = process.env.LOG_LEVEL;
  return level === 'debug' || level === 'info' || level === 'error' ? level : 'warn';
}

async function main(argv: readonly string[]): Promise<void> {
  const depsOnly = argv.includes('--deps-only');
  let stack: LocalStack;
  try {
    const env = depsOnly ? withFunctionsSettings(process.env) : process.env;
    stack = await startLocalStack({
      env,
      depsOnly,
      fixedDependencyPorts: true,
      isolateCosmos: true,
      logger: createJsonLogger({ minLevel: logLevel() }),
    });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`configuration error: ${err.message}\n`);
    } else {
      process.stderr.write(
        `local stack failed to start: ${err instanceof Error ? err.message : String(err)}\n`,
      );
    }
    process.exit(1);
  }
  process.stdout.write(`${formatBanner(stack)}\n`);

  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    // A second Ctrl-C while closing means "now".
    if (stopping) process.exit(1);
    stopping = true;
    process.stderr.write(`${signal}: stopping\n`);
    stack.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

if (require.main === module) {
  void main(process.argv.slice(2));
}
