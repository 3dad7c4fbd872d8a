/**
 * Offline checks of infra/: every .bicep file parses (tree-sitter-bicep's wasm grammar, no Bicep
 * CLI, no network) and the parse trees hold the security and wiring rules of the deployment:
 * identity-only access, one RBAC module, no keys in outputs, and an app setting for every
 * setting the gateway reads. `az bicep build` in .github/workflows/infra.yml is the full check.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';
import type { Node } from 'web-tree-sitter';
import { parse as parseYaml } from 'yaml';
import { DEFAULTS, SETTING_NAMES } from '../../src/config/defaults';
import { CONTAINERS, PARTITION_KEYS, type ContainerName } from '../../src/store/cosmos';
import {
  callArguments,
  calls,
  createBicepParser,
  modules,
  objectProperties,
  outputs,
  params,
  parseBicepFile,
  propertyAt,
  resources,
  stringItems,
  stringValue,
  syntaxProblems,
  variables,
  type BicepFile,
  type BicepResource,
} from './bicep-tree';

const ROOT = join(__dirname, '../..');
const INFRA = join(ROOT, 'infra');
const RBAC_MODULE = 'modules/rbac.bicep';

function filesUnder(dir: string, suffix?: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return filesUnder(path, suffix);
    return suffix === undefined || name.endsWith(suffix) ? [path] : [];
  });
}

const bicepPaths = filesUnder(INFRA, '.bicep').map((p) => relative(INFRA, p));
let files: Map<string, BicepFile>;
let allResources: BicepResource[];

const file = (path: string): BicepFile => {
  const found = files.get(path);
  if (!found) throw new Error(`infra/${path} was not parsed`);
  return found;
};

/** The one non-`existing` resource of a type (fails the test when there are none or several). */
function only(type: string): BicepResource {
  const matches = allResources.filter((r) => r.type === type && !r.existing);
  if (matches.length !== 1) throw new Error(`expected one ${type}, found ${matches.length}`);
  return matches[0]!;
}

const literal = (node: Node | undefined): string | undefined => stringValue(node) ?? node?.text;

beforeAll(async () => {
  const parser = await createBicepParser();
  files = new Map(bicepPaths.map((p) => [p, parseBicepFile(parser, join(INFRA, p))]));
  allResources = [...files.values()].flatMap(resources);
});

describe('infra/*.bicep parse', () => {
  it('finds main.bicep and its modules', () => {
    expect(bicepPaths).toEqual(expect.arrayContaining(['main.bicep', RBAC_MODULE]));
  });

  it.each(bicepPaths)('%s has no ERROR or MISSING node', (path) => {
    expect(syntaxProblems(file(path))).toEqual([]);
  });

  it('uses only GA (dated, non-preview) API versions', () => {
    const versions = allResources.map((r) => `${r.type}@${r.apiVersion}`);
    for (const version of versions) expect(version).toMatch(/@\d{4}-\d{2}-\d{2}$/);
  });
});

describe('module wiring', () => {
  it.each(bicepPaths)('%s passes every module its required parameters and no unknown one', (path) => {
    for (const call of modules(file(path))) {
      const target = join(dirname(path), call.path);
      expect(bicepPaths).toContain(target);
      const declared = params(file(target));
      const passed = [...objectProperties(propertyAt(call.body, 'params')).keys()];
      expect(declared.map((p) => p.name)).toEqual(expect.arrayContaining(passed));
      const required = declared.filter((p) => p.defaultValue === undefined).map((p) => p.name);
      expect(passed).toEqual(expect.arrayContaining(required));
    }
  });

  it('main.parameters.json names only parameters main.bicep declares', () => {
    const json = JSON.parse(readFileSync(join(INFRA, 'main.parameters.json'), 'utf8')) as {
      parameters: Record<string, unknown>;
    };
    const declared = params(file('main.bicep')).map((p) => p.name);
    expect(declared).toEqual(expect.arrayContaining(Object.keys(json.parameters)));
  });

  it('abbreviations.json has every prefix main.bicep uses', () => {
    const abbrs = JSON.parse(readFileSync(join(INFRA, 'abbreviations.json'), 'utf8')) as Record<
      string,
      string
    >;
    const used = [...file('main.bicep').source.matchAll(/abbrs\.(\w+)/g)].map((m) => m[1]!);
    expect(used.length).toBeGreaterThan(0);
    expect(Object.keys(abbrs)).toEqual(expect.arrayContaining(used));
  });
});

describe('resources', () => {
  it.each([
    'Microsoft.ManagedIdentity/userAssignedIdentities',
    'Microsoft.Web/serverfarms',
    'Microsoft.Web/sites',
    'Microsoft.Web/sites/config',
    'Microsoft.Storage/storageAccounts',
    'Microsoft.Storage/storageAccounts/blobServices/containers',
    'Microsoft.OperationalInsights/workspaces',
    'Microsoft.Insights/components',
    'Microsoft.DocumentDB/databaseAccounts',
    'Microsoft.DocumentDB/databaseAccounts/sqlDatabases',
    'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments',
    'Microsoft.KeyVault/vaults',
  ])('declares %s', (type) => {
    expect(allResources.filter((r) => r.type === type && !r.existing).length).toBeGreaterThan(0);
  });

  it('runs on the Flex Consumption plan (FC1, Linux)', () => {
    const plan = only('Microsoft.Web/serverfarms').body;
    expect(stringValue(propertyAt(plan, 'sku.name'))).toBe('FC1');
    expect(stringValue(propertyAt(plan, 'sku.tier'))).toBe('FlexConsumption');
    expect(stringValue(propertyAt(plan, 'kind'))).toBe('functionapp');
    expect(propertyAt(plan, 'properties.reserved')?.text).toBe('true');
  });

  it('runs Node 22 and deploys from blob storage with the user-assigned identity', () => {
    const site = only('Microsoft.Web/sites').body;
    const config = 'properties.functionAppConfig';
    expect(stringValue(propertyAt(site, `${config}.runtime.name`))).toBe('node');
    expect(stringValue(propertyAt(site, `${config}.runtime.version`))).toBe('22');
    expect(stringValue(propertyAt(site, `${config}.deployment.storage.type`))).toBe('blobContainer');
    expect(stringValue(propertyAt(site, `${config}.deployment.storage.authentication.type`))).toBe(
      'UserAssignedIdentity',
    );
    expect(stringValue(propertyAt(site, 'identity.type'))).toBe('UserAssigned');
    expect(propertyAt(site, 'properties.keyVaultReferenceIdentity')).toBeDefined();
  });

  it('is HTTPS only with TLS 1.2, no FTP and no basic-auth publishing', () => {
    const site = only('Microsoft.Web/sites').body;
    expect(propertyAt(site, 'properties.httpsOnly')?.text).toBe('true');
    expect(stringValue(propertyAt(site, 'properties.siteConfig.minTlsVersion'))).toBe('1.2');
    const policies = allResources.filter(
      (r) => r.type === 'Microsoft.Web/sites/basicPublishingCredentialsPolicies',
    );
    expect(policies.map((p) => stringValue(propertyAt(p.body, 'name'))).sort()).toEqual(['ftp', 'scm']);
    for (const policy of policies) expect(propertyAt(policy.body, 'properties.allow')?.text).toBe('false');
  });

  // ARM refuses these on a Flex Consumption site (ftpsState: error 51021), or they are not Flex
  // settings at all: Flex takes the runtime, scale and deployment from functionAppConfig.
  const FLEX_FORBIDDEN_SITE_CONFIG = [
    'ftpsState',
    'http20Enabled',
    'alwaysOn',
    'linuxFxVersion',
    'use32BitWorkerProcess',
    'javaVersion',
    'netFrameworkVersion',
    'functionAppScaleLimit',
    'minimumElasticInstanceCount',
  ];

  it.each(FLEX_FORBIDDEN_SITE_CONFIG)('sets no siteConfig.%s (not allowed on Flex Consumption)', (name) => {
    const site = only('Microsoft.Web/sites').body;
    expect(propertyAt(site, `properties.siteConfig.${name}`)).toBeUndefined();
  });

  it('keeps storage keyless and private', () => {
    const storage = only('Microsoft.Storage/storageAccounts').body;
    expect(propertyAt(storage, 'properties.allowSharedKeyAccess')?.text).toBe('false');
    expect(propertyAt(storage, 'properties.allowBlobPublicAccess')?.text).toBe('false');
    expect(stringValue(propertyAt(storage, 'properties.minimumTlsVersion'))).toBe('TLS1_2');
  });

  it('sends telemetry with Entra auth only', () => {
    const insights = only('Microsoft.Insights/components').body;
    expect(propertyAt(insights, 'properties.DisableLocalAuth')?.text).toBe('true');
    expect(propertyAt(insights, 'properties.WorkspaceResourceId')).toBeDefined();
  });

  it('turns Cosmos DB key auth off', () => {
    const account = only('Microsoft.DocumentDB/databaseAccounts').body;
    expect(propertyAt(account, 'properties.disableLocalAuth')?.text).toBe('true');
    expect(propertyAt(account, 'properties.disableKeyBasedMetadataWriteAccess')?.text).toBe('true');
  });

  it('deploys Azure Managed Redis only when asked, TLS only, with no access keys, reached by the gateway identity', () => {
    const deploy = params(file('main.bicep')).find((p) => p.name === 'deployRedis');
    expect(literal(deploy?.defaultValue)).toBe('false');
    const database = only('Microsoft.Cache/redisEnterprise/databases').body;
    expect(stringValue(propertyAt(database, 'properties.clientProtocol'))).toBe('Encrypted');
    expect(stringValue(propertyAt(database, 'properties.accessKeysAuthentication'))).toBe('Disabled');
    expect(stringValue(propertyAt(database, 'properties.evictionPolicy'))).toBe('NoEviction');
    expect(
      stringValue(propertyAt(only('Microsoft.Cache/redisEnterprise').body, 'properties.minimumTlsVersion')),
    ).toBe('1.2');
    const access = only('Microsoft.Cache/redisEnterprise/databases/accessPolicyAssignments').body;
    expect(stringValue(propertyAt(access, 'properties.accessPolicyName'))).toBe('default');
    expect(propertyAt(access, 'properties.user.objectId')?.text).toBe('gatewayPrincipalId');
  });

  it('keeps the Key Vault in RBAC mode with soft delete and purge protection', () => {
    const vault = only('Microsoft.KeyVault/vaults').body;
    expect(propertyAt(vault, 'properties.enableRbacAuthorization')?.text).toBe('true');
    expect(propertyAt(vault, 'properties.enablePurgeProtection')?.text).toBe('true');
    expect(propertyAt(vault, 'properties.enableSoftDelete')?.text).toBe('true');
  });
});

describe('Cosmos DB containers', () => {
  const containerType = 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers';

  /** Container name -> partition key path, as infra/modules/cosmos.bicep declares them. */
  function declaredContainers(): Map<string, string> {
    const cosmos = file('modules/cosmos.bicep');
    const declared = new Map<string, string>();
    for (const container of allResources.filter((r) => r.type === containerType)) {
      const pathNode = propertyAt(container.body, 'properties.resource.partitionKey.paths');
      const items = pathNode?.type === 'array' ? pathNode.namedChildren : [];
      const first = items[0] ?? undefined;
      // A parameter stands for its default value (the audit container's auditPartitionKeyPath).
      const path =
        stringValue(first) ??
        stringValue(params(cosmos).find((p) => p.name === first?.text)?.defaultValue) ??
        '?';
      const names = container.loop
        ? stringItems(variables(cosmos).find((v) => v.name === 'stateContainerNames')?.value)
        : [stringValue(propertyAt(container.body, 'name')) ?? '?'];
      for (const name of names) declared.set(name, path);
    }
    return declared;
  }

  it.each(Object.keys(CONTAINERS) as ContainerName[])(
    'creates the %s container of src/store/cosmos.ts with its partition key',
    (name) => {
      expect(declaredContainers().get(CONTAINERS[name])).toBe(PARTITION_KEYS[name]);
    },
  );

  it('creates no container the gateway does not use', () => {
    expect([...declaredContainers().keys()].sort()).toEqual(Object.values(CONTAINERS).sort());
  });

  it('creates the audit container with a TTL and a /pk partition key', () => {
    const audit = allResources.find(
      (r) => r.type === containerType && stringValue(propertyAt(r.body, 'name')) === 'audit',
    );
    expect(audit).toBeDefined();
    expect(propertyAt(audit!.body, 'properties.resource.defaultTtl')?.text).toMatch(/auditRetentionDays/);
    const pkParam = params(file('modules/cosmos.bicep')).find((p) => p.name === 'auditPartitionKeyPath');
    expect(stringValue(pkParam?.defaultValue)).toBe('/pk');
    const retention = params(file('main.bicep')).find((p) => p.name === 'auditRetentionDays');
    expect(retention?.defaultValue?.text).toBe('90');
  });

  it('turns per-item TTLs on for dpop-proofs (defaultTtl -1), so each proof document expires on its own', () => {
    // Cosmos DB ignores an item's `ttl` unless the container's defaultTtl is set; -1 sets none.
    const proofs = allResources.find(
      (r) => r.type === containerType && stringValue(propertyAt(r.body, 'name')) === 'dpop-proofs',
    );
    expect(proofs).toBeDefined();
    expect(propertyAt(proofs!.body, 'properties.resource.defaultTtl')?.text).toBe('-1');
  });

  it('is serverless by default, with a provisioned-throughput switch', () => {
    const mode = params(file('main.bicep')).find((p) => p.name === 'cosmosThroughputMode');
    expect(stringValue(mode?.defaultValue)).toBe('serverless');
    expect(file('modules/cosmos.bicep').source).toMatch(/EnableServerless/);
  });
});

describe('permissions', () => {
  const roleTypes = [
    'Microsoft.Authorization/roleAssignments',
    'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments',
  ];
  const assignments = (): BicepResource[] => allResources.filter((r) => roleTypes.includes(r.type));

  /** Built-in role ids, so that a mistyped GUID is caught offline. */
  const KNOWN_ROLES: Record<string, string> = {
    'Storage Blob Data Owner': 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b',
    'Storage Queue Data Contributor': '974c5e8b-45b9-4653-ba55-5f855dd0fb88',
    'Storage Table Data Contributor': '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3',
    'Monitoring Metrics Publisher': '3913510d-42f4-4e42-8a64-420c390055eb',
    'Key Vault Secrets User': '4633458b-17de-408a-b874-0445c86b69e6',
    'Key Vault Secrets Officer': 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7',
    'Cosmos DB Built-in Data Contributor': '00000000-0000-0000-0000-000000000002',
  };

  it('declares every role assignment in the rbac module', () => {
    expect(assignments().length).toBeGreaterThan(0);
    for (const assignment of assignments()) expect(relative(INFRA, assignment.file)).toBe(RBAC_MODULE);
  });

  it('names every assignment guid(scope, principal, role) with the role named in a comment', () => {
    const roleVars = new Map(variables(file(RBAC_MODULE)).map((v) => [v.name, v]));
    for (const assignment of assignments()) {
      const name = propertyAt(assignment.body, 'name');
      expect(name?.type).toBe('call_expression');
      expect(name?.childForFieldName('function')?.text).toBe('guid');
      const [scope, principal, role] = callArguments(name);
      expect(callArguments(name)).toHaveLength(3);
      expect(scope?.text).toMatch(/\.id$/);
      expect(principal?.text).toMatch(/PrincipalId$/);
      const roleVar = roleVars.get(role?.text ?? '');
      expect(roleVar?.trailingComment).toBeDefined();
      expect(KNOWN_ROLES[roleVar!.trailingComment!]).toBe(stringValue(roleVar!.value));
      expect(propertyAt(assignment.body, 'properties.roleDefinitionId')?.text).toContain(role!.text);
    }
  });

  it.each([
    ['Storage Blob Data Owner', 'gatewayPrincipalId'],
    ['Monitoring Metrics Publisher', 'gatewayPrincipalId'],
    ['Key Vault Secrets User', 'gatewayPrincipalId'],
    ['Cosmos DB Built-in Data Contributor', 'gatewayPrincipalId'],
    ['Key Vault Secrets Officer', 'deployerPrincipalId'],
  ])('grants %s to %s', (roleName, principal) => {
    const roleVar = variables(file(RBAC_MODULE)).find((v) => v.trailingComment === roleName);
    expect(roleVar).toBeDefined();
    const granted = assignments().filter((a) => {
      const args = callArguments(propertyAt(a.body, 'name'));
      return args[1]?.text === principal && args[2]?.text === roleVar!.name;
    });
    expect(granted).toHaveLength(1);
  });
});

describe('app settings', () => {
  /** The app settings: the gatewaySettings object main.bicep passes, plus the module's own. */
  function appSettings(): Map<string, Node> {
    const settings = new Map<string, Node>();
    const call = modules(file('main.bicep')).find((m) => m.path === 'modules/function-app.bicep');
    for (const [k, v] of objectProperties(propertyAt(call?.body, 'params.gatewaySettings')))
      settings.set(k, v);
    const config = allResources.find((r) => r.type === 'Microsoft.Web/sites/config');
    expect(stringValue(propertyAt(config?.body, 'name'))).toBe('appsettings');
    const value = propertyAt(config?.body, 'properties');
    const objects =
      value?.type === 'object' ? [value] : callArguments(value).filter((a) => a.type === 'object');
    for (const object of objects) for (const [k, v] of objectProperties(object)) settings.set(k, v);
    return settings;
  }

  // PORT and COSMOS_KEY are local-only; the on-behalf-of settings are the deployment's own app
  // registration, given through additionalAppSettings when a resource uses onBehalfOf (docs/proxy.md).
  const expected = SETTING_NAMES.filter(
    (name) => name !== 'PORT' && name !== 'COSMOS_KEY' && !name.startsWith('GATEWAY_CLIENT_'),
  );

  it.each(expected)('sets %s', (name) => {
    expect(appSettings().has(name)).toBe(true);
  });

  // PORT and COSMOS_KEY are local-only; the rest Flex Consumption refuses (it takes runtime,
  // version and package from functionAppConfig) or a keyless app must not have.
  it.each([
    'PORT',
    'COSMOS_KEY',
    'AzureWebJobsStorage',
    'FUNCTIONS_WORKER_RUNTIME',
    'FUNCTIONS_EXTENSION_VERSION',
    'WEBSITE_RUN_FROM_PACKAGE',
    'WEBSITE_CONTENTSHARE',
    'WEBSITE_CONTENTAZUREFILECONNECTIONSTRING',
    'WEBSITE_NODE_DEFAULT_VERSION',
    'SCM_DO_BUILD_DURING_DEPLOYMENT',
  ])('never sets %s', (name) => {
    expect(appSettings().has(name)).toBe(false);
  });

  it("sets GATEWAY_ISSUER to the app's own host name unless given, never leaving it to the Host header", () => {
    const value = appSettings().get('GATEWAY_ISSUER')?.text ?? '';
    expect(value).toContain('functionApp.properties.defaultHostName');
    expect(value).toMatch(/^empty\(gatewayIssuer\)/);
  });

  it("lets bodies just over PROXY_MAX_BODY_BYTES reach the gateway (its 413, not the host's)", () => {
    expect(appSettings().get('FUNCTIONS_REQUEST_BODY_SIZE_LIMIT')?.text).toBe(
      'string(requestBodyLimitBytes)',
    );
    const site = modules(file('main.bicep')).find((m) => m.path.endsWith('function-app.bicep'));
    expect(propertyAt(site?.body, 'params.requestBodyLimitBytes')?.text).toBe('proxyMaxBodyBytes + 1048576');
  });

  it('reaches host storage and telemetry with the managed identity', () => {
    const settings = appSettings();
    expect(stringValue(settings.get('AzureWebJobsStorage__credential'))).toBe('managedidentity');
    expect(settings.get('AzureWebJobsStorage__accountName')).toBeDefined();
    expect(settings.get('AzureWebJobsStorage__clientId')?.text).toBe('identityClientId');
    expect(settings.get('AZURE_CLIENT_ID')?.text).toBe('identityClientId');
    expect(settings.get('APPLICATIONINSIGHTS_CONNECTION_STRING')).toBeDefined();
    expect(settings.get('APPLICATIONINSIGHTS_AUTHENTICATION_STRING')?.text).toMatch(
      /ClientId=\$\{identityClientId\};Authorization=AAD/,
    );
  });

  it('reads SAS_SIGNING_KEYS through a Key Vault reference to sas-signing-keys', () => {
    const reference = appSettings().get('SAS_SIGNING_KEYS')?.text ?? '';
    expect(reference).toMatch(/^'@Microsoft\.KeyVault\(SecretUri=\$\{keyVault\.outputs\.uri\}secrets\//);
    const secretName = variables(file('main.bicep')).find((v) => v.name === 'sasSigningKeysSecretName');
    expect(stringValue(secretName?.value)).toBe('sas-signing-keys');
    expect(reference).toContain('${sasSigningKeysSecretName}');
  });

  it('sets REDIS_URL from the Redis it deploys (rediss://, port 10000), empty without one', () => {
    expect(appSettings().get('REDIS_URL')?.text).toBe("deployRedis ? redis!.outputs.url : ''");
    const source = readFileSync(join(INFRA, 'modules/redis.bicep'), 'utf8');
    expect(/output url string = '(.*)'/.exec(source)?.[1]).toBe(
      'rediss://${cluster.properties.hostName}:10000',
    );
  });

  it('takes COSMOS_ENDPOINT from the account it creates', () => {
    expect(appSettings().get('COSMOS_ENDPOINT')?.text).toBe('cosmos.outputs.endpoint');
  });

  it.each([
    ['entraAuthority', 'https://login.microsoftonline.com'],
    ['downstreamAllowedHosts', '*.azurewebsites.net'],
    ['gatewayAdminRole', DEFAULTS.adminRole],
    ['cosmosDatabaseName', DEFAULTS.cosmosDatabase],
    ['entraClockSkewSeconds', String(DEFAULTS.clockSkewSeconds)],
    ['sasDefaultTtlSeconds', String(DEFAULTS.sasDefaultTtlSeconds)],
    ['sasMaxTtlSeconds', String(DEFAULTS.sasMaxTtlSeconds)],
    ['policyRefreshSeconds', String(DEFAULTS.policyRefreshSeconds)],
    ['proxyMaxBodyBytes', String(DEFAULTS.proxyMaxBodyBytes)],
    ['rateLimitPrincipalPerSecond', String(DEFAULTS.rateLimitPrincipalPerSecond)],
    ['rateLimitIpPerSecond', String(DEFAULTS.rateLimitIpPerSecond)],
    ['dpopReplayStore', DEFAULTS.dpopReplayStore],
  ])('parameter %s defaults to %s (src/config/defaults.ts)', (name, value) => {
    const param = params(file('main.bicep')).find((p) => p.name === name);
    expect(literal(param?.defaultValue)).toBe(value);
  });

  it('takes the tenant and audiences from parameters', () => {
    const settings = appSettings();
    expect(settings.get('ENTRA_TENANT_ID')?.text).toBe('entraTenantId');
    expect(settings.get('ENTRA_AUDIENCES')?.text).toBe('entraAudiences');
    const audiences = params(file('main.bicep')).find((p) => p.name === 'entraAudiences');
    expect(audiences?.defaultValue).toBeUndefined();
  });
});

describe('no keys or secrets leave the deployment', () => {
  const FORBIDDEN_TEXT = /listKeys\s*\(|AccountKey=|primaryMasterKey|listConnectionStrings/i;

  it.each(filesUnder(INFRA).map((p) => relative(ROOT, p)))(
    '%s never reads or writes an account key',
    (path) => {
      expect(readFileSync(join(ROOT, path), 'utf8')).not.toMatch(FORBIDDEN_TEXT);
    },
  );

  it('calls no list* function anywhere', () => {
    for (const f of files.values()) {
      for (const fn of ['listKeys', 'listConnectionStrings', 'listAccountSas', 'listServiceSas']) {
        expect(calls(f, fn)).toEqual([]);
      }
    }
  });

  it('names main.bicep outputs in UPPER_SNAKE', () => {
    const names = outputs(file('main.bicep')).map((o) => o.name);
    expect(names).toEqual(
      expect.arrayContaining([
        'COSMOS_ENDPOINT',
        'AZURE_FUNCTION_APP_NAME',
        'GATEWAY_URL',
        'KEY_VAULT_NAME',
        'AZURE_CLIENT_ID',
      ]),
    );
    for (const name of names) expect(name).toMatch(/^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$/);
  });

  it('has no output whose name or value is a key, secret or connection string', () => {
    for (const f of files.values()) {
      for (const output of outputs(f)) {
        // KEY_VAULT_NAME / KEY_VAULT_URI name the vault, not a key.
        expect(output.name.replace(/^KEY_VAULT_/, '')).not.toMatch(/key|secret|password|connection|token/i);
        expect(output.value.text).not.toMatch(
          /listKeys|connectionString|instrumentationKey|secrets\/|Key\b/i,
        );
      }
    }
  });
});

describe('azd up (azure.yaml, infra/azd)', () => {
  const azureYaml = parseYaml(readFileSync(join(ROOT, 'azure.yaml'), 'utf8')) as {
    infra: { provider: string; path: string; module: string };
    services: Record<
      string,
      { host: string; language: string; dist: string; hooks?: Record<string, { run: string }> }
    >;
    hooks: Record<string, { run: string }>;
  };

  it('points azd at a subscription-scoped entry that creates the resource group, then deploys main.bicep', () => {
    expect(azureYaml.infra).toEqual({ provider: 'bicep', path: 'infra/azd', module: 'main' });
    const entry = file('azd/main.bicep');
    expect(entry.source).toMatch(/^targetScope = 'subscription'$/m);
    const group = resources(entry).find((r) => r.type === 'Microsoft.Resources/resourceGroups');
    expect(group).toBeDefined();
    expect(propertyAt(group!.body, 'tags')?.text).toBe('tags');
    expect(entry.source).toMatch(/var tags = \{ 'azd-env-name': environmentName \}/);
    const call = modules(entry).find((m) => m.path === '../main.bicep');
    expect(propertyAt(call?.body, 'scope')?.text).toBe('group');
  });

  it('takes AZURE_ENV_NAME, AZURE_LOCATION and AZURE_PRINCIPAL_ID from the azd environment', () => {
    const json = JSON.parse(readFileSync(join(INFRA, 'azd/main.parameters.json'), 'utf8')) as {
      parameters: Record<string, { value: string }>;
    };
    expect(json.parameters.environmentName!.value).toBe('${AZURE_ENV_NAME}');
    expect(json.parameters.location!.value).toBe('${AZURE_LOCATION}');
    expect(json.parameters.principalId!.value).toBe('${AZURE_PRINCIPAL_ID}');
    const declared = params(file('azd/main.bicep')).map((p) => p.name);
    expect(declared).toEqual(expect.arrayContaining(Object.keys(json.parameters)));
  });

  it('tags the function app with the service name azure.yaml deploys to', () => {
    expect(Object.keys(azureYaml.services)).toEqual(['gateway']);
    expect(azureYaml.services.gateway).toMatchObject({ host: 'function', language: 'js', dist: 'dist/app' });
    const site = only('Microsoft.Web/sites');
    expect(propertyAt(site.body, 'tags')?.text).toBe("union(tags, { 'azd-service-name': 'gateway' })");
  });

  it('hooks run scripts that exist, are executable and valid bash', () => {
    const hooks = [
      ...Object.values(azureYaml.hooks),
      ...Object.values(azureYaml.services.gateway!.hooks ?? {}),
    ];
    expect(hooks.length).toBe(4);
    for (const hook of hooks) {
      const path = join(ROOT, hook.run);
      expect(statSync(path).mode & 0o111).not.toBe(0);
      const check = spawnSync('bash', ['-n', path], { encoding: 'utf8' });
      expect(check.status).toBe(0);
    }
  });

  it("passes through no output named as azd's own AZURE_PRINCIPAL_ID (it names who runs azd)", () => {
    expect(outputs(file('azd/main.bicep')).map((o) => o.name)).not.toContain('AZURE_PRINCIPAL_ID');
  });
});

describe('operations in the template (alerts of docs/operations.md, a workbook)', () => {
  const metricsSource = readFileSync(join(ROOT, 'src/observability/metrics.ts'), 'utf8');
  const alertsFile = () => file('modules/alerts.bicep');

  it('is deployed by main.bicep against the Application Insights component', () => {
    const call = modules(file('main.bicep')).find((m) => m.path === 'modules/alerts.bicep');
    expect(propertyAt(call?.body, 'params.applicationInsightsName')?.text).toBe(
      'monitoring.outputs.applicationInsightsName',
    );
  });

  it.each([
    ['decisions-failing-closed', 'gateway.decisions'],
    ['jwks-refresh-failures', 'gateway.jwks.refreshes'],
    ['audit-drops', 'gateway.audit.dropped'],
    ['server-errors', 'requests'],
  ])('alerts on %s from %s, a name the gateway really emits', (name, source) => {
    const text = alertsFile().source;
    const row = text.slice(
      text.indexOf(`name: '${name}'`),
      text.indexOf('}', text.indexOf(`name: '${name}'`)),
    );
    expect(row).toContain(source === 'requests' ? "query: 'requests |" : `name == "${source}"`);
    if (source !== 'requests') expect(metricsSource).toContain(`'${source}'`);
  });

  it('creates one log alert rule per row, scoped to Application Insights, with an optional e-mail action group', () => {
    const rules = resources(alertsFile()).filter((r) => r.type === 'Microsoft.Insights/scheduledQueryRules');
    expect(rules).toHaveLength(1);
    expect(propertyAt(rules[0]!.body, 'properties.scopes')?.text).toBe('[applicationInsights.id]');
    const group = resources(alertsFile()).find((r) => r.type === 'Microsoft.Insights/actionGroups');
    expect(alertsFile().source).toMatch(/resource actionGroup '[^']+' = if \(!empty\(alertEmail\)\)/);
    expect(group).toBeDefined();
  });

  it('has a workbook of decisions by outcome, policy index age and upstream latency', () => {
    const text = alertsFile().source;
    expect(resources(alertsFile()).some((r) => r.type === 'Microsoft.Insights/workbooks')).toBe(true);
    for (const metric of ['gateway.decisions', 'gateway.policy.index_age', 'gateway.upstream.duration']) {
      expect(text).toContain(`name == "${metric}"`);
      expect(metricsSource).toContain(`'${metric}'`);
    }
  });
});
