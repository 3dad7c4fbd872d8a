/**
 * Offline checks of scripts/: every script is valid bash with strict mode, and the SAS key
 * rotation walks add -> promote -> retire against a fake `az` (a small bash stand-in that keeps
 * the Key Vault secret in a file), leaving a ring the gateway's own config loader accepts and
 * never putting a secret on a command line.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateStatementKey, statementKeySetting } from '../../src/config/signing-keys';
import { checkDeployment, NAME_RULES, renderNames } from '../../scripts/check-deployment';
import { loadConfig } from '../../src/config/load-config';
import { ensureBuilt } from '../helpers/dist';

const ROOT = join(__dirname, '../..');
const SCRIPTS = join(ROOT, 'scripts');
const executables = readdirSync(SCRIPTS).filter((f) => f.endsWith('.sh') && f !== 'lib.sh');

/** Records every call (arguments only) and serves the few az commands the rotation script uses. */
const FAKE_AZ = String.raw`#!/usr/bin/env bash
set -euo pipefail
state="$FAKE_AZ_STATE"
printf '%s\n' "$*" >>"$state/calls.log"
query=''; file=''; tags=()
args=("$@")
for ((i = 0; i < ${'$'}{#args[@]}; i++)); do
  case "${'$'}{args[$i]}" in
    --query) query="${'$'}{args[$((i + 1))]}" ;;
    --file) file="${'$'}{args[$((i + 1))]}" ;;
    --tags) for ((j = i + 1; j < ${'$'}{#args[@]}; j++)); do
        [[ "${'$'}{args[$j]}" == --* ]] && break; tags+=("${'$'}{args[$j]}"); done ;;
  esac
done
case "$1 $2" in
  'account show') exit 0 ;;
  'deployment group')
    echo '{"KEY_VAULT_NAME":{"type":"String","value":"kv-test"},"AZURE_FUNCTION_APP_NAME":{"type":"String","value":"func-test"}}' ;;
  'keyvault secret')
    case "$3" in
      show)
        if [[ "$query" == value ]]; then cat "$state/secret"; echo
        elif [[ "$query" == tags.* ]]; then cat "$state/tag.${'$'}{query#tags.}" 2>/dev/null || true; echo
        fi ;;
      set)
        cp "$file" "$state/secret"
        rm -f "$state"/tag.*
        for t in "${'$'}{tags[@]}"; do printf '%s' "${'$'}{t#*=}" >"$state/tag.${'$'}{t%%=*}"; done ;;
    esac ;;
  'functionapp config')
    if [[ "$4" == list ]]; then
      case "$query" in
        *SAS_SIGNING_KEYS*) echo '@Microsoft.KeyVault(SecretUri=https://kv-test.vault.azure.net/secrets/sas-signing-keys/)' ;;
        *SAS_MAX_TTL_SECONDS*) echo 3600 ;;
      esac
    fi ;;
  'functionapp restart') exit 0 ;;
  *) echo "fake az: unexpected $*" >&2; exit 2 ;;
esac
`;

describe('scripts/*.sh', () => {
  it.each(readdirSync(SCRIPTS).filter((f) => f.endsWith('.sh')))('%s is valid bash', (name) => {
    const result = spawnSync('bash', ['-n', join(SCRIPTS, name)], { encoding: 'utf8' });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
  });

  it.each(executables)('%s runs in strict mode and is executable', (name) => {
    const path = join(SCRIPTS, name);
    expect(readFileSync(path, 'utf8')).toMatch(/^#!\/usr\/bin\/env bash\n[\s\S]*^set -euo pipefail$/m);
    expect(statSync(path).mode & 0o111).not.toBe(0);
  });

  it('npm run deploy runs scripts/deploy.sh', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    expect(pkg.scripts.deploy).toBe('bash scripts/deploy.sh');
  });
});

/** A folder holding the fake `az` and its Key Vault state: a secret and its tags. */
function fakeVault(prefix: string, secret: string, signer: string): string {
  const state = mkdtempSync(join(tmpdir(), prefix));
  writeFileSync(join(state, 'az'), FAKE_AZ);
  chmodSync(join(state, 'az'), 0o755);
  writeFileSync(join(state, 'secret'), secret);
  writeFileSync(join(state, 'tag.signer'), signer);
  writeFileSync(join(state, 'tag.promotedAt'), '0');
  return state;
}

/** Runs a rotation script against the fake `az` of `state`. */
function runRotation(script: string, state: string, args: readonly string[]) {
  return spawnSync('bash', [join(SCRIPTS, script), '-g', 'rg-test', ...args], {
    encoding: 'utf8',
    env: { ...process.env, PATH: `${state}:${process.env.PATH ?? ''}`, FAKE_AZ_STATE: state },
  });
}

/** The key names (signing key first) the gateway's own config loader reads from the two rings. */
function gatewayKeyNames(rings: { sas: string; statement: string }): { sas: string[]; statement: string[] } {
  const config = loadConfig(
    {
      ENTRA_AUTHORITY: 'https://login.microsoftonline.com',
      ENTRA_TENANT_ID: '11111111-1111-1111-1111-111111111111',
      ENTRA_AUDIENCES: 'api://gateway',
      COSMOS_ENDPOINT: 'https://cosmos.example.net',
      DOWNSTREAM_ALLOWED_HOSTS: '*.azurewebsites.net',
      SAS_SIGNING_KEYS: rings.sas,
      STATEMENT_SIGNING_KEYS: rings.statement,
    },
    { mode: 'functions' },
  );
  return {
    sas: config.sas.signingKeys.map((k) => k.name),
    statement: config.statement.signingKeys.map((k) => k.name),
  };
}

describe('scripts/rotate-sas-key.sh', () => {
  let state: string;
  const k1 = Buffer.alloc(32, 1).toString('base64');

  beforeEach(() => {
    state = fakeVault('rotate-', `k1=${k1}`, 'k1');
  });
  afterEach(() => rmSync(state, { recursive: true, force: true }));

  const rotate = (...args: string[]) => runRotation('rotate-sas-key.sh', state, args);
  const ring = () => readFileSync(join(state, 'secret'), 'utf8');
  const names = () =>
    ring()
      .split(',')
      .map((pair) => pair.split('=')[0]);
  const gatewayKeys = () =>
    gatewayKeyNames({ sas: ring(), statement: statementKeySetting([generateStatementKey('s1')]) }).sas;

  it('adds a new key second, promotes it first, then retires the old one', () => {
    let run = rotate('add');
    expect(run.stderr).not.toMatch(/error/);
    expect(run.status).toBe(0);
    expect(names()).toEqual(['k1', 'k2']);
    expect(gatewayKeys()).toEqual(['k1', 'k2']);

    run = rotate('promote', 'k2');
    expect(run.status).toBe(0);
    expect(gatewayKeys()).toEqual(['k2', 'k1']);

    // Promoted a moment ago: tokens signed with k1 may still be valid.
    run = rotate('retire', 'k1');
    expect(run.status).not.toBe(0);
    expect(run.stderr).toMatch(/may still be valid/);
    expect(names()).toEqual(['k2', 'k1']);

    run = rotate('retire', 'k1', '--force');
    expect(run.status).toBe(0);
    expect(gatewayKeys()).toEqual(['k2']);
  });

  it('refuses to retire the signing key or an unknown one', () => {
    expect(rotate('retire', 'k1', '--force').status).not.toBe(0);
    expect(rotate('promote', 'k9').status).not.toBe(0);
    expect(names()).toEqual(['k1']);
  });

  it('shows names only and never passes a secret on a command line', () => {
    rotate('add', 'k-next');
    const shown = rotate('show');
    expect(shown.status).toBe(0);
    expect(shown.stdout).toMatch(/signs:\s+k1/);
    expect(shown.stdout).toMatch(/verifies:\s+k1 k-next/);
    const calls = readFileSync(join(state, 'calls.log'), 'utf8');
    for (const pair of ring().split(',')) {
      const secret = pair.slice(pair.indexOf('=') + 1);
      expect(shown.stdout).not.toContain(secret);
      expect(calls).not.toContain(secret);
    }
    // Every change is followed by a refresh of the app's Key Vault reference.
    expect(calls).toMatch(/functionapp config appsettings set .*SAS_SIGNING_KEYS=@Microsoft\.KeyVault/);
  });
});

describe('scripts/rotate-statement-key.sh (rotate-sas-key.sh --ring statement)', () => {
  let state: string;

  beforeEach(() => {
    state = fakeVault('rotate-statement-', statementKeySetting([generateStatementKey('s1')]), 's1');
  });
  afterEach(() => rmSync(state, { recursive: true, force: true }));

  const rotate = (...args: string[]) => runRotation('rotate-statement-key.sh', state, args);
  const ring = () => readFileSync(join(state, 'secret'), 'utf8');
  const gatewayKeys = () =>
    gatewayKeyNames({ sas: `k1=${Buffer.alloc(32, 1).toString('base64')}`, statement: ring() }).statement;

  it('adds an EC P-256 key second, promotes it only after the JWKS caches had it, retires the old one after a statement life', () => {
    let run = rotate('add');
    expect([run.status, run.stderr]).toEqual([0, expect.not.stringMatching(/error/)]);
    expect(gatewayKeys()).toEqual(['s1', 's2']);

    // Added a moment ago: downstreams may not have s2 in their JWKS cache yet.
    run = rotate('promote', 's2');
    expect(run.status).not.toBe(0);
    expect(run.stderr).toMatch(/JWKS cache/);
    expect(gatewayKeys()).toEqual(['s1', 's2']);
    expect(rotate('promote', 's2', '--force').status).toBe(0);
    expect(gatewayKeys()).toEqual(['s2', 's1']);

    run = rotate('retire', 's1');
    expect(run.status).not.toBe(0);
    expect(run.stderr).toMatch(/statements signed with s1 may still be valid/);
    expect(rotate('retire', 's1', '--force').status).toBe(0);
    expect(gatewayKeys()).toEqual(['s2']);
  });

  it('prints its usage with --help, and never passes a key on a command line', () => {
    const help = rotate('--help');
    expect(help.status).toBe(0);
    expect(help.stderr).toMatch(/--ring sas\|statement/);
    rotate('add');
    const calls = readFileSync(join(state, 'calls.log'), 'utf8');
    for (const pair of ring().split(',')) expect(calls).not.toContain(pair.slice(pair.indexOf('=') + 1));
  });
});

describe('.funcignore', () => {
  const lines = readFileSync(join(ROOT, '.funcignore'), 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));

  it.each(['.local/', 'local.settings.json', 'test/', 'bench/', 'loadtest/'])(
    'keeps %s out of a `func azure functionapp publish` package',
    (entry) => {
      expect(lines).toContain(entry);
    },
  );

  it('never excludes what the host loads (dist/, host.json, package.json)', () => {
    for (const kept of ['dist/', 'host.json', 'package.json', '*.js', '*.json'])
      expect(lines).not.toContain(kept);
  });
});

describe('scripts/lib.sh against a stub az that records its calls', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'lib-sh-'));
    // `az account show --query user.type` answers as for the kind in $FAKE_TYPE; `az ad ...`
    // (Microsoft Graph) fails as it does for a principal without directory read.
    writeFileSync(
      join(dir, 'az'),
      `#!/usr/bin/env bash
echo "$*" >>"${dir}/calls"
case "$1 $2" in
  'account show') echo "$FAKE_TYPE" ;;
  'ad '*) echo 'ERROR: Insufficient privileges to complete the operation.' >&2; exit 1 ;;
  *) exit 0 ;;
esac
`,
    );
    chmodSync(join(dir, 'az'), 0o755);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const run = (script: string, env: Record<string, string> = {}) =>
    spawnSync('bash', ['-c', `set -euo pipefail; source ${join(SCRIPTS, 'lib.sh')}; ${script}`], {
      encoding: 'utf8',
      env: { ...process.env, PATH: `${dir}:${process.env.PATH ?? ''}`, ...env },
      timeout: 20_000,
    });
  const calls = () => {
    try {
      return readFileSync(join(dir, 'calls'), 'utf8').trim().split('\n');
    } catch {
      return [];
    }
  };

  it.each([
    ['user', 'User'],
    ['servicePrincipal', 'ServicePrincipal'],
  ])('the deployer kind of a %s comes without Microsoft Graph', (type, expected) => {
    const result = run('signed_in_principal_type', { FAKE_TYPE: type });
    expect(result.stdout.trim()).toBe(expected);
    expect(calls().some((c) => c.startsWith('ad '))).toBe(false);
  });

  it('deploy.sh asks no Microsoft Graph question (the template names the deployer)', () => {
    const deploy = readFileSync(join(SCRIPTS, 'deploy.sh'), 'utf8');
    expect(deploy).not.toMatch(/signed_in_principal\b(?!_type)/);
    expect(deploy).not.toMatch(/az ad /);
  });

  it('deploy.sh bounds the publish step: retried, each attempt under a time limit', () => {
    const deploy = readFileSync(join(SCRIPTS, 'deploy.sh'), 'utf8');
    expect(deploy).toMatch(/retry \d+ \d+ with_timeout \d+ az functionapp deployment source config-zip/);
  });

  it('with_timeout ends a command that hangs', () => {
    const started = Date.now();
    const result = run('with_timeout 1 sleep 30 || echo "ended: $?"');
    expect(result.stdout.trim()).toBe('ended: 124');
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('retry gives a failing step its attempts, then fails; a step that recovers succeeds', () => {
    const failing = run(
      'calls=0; step() { calls=$((calls + 1)); return 1; }; retry 3 0 step || echo "gave up after $calls"',
    );
    expect(failing.stdout.trim()).toBe('gave up after 3');
    const recovering = run(
      'calls=0; step() { calls=$((calls + 1)); ((calls >= 2)); }; retry 5 0 step && echo "done after $calls"',
    );
    expect(recovering.stdout.trim()).toBe('done after 2');
  });
});

describe('npm run deploy:check (scripts/check-deployment.ts): names and parameters against Azure rules, offline', () => {
  it('accepts the defaults with a plain environment name and region', () => {
    expect(checkDeployment({ environmentName: 'gateway-prod', location: 'westeurope' })).toEqual([]);
  });

  it.each([
    ['an environment name with a space', 'gateway prod', 'westeurope', /environment name/],
    ['an environment name over 40 characters', 'g'.repeat(41), 'westeurope', /environment name/],
    ['a region display name', 'gateway', 'West Europe', /location/],
    ['an unknown region', 'gateway', 'moon1', /location/],
  ])('refuses %s', (_name, environmentName, location, problem) => {
    expect(checkDeployment({ environmentName, location }).join('\n')).toMatch(problem);
  });

  it("renders every name within its resource type's rules (storage account: 3-24 lower-case letters and digits)", () => {
    const abbrs = JSON.parse(readFileSync(join(ROOT, 'infra/abbreviations.json'), 'utf8')) as Record<
      string,
      string
    >;
    const names = renderNames('gateway', abbrs);
    expect(names.storageAccount).toMatch(NAME_RULES.storageAccount!.pattern);
    expect(names.storageAccount!.length).toBeLessThanOrEqual(24);
    expect(names.keyVault!.length).toBeLessThanOrEqual(24);
    // A longer abbreviation would break the storage account rule: the check sees it.
    expect(
      renderNames('gateway', { ...abbrs, storageStorageAccounts: 'storage-acct' }).storageAccount,
    ).not.toMatch(NAME_RULES.storageAccount!.pattern);
  });
});

describe('npm run deploy:check, as a command', () => {
  const run = (...args: string[]) => {
    ensureBuilt();
    return spawnSync(process.execPath, [join(ROOT, 'dist/scripts/check-deployment.js'), ...args], {
      encoding: 'utf8',
      env: { ...process.env, AZURE_ENV_NAME: '', AZURE_LOCATION: '' },
    });
  };

  it('--help prints the usage and exits 0', () => {
    const result = run('--help');
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/^usage: npm run -s deploy:check -- --env NAME --location REGION/);
  });

  it.each([
    [['--env', '-bad', '--location', 'westeurope'], /Option '--env' argument is ambiguous/],
    [['--nope'], /Unknown option '--nope'/],
  ])('bad input %j: one line naming it, the usage, exit 2, no stack trace', (args, message) => {
    const result = run(...args);
    expect(result.status).toBe(2);
    expect(result.stderr.split('\n')[0]).toMatch(message);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it('a name Azure refuses: each problem named, exit 1', () => {
    const result = run('--env=-bad', '--location', 'mars');
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/environment name "-bad"/);
    expect(result.stderr).toMatch(/location "mars"/);
  });
});
