/**
 * `npm run deploy:check -- --env NAME --location REGION`: renders the names and parameters a
 * deployment of infra/main.bicep would use and checks them offline against Azure's rules, before
 * anything is sent to ARM (what `az deployment ... what-if` would refuse, without a subscription):
 *
 * - the environment name (azd's AZURE_ENV_NAME, the resource group `rg-<name>`);
 * - every resource name main.bicep builds (`<abbreviation><...><13-character token>`), against
 *   its resource type's length and character rules;
 * - the location: an Azure public region name;
 * - infra/main.parameters.json: only parameters main.bicep declares.
 *
 * Prints one line per problem and exits 1, or prints the rendered names and exits 0.
 */
import { readFileSync } from 'node:fs';
import { extname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

/** The repository root, from `scripts/` (ts-jest) or `dist/scripts/` (compiled). */
const ROOT = resolve(__dirname, extname(__filename) === '.js' ? '../..' : '..');

/** uniqueString() is 13 characters of [a-z0-9]: the longest token a name can get. */
const TOKEN = 'abcdefghijklm';

/** Azure's naming rules of the resource types main.bicep creates (learn.microsoft.com naming rules). */
export const NAME_RULES: Readonly<
  Record<string, { min: number; max: number; pattern: RegExp; what: string }>
> = {
  resourceGroup: {
    min: 1,
    max: 90,
    pattern: /^[\w().-]*[\w()-]$/,
    what: 'letters, digits, _ ( ) - ., not ending in .',
  },
  functionApp: {
    min: 2,
    max: 60,
    pattern: /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/i,
    what: 'letters, digits and -, not at the ends',
  },
  plan: { min: 1, max: 60, pattern: /^[a-z0-9-]+$/i, what: 'letters, digits and -' },
  storageAccount: { min: 3, max: 24, pattern: /^[a-z0-9]+$/, what: 'lower-case letters and digits' },
  keyVault: {
    min: 3,
    max: 24,
    pattern: /^[a-z](?!.*--)[a-z0-9-]*[a-z0-9]$/i,
    what: 'letters, digits and -, a letter first, no --',
  },
  cosmosAccount: {
    min: 3,
    max: 44,
    pattern: /^[a-z0-9][a-z0-9-]*$/,
    what: 'lower-case letters, digits and -',
  },
  logAnalytics: {
    min: 4,
    max: 63,
    pattern: /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/i,
    what: 'letters, digits and -, not at the ends',
  },
  appInsights: {
    min: 1,
    max: 260,
    pattern: /^[^%&\\?/]*[^%&\\?/. ]$/,
    what: 'no % & \\ ? /, not ending in . or space',
  },
  identity: {
    min: 3,
    max: 128,
    pattern: /^[a-z0-9][\w-]*$/i,
    what: 'letters, digits, - and _, a letter or digit first',
  },
  blobContainer: {
    min: 3,
    max: 63,
    pattern: /^[a-z0-9](?!.*--)[a-z0-9-]*[a-z0-9]$/,
    what: 'lower-case letters, digits and -, no --',
  },
};

/** Azure public regions (names as ARM spells them). Flex Consumption runs in a subset of them. */
export const AZURE_REGIONS: readonly string[] = [
  'australiacentral',
  'australiaeast',
  'australiasoutheast',
  'brazilsouth',
  'canadacentral',
  'canadaeast',
  'centralindia',
  'centralus',
  'eastasia',
  'eastus',
  'eastus2',
  'francecentral',
  'germanywestcentral',
  'israelcentral',
  'italynorth',
  'japaneast',
  'japanwest',
  'koreacentral',
  'koreasouth',
  'mexicocentral',
  'newzealandnorth',
  'northcentralus',
  'northeurope',
  'norwayeast',
  'polandcentral',
  'qatarcentral',
  'southafricanorth',
  'southcentralus',
  'southeastasia',
  'southindia',
  'spaincentral',
  'swedencentral',
  'switzerlandnorth',
  'uaenorth',
  'uksouth',
  'ukwest',
  'westcentralus',
  'westeurope',
  'westindia',
  'westus',
  'westus2',
  'westus3',
];

/** The names a deployment would use (main.bicep's patterns, with the longest token). */
export function renderNames(
  environmentName: string,
  abbrs: Readonly<Record<string, string>>,
): Record<string, string> {
  return {
    resourceGroup: `rg-${environmentName}`,
    functionApp: `${abbrs.webSitesFunctions}gateway-${TOKEN}`,
    plan: `${abbrs.webServerFarms}${TOKEN}`,
    storageAccount: `${abbrs.storageStorageAccounts}${TOKEN}`,
    keyVault: `${abbrs.keyVaultVaults}${TOKEN}`,
    cosmosAccount: `${abbrs.documentDBDatabaseAccounts}${TOKEN}`,
    logAnalytics: `${abbrs.operationalInsightsWorkspaces}${TOKEN}`,
    appInsights: `${abbrs.insightsComponents}${TOKEN}`,
    identity: `${abbrs.managedIdentityUserAssignedIdentities}gateway-${TOKEN}`,
    blobContainer: `app-package-${TOKEN}`,
  };
}

/** Every problem of a deployment's inputs, as one line each; none when it would be accepted. */
export function checkDeployment(input: {
  environmentName: string;
  location: string;
  root?: string;
}): string[] {
  const root = input.root ?? ROOT;
  const problems: string[] = [];
  if (!/^[a-z0-9][a-z0-9-]{0,39}$/i.test(input.environmentName)) {
    problems.push(
      `environment name "${input.environmentName}": 1 to 40 letters, digits and -, a letter or digit first`,
    );
  }
  if (!AZURE_REGIONS.includes(input.location)) {
    problems.push(`location "${input.location}": not an Azure public region name (e.g. westeurope, eastus2)`);
  }
  const abbrs = JSON.parse(readFileSync(join(root, 'infra/abbreviations.json'), 'utf8')) as Record<
    string,
    string
  >;
  for (const [kind, name] of Object.entries(renderNames(input.environmentName, abbrs))) {
    const rule = NAME_RULES[kind]!;
    if (name.length < rule.min || name.length > rule.max) {
      problems.push(`${kind} name "${name}": ${name.length} characters, allowed ${rule.min} to ${rule.max}`);
    } else if (!rule.pattern.test(name)) {
      problems.push(`${kind} name "${name}": ${rule.what}`);
    }
  }
  const template = readFileSync(join(root, 'infra/main.bicep'), 'utf8');
  const declared = new Set([...template.matchAll(/^param (\w+)/gm)].map((m) => m[1]));
  const parameters = JSON.parse(readFileSync(join(root, 'infra/main.parameters.json'), 'utf8')) as {
    parameters: Record<string, unknown>;
  };
  for (const name of Object.keys(parameters.parameters)) {
    if (!declared.has(name))
      problems.push(`infra/main.parameters.json: main.bicep declares no parameter "${name}"`);
  }
  return problems;
}

const USAGE = `usage: npm run -s deploy:check -- --env NAME --location REGION
checks offline that a deployment's resource names, region and parameters meet Azure's rules
  --env NAME          the azd environment name (AZURE_ENV_NAME)
  --location REGION   the Azure region (AZURE_LOCATION), e.g. swedencentral
exit codes: 0 fine, 1 a problem (each named on stderr), 2 bad input
`;

/** The command line, or a one-line reason it is not usable. */
function parseCommandLine(args: string[]): { env?: string; location?: string; help?: boolean } | string {
  try {
    return parseArgs({
      args,
      strict: true,
      options: {
        env: { type: 'string' },
        location: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values;
  } catch (err) {
    return (err as Error).message.split('\n')[0]!;
  }
}

function main(): void {
  const values = parseCommandLine(process.argv.slice(2));
  if (typeof values === 'string') {
    process.stderr.write(`deploy:check: ${values}\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  const environmentName = values.env ?? process.env.AZURE_ENV_NAME ?? '';
  const location = values.location ?? process.env.AZURE_LOCATION ?? '';
  const problems = checkDeployment({ environmentName, location });
  if (problems.length > 0) {
    for (const problem of problems) process.stderr.write(`deploy:check: ${problem}\n`);
    process.exitCode = 1;
    return;
  }
  const abbrs = JSON.parse(readFileSync(join(ROOT, 'infra/abbreviations.json'), 'utf8')) as Record<
    string,
    string
  >;
  for (const [kind, name] of Object.entries(renderNames(environmentName, abbrs))) {
    process.stdout.write(`${kind.padEnd(15)} ${name.replace(TOKEN, '<token>')}\n`);
  }
  process.stdout.write(
    `location        ${location} (Flex Consumption availability: az functionapp list-flexconsumption-locations)\n`,
  );
}

if (require.main === module) main();
