#!/usr/bin/env bash
# `npm run deploy`: from an empty subscription to a running gateway, and safe to run again.
#
#   npm run deploy -- --resource-group rg-gateway --location swedencentral [options]
#
# Options (environment variable in brackets):
#   -g, --resource-group NAME   resource group, created when missing [AZURE_RESOURCE_GROUP]
#                               (default rg-<name>)
#   -l, --location REGION       region of the resource group and resources [AZURE_LOCATION]
#                               (default: the group's, when it exists)
#   -n, --name NAME             environment name; seeds resource names [AZURE_ENV_NAME] (gateway)
#   -s, --subscription ID       subscription [AZURE_SUBSCRIPTION_ID] (default: az's current one)
#   --policies FILE             policies/resources to apply after publishing
#                               (default samples/policies.yaml when it exists)
#   --no-policies               do not apply any policy file
#   --tenant-id ID              ENTRA_TENANT_ID  } all three given: no app registration step
#   --audiences LIST            ENTRA_AUDIENCES  } [same-named environment variables]
#   --api-app-id ID             ENTRA_API_CLIENT_ID (the API app registration's client id)
#   --app-display-name NAME     display name of the app registration
#                               (default entra-functions-gateway-<name>)
#   -p, --parameter NAME=VALUE  extra Bicep parameter (repeatable), e.g.
#                               -p downstreamAllowedHosts=func-orders.azurewebsites.net
#   --what-if                   show what the deployment would change, change nothing
#   -h, --help
#
# Steps: register the Entra app (scripts/register-app.sh) -> resource group -> Bicep deployment
# (infra/main.bicep, deployment name gateway-<name>) -> first SAS key in Key Vault if absent ->
# npm ci, npm run bundle -> zip dist/app (+ its lazily loaded externals) -> publish ->
# apply the policy file with the bundled gateway CLI -> print the gateway URL.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

env_name="${AZURE_ENV_NAME:-gateway}"
resource_group="${AZURE_RESOURCE_GROUP:-}"
location="${AZURE_LOCATION:-}"
subscription="${AZURE_SUBSCRIPTION_ID:-}"
policies=''
policies_given=false
no_policies=false
tenant_id="${ENTRA_TENANT_ID:-}"
audiences="${ENTRA_AUDIENCES:-}"
api_app_id="${ENTRA_API_CLIENT_ID:-}"
app_display_name=''
what_if=false
extra_params=()

usage() { sed -n '2,29p' "$0" | sed 's/^# \{0,1\}//' >&2; }

while (($# > 0)); do
  case "$1" in
    -g | --resource-group) resource_group=${2:?$1 needs a value}; shift 2 ;;
    -l | --location) location=${2:?$1 needs a value}; shift 2 ;;
    -n | --name) env_name=${2:?$1 needs a value}; shift 2 ;;
    -s | --subscription) subscription=${2:?$1 needs a value}; shift 2 ;;
    --policies) policies=${2:?$1 needs a value}; policies_given=true; shift 2 ;;
    --no-policies) no_policies=true; shift ;;
    --tenant-id) tenant_id=${2:?$1 needs a value}; shift 2 ;;
    --audiences) audiences=${2:?$1 needs a value}; shift 2 ;;
    --api-app-id) api_app_id=${2:?$1 needs a value}; shift 2 ;;
    --app-display-name) app_display_name=${2:?$1 needs a value}; shift 2 ;;
    -p | --parameter) extra_params+=("${2:?$1 needs NAME=VALUE}"); shift 2 ;;
    --what-if) what_if=true; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage; die "unknown option $1" ;;
  esac
done

[[ "$env_name" =~ ^[a-z0-9][a-z0-9-]{0,39}$ ]] || die "--name must be 1-40 lower-case letters, digits or '-'"
resource_group=${resource_group:-rg-$env_name}
app_display_name=${app_display_name:-entra-functions-gateway-$env_name}
deployment_name="gateway-$env_name"
if [[ -z "$policies" && "$no_policies" == false && -f samples/policies.yaml ]]; then
  policies=samples/policies.yaml
fi
[[ -z "$policies" || -f "$policies" ]] || die "policy file $policies does not exist"

require_cmd az node npm openssl curl
command -v zip >/dev/null 2>&1 || command -v python3 >/dev/null 2>&1 || die 'zip (or python3) is required'
require_az_login
if [[ -n "$subscription" ]]; then az account set --subscription "$subscription"; fi
log "subscription $(az account show --query '[name, id]' --output tsv | tr '\t' ' ')"

# --- 1. Entra app registration ------------------------------------------------------------------
if [[ -z "$tenant_id" || -z "$audiences" || -z "$api_app_id" ]]; then
  register_args=(--display-name "$app_display_name")
  if [[ "$what_if" == true ]]; then register_args+=(--lookup-only); fi
  registration=$(scripts/register-app.sh "${register_args[@]}")
  value_of() { printf '%s\n' "$registration" | sed -n "s/^$1=//p"; }
  tenant_id=${tenant_id:-$(value_of ENTRA_TENANT_ID)}
  api_app_id=${api_app_id:-$(value_of ENTRA_API_CLIENT_ID)}
  audiences=${audiences:-$(value_of ENTRA_AUDIENCES)}
fi
if [[ -z "$audiences" ]]; then
  [[ "$what_if" == true ]] || die 'no ENTRA_AUDIENCES: the app registration step gave none'
  warn "app registration \"$app_display_name\" does not exist yet; what-if uses a placeholder audience"
  audiences='00000000-0000-0000-0000-000000000000'
fi
# The resource to ask a token for: the App ID URI when the audiences name one.
token_resource=$(printf '%s' "$audiences" | tr ',' '\n' | grep -m1 '^api://' || printf '%s' "$api_app_id")

# --- 2. resource group -----------------------------------------------------------------------------
if [[ $(az group exists --name "$resource_group") == true ]]; then
  location=${location:-$(az group show --name "$resource_group" --query location --output tsv)}
else
  [[ -n "$location" ]] || die "resource group $resource_group does not exist: give --location to create it"
  if [[ "$what_if" == true ]]; then
    log "resource group $resource_group does not exist: everything in infra/main.bicep would be created in $location"
    exit 0
  fi
  log "creating resource group $resource_group in $location"
  az group create --name "$resource_group" --location "$location" --tags "gateway-env=$env_name" --output none
fi

# Who deploys is named by ARM itself (deployer() in the template): no Microsoft Graph lookup, so
# a CI service principal without directory read and `az login --identity` work. Only its kind
# comes from here.
deployer_type=$(signed_in_principal_type)

deployment_args=(
  --resource-group "$resource_group"
  --template-file infra/main.bicep
  --parameters infra/main.parameters.json
  --parameters "environmentName=$env_name" "location=$location" "entraTenantId=$tenant_id"
  "entraAudiences=$audiences" "deployerPrincipalType=$deployer_type"
)
if ((${#extra_params[@]} > 0)); then deployment_args+=(--parameters "${extra_params[@]}"); fi

if [[ "$what_if" == true ]]; then
  log "what-if of $deployment_name in $resource_group"
  az deployment group what-if --name "$deployment_name" "${deployment_args[@]}"
  exit 0
fi

# --- 3. infrastructure ------------------------------------------------------------------------------
log "deploying infra/main.bicep as $deployment_name (a few minutes the first time)"
az deployment group create --name "$deployment_name" "${deployment_args[@]}" --output none
outputs=$(deployment_outputs "$resource_group" "$deployment_name")
app_name=$(output_value "$outputs" AZURE_FUNCTION_APP_NAME)
gateway_url=$(output_value "$outputs" GATEWAY_URL)
vault_name=$(output_value "$outputs" KEY_VAULT_NAME)
[[ -n "$app_name" && -n "$gateway_url" && -n "$vault_name" ]] || die "deployment $deployment_name has no outputs"

# --- 4. first keys (SAS ring, statement key) -------------------------------------------------------
# Never part of the template (a redeployment must not replace a key); see ensure_first_keys.
created_key=false
if ensure_first_keys "$vault_name"; then created_key=true; fi

# --- 5. build and package --------------------------------------------------------------------------
# dist/app is the whole app (docs/cold-start.md): one esbuild bundle for every function, the CLI,
# host.json, and a package.json whose only dependencies are the clients loaded on demand.
# `npm run bundle` runs the TypeScript build first: esbuild alone does not type-check.
log 'npm ci && npm run bundle'
npm ci --no-audit --no-fund
npm run bundle
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
cp -R dist/app "$stage/app"
# The repository's lock file keeps the externals' own dependencies at the versions tested here.
cp package-lock.json "$stage/app/"
log 'installing the lazily loaded externals into the package'
(cd "$stage/app" && npm install --omit=dev --ignore-scripts --no-audit --no-fund && rm package-lock.json)
package="$stage/app.zip"
if command -v zip >/dev/null 2>&1; then
  (cd "$stage/app" && zip -qr "$package" .)
else
  (cd "$stage/app" && python3 -m zipfile -c "$package" ./*)
fi
log "package: $(du -h "$package" | cut -f1)"

# --- 6. publish --------------------------------------------------------------------------------------
# Flex Consumption: config-zip uploads to the deployment container through the app's one-deploy
# endpoint, with an Entra token (basic-auth publishing is off).
log "publishing to $app_name"
# On a first deploy the app's storage role grant can take several minutes to reach the data
# plane: up to 10 attempts a minute apart, each bounded so a stuck upload cannot hang the script.
retry 10 60 with_timeout 900 az functionapp deployment source config-zip --resource-group "$resource_group" \
  --name "$app_name" --src "$package" --output none
if [[ "$created_key" == true ]]; then
  # The app may have resolved SAS_SIGNING_KEYS before the secret existed.
  refresh_key_vault_references "$resource_group" "$app_name"
fi

# --- 7. policies ---------------------------------------------------------------------------------------
healthy() { curl -fsS --max-time 10 --output /dev/null "$gateway_url/api/health"; }
log "waiting for $gateway_url/api/health"
if ! retry 30 10 healthy; then
  warn "the gateway is not healthy yet: az functionapp log / Application Insights say why (docs/deploy.md#troubleshooting)"
fi
if [[ -z "$policies" ]]; then
  warn "no policy file (--policies FILE): the gateway holds no resource and no policy and denies every request until you apply some (docs/deploy.md)"
fi
if [[ -n "$policies" ]]; then
  log "applying $policies"
  # The token goes through the environment, not the command line (visible to other users).
  token=$(az account get-access-token --resource "$token_resource" --query accessToken --output tsv) || token=''
  if [[ -z "$token" ]] || ! GATEWAY_TOKEN="$token" node dist/app/cli.js apply -f "$policies" --url "$gateway_url"; then
    message="applying $policies failed (needs the Gateway.Admin app role; see docs/deploy.md#troubleshooting)"
    if [[ "$policies_given" == true ]]; then die "$message"; fi
    warn "$message"
  fi
fi

cat >&2 <<DONE

Gateway deployed.
  URL             $gateway_url/api
  health          $gateway_url/api/health
  function app    $app_name (resource group $resource_group)
  Key Vault       $vault_name (secret $SAS_SECRET_NAME)
  audiences       $audiences
Rotate the SAS key: scripts/rotate-sas-key.sh -g $resource_group -n $env_name add
DONE
printf '%s\n' "$gateway_url"
