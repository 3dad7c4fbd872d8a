# Shared helpers of the deployment scripts (sourced, not run). Messages go to stderr, so a
# script's stdout stays machine-readable (register-app.sh prints NAME=value lines there).

# The one Key Vault secret holding the SAS key ring (infra/main.bicep: sasSigningKeysSecretName).
readonly SAS_SECRET_NAME='sas-signing-keys'
# The Key Vault secret holding the statement signing keys (infra/main.bicep: statementSigningKeysSecretName).
readonly STATEMENT_SECRET_NAME='statement-signing-keys'
# Key names the gateway accepts (src/config/load-config.ts).
readonly SAS_KEY_NAME_PATTERN='^[A-Za-z0-9._-]{1,64}$'

log() { printf '==> %s\n' "$*" >&2; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

require_cmd() {
  local cmd
  for cmd in "$@"; do
    command -v "$cmd" >/dev/null 2>&1 || die "$cmd is required (docs/deploy.md#prerequisites)"
  done
}

require_az_login() {
  az account show --only-show-errors --output none 2>/dev/null || die 'not signed in to Azure: run az login'
}

# Runs "$@" up to $1 times, $2 seconds apart; for RBAC grants that take a while to propagate.
retry() {
  local attempts=$1 delay=$2 n=1
  shift 2
  until "$@"; do
    ((n >= attempts)) && return 1
    warn "attempt $n of $attempts failed; retrying in ${delay}s"
    sleep "$delay"
    n=$((n + 1))
  done
}

# Runs "$@" for at most $1 seconds (coreutils timeout, or gtimeout on macOS; without either, it
# runs unbounded, with a warning once).
with_timeout() {
  local seconds=$1
  shift
  if command -v timeout >/dev/null 2>&1; then
    timeout "$seconds" "$@"
  elif command -v gtimeout >/dev/null 2>&1; then
    gtimeout "$seconds" "$@"
  else
    warn "no timeout command: running $1 without a time limit"
    "$@"
  fi
}

new_uuid() {
  if command -v uuidgen >/dev/null 2>&1; then
    uuidgen | tr '[:upper:]' '[:lower:]'
  elif [[ -r /proc/sys/kernel/random/uuid ]]; then
    cat /proc/sys/kernel/random/uuid
  else
    node -e 'console.log(require("node:crypto").randomUUID())'
  fi
}

# Prints User or ServicePrincipal for whoever `az` is signed in as (a managed identity signs in as
# a service principal), from az's own account record: no Microsoft Graph call.
signed_in_principal_type() {
  case "$(az account show --query user.type --output tsv)" in
    user) echo User ;;
    *) echo ServicePrincipal ;;
  esac
}

# Prints "<object id> <User|ServicePrincipal>" for whoever `az` is signed in as (Microsoft Graph:
# only the app registration script, which needs Graph anyway, uses it).
signed_in_principal() {
  local type
  type=$(az account show --query user.type --output tsv)
  if [[ "$type" == 'user' ]]; then
    printf '%s User\n' "$(az ad signed-in-user show --query id --output tsv)"
  else
    printf '%s ServicePrincipal\n' "$(az ad sp show --id "$(az account show --query user.name --output tsv)" --query id --output tsv)"
  fi
}

# A fresh SAS signing secret: 32 random bytes, base64 (the gateway requires at least 32 bytes).
new_sas_secret() {
  openssl rand -base64 32 | tr -d '\n'
}

# Writes a secret value ($3) as secret $2 of vault $1 without putting it on a command line or in
# a log: the value goes through a file only this user can read, removed at once. Extra args: az flags.
write_secret() {
  local vault=$1 name=$2 value=$3 file
  shift 3
  file=$(umask 077 && mktemp)
  printf '%s' "$value" >"$file"
  if ! az keyvault secret set --vault-name "$vault" --name "$name" --file "$file" \
    --encoding utf-8 --content-type 'text/plain; format=name=base64,...' --output none "$@"; then
    rm -f "$file"
    return 1
  fi
  rm -f "$file"
}

# Writes the SAS key ring ($2) to the vault ($1). Extra args: az flags (tags).
write_key_ring() {
  local vault=$1 ring=$2
  shift 2
  write_secret "$vault" "$SAS_SECRET_NAME" "$ring" "$@"
}

# A fresh statement signing key: EC P-256, PKCS#8 DER, base64 (STATEMENT_SIGNING_KEYS format).
new_statement_key() {
  node -e 'const { generateKeyPairSync } = require("node:crypto");
    const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    process.stdout.write(privateKey.export({ format: "der", type: "pkcs8" }).toString("base64"));'
}

# Makes the Function App fetch its Key Vault references again now, instead of within 24 hours:
# writing an app setting (the same reference) is a configuration change, which restarts the app
# and re-resolves every reference; the restart makes sure of it.
refresh_key_vault_references() {
  local group=$1 app=$2 reference
  reference=$(az functionapp config appsettings list --resource-group "$group" --name "$app" \
    --query "[?name=='SAS_SIGNING_KEYS'].value | [0]" --output tsv)
  [[ "$reference" == @Microsoft.KeyVault* ]] || die "SAS_SIGNING_KEYS of $app is not a Key Vault reference"
  az functionapp config appsettings set --resource-group "$group" --name "$app" \
    --settings "SAS_SIGNING_KEYS=$reference" --output none
  az functionapp restart --resource-group "$group" --name "$app" --output none ||
    warn "restart of $app failed; the new key ring is picked up within 24 hours or on the next restart"
}

# The outputs of the environment's deployment (scripts/deploy.sh names it gateway-<name>), as
# JSON; read one with output_value. Plain bash 3.2 (macOS) has no associative arrays.
deployment_outputs() {
  az deployment group show --resource-group "$1" --name "$2" --query properties.outputs --output json
}

# output_value JSON NAME: the value of one deployment output (empty when absent).
output_value() {
  printf '%s' "$1" | node -e 'const o = JSON.parse(require("node:fs").readFileSync(0, "utf8")) ?? {};
    process.stdout.write(String(o[process.argv[1]]?.value ?? ""));' "$2"
}

# Makes sure the vault ($1) holds the first SAS key ring and the first statement key; never
# replaces one that exists (a redeployment must not change keys). Succeeds (0) when it created a
# key, fails (1) when both were already there. The Secrets Officer grant of the deployment can take
# a minute or two to reach Key Vault, hence the retries. Used by deploy.sh and the azd hook.
ensure_first_keys() {
  local vault=$1 names created=1
  list_secret_names() { az keyvault secret list --vault-name "$vault" --query '[].name' --output tsv; }
  names=$(retry 12 15 list_secret_names) || die "cannot list secrets of $vault (Key Vault Secrets Officer missing?)"
  local name
  for name in "$SAS_SECRET_NAME" "$STATEMENT_SECRET_NAME"; do
    if printf '%s\n' "$names" | grep -qx "$name"; then
      log "Key Vault $vault already holds $name: keeping it"
      continue
    fi
    if az keyvault secret list-deleted --vault-name "$vault" --query '[].name' --output tsv 2>/dev/null |
      grep -qx "$name"; then
      die "$name is soft-deleted in $vault: az keyvault secret recover --vault-name $vault --name $name, then run again"
    fi
    if [[ "$name" == "$SAS_SECRET_NAME" ]]; then
      log "storing the first SAS signing key (k1) in $vault"
      retry 5 15 write_key_ring "$vault" "k1=$(new_sas_secret)" --tags signer=k1 "promotedAt=$(date +%s)"
    else
      log "storing the first statement signing key (s1) in $vault"
      retry 5 15 write_secret "$vault" "$STATEMENT_SECRET_NAME" "s1=$(new_statement_key)" --tags signer=s1
    fi
    created=0
  done
  return "$created"
}
