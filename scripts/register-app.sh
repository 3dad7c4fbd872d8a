#!/usr/bin/env bash
# Creates, or finds and updates, the gateway's API app registration in Entra ID: the one part of
# a deployment Bicep cannot create. Idempotent: run it again and it changes nothing that is
# already right, reusing the ids of the scope and app roles it made the first time.
#
#   scripts/register-app.sh [--display-name NAME] [--identifier-uri URI] [--no-admin-assignment]
#                           [--lookup-only]
#
# It makes sure of:
#   - the application (single tenant), found by --identifier-uri, else by display name
#   - App ID URI api://<appId> (or --identifier-uri), access tokens v2
#   - delegated scope access_as_user, pre-authorized for the Azure CLI, so that
#     `az account get-access-token --resource api://<appId>` works without a consent prompt
#   - app roles Gateway.Admin, Orders.Reader, Orders.Writer (users and applications)
#   - a service principal, and Gateway.Admin for whoever runs the script (so scripts/deploy.sh
#     can seed the policies); --no-admin-assignment skips that
#
# Prints NAME=value lines on stdout (everything else goes to stderr):
#   ENTRA_TENANT_ID, ENTRA_API_CLIENT_ID, ENTRA_API_IDENTIFIER_URI, ENTRA_AUDIENCES
# --lookup-only changes nothing and prints empty values when the registration does not exist
# (scripts/deploy.sh --what-if uses it).
#
# Needs: az (signed in), node; Entra role Application Administrator or Cloud Application
# Administrator, or a tenant where users may register applications.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

# The Azure CLI's well-known client id: pre-authorizing it lets `az account get-access-token`
# get a token for this API (the deploy script seeds policies with one).
readonly AZURE_CLI_CLIENT_ID='04b07795-8ddb-461a-bbee-02f9e1bf7b46'
readonly SCOPE_VALUE='access_as_user'

display_name="${GATEWAY_APP_DISPLAY_NAME:-entra-functions-gateway}"
identifier_uri=''
assign_admin=true
lookup_only=false

usage() { sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//' >&2; }

while (($# > 0)); do
  case "$1" in
    --display-name) display_name=${2:?--display-name needs a value}; shift 2 ;;
    --identifier-uri) identifier_uri=${2:?--identifier-uri needs a value}; shift 2 ;;
    --no-admin-assignment) assign_admin=false; shift ;;
    --lookup-only) lookup_only=true; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage; die "unknown option $1" ;;
  esac
done

require_cmd az node
require_az_login
tenant_id=$(az account show --query tenantId --output tsv)

# --- find -------------------------------------------------------------------------------------
app_id=''
if [[ -n "$identifier_uri" ]]; then
  app_id=$(az ad app list --identifier-uri "$identifier_uri" --query '[0].appId' --output tsv)
fi
if [[ -z "$app_id" ]]; then
  # OData string literal: a single quote is doubled.
  escaped=${display_name//\'/\'\'}
  found=$(az ad app list --filter "displayName eq '$escaped'" --query '[].appId' --output tsv)
  if [[ $(printf '%s' "$found" | grep -c .) -gt 1 ]]; then
    die "more than one app registration is named \"$display_name\": pass --identifier-uri to pick one"
  fi
  app_id=$found
fi

if [[ "$lookup_only" == true ]]; then
  uri=${identifier_uri:-${app_id:+api://$app_id}}
  printf 'ENTRA_TENANT_ID=%s\nENTRA_API_CLIENT_ID=%s\nENTRA_API_IDENTIFIER_URI=%s\nENTRA_AUDIENCES=%s\n' \
    "$tenant_id" "$app_id" "$uri" "${app_id:+$app_id,$uri}"
  exit 0
fi

# --- create -----------------------------------------------------------------------------------
if [[ -z "$app_id" ]]; then
  log "creating app registration \"$display_name\""
  app_id=$(az ad app create --display-name "$display_name" --sign-in-audience AzureADMyOrg \
    --query appId --output tsv)
else
  log "using app registration \"$display_name\" ($app_id)"
fi
object_id=$(az ad app show --id "$app_id" --query id --output tsv)
identifier_uri=${identifier_uri:-api://$app_id}

if [[ -z $(az ad app show --id "$app_id" --query "identifierUris[?@=='$identifier_uri'] | [0]" --output tsv) ]]; then
  log "setting App ID URI $identifier_uri"
  az ad app update --id "$app_id" --identifier-uris "$identifier_uri" --output none
fi

# --- scope, roles, token version ----------------------------------------------------------------
# Ids are reused by value: a scope or role that exists keeps its id (tokens, consents and
# assignments refer to it); only a missing one gets a new uuid. Roles and scopes that someone
# added by hand are kept as they are.
existing=$(az ad app show --id "$app_id" --output json)
id_of() { # id_of JSON-QUERY: the id of an existing scope or role, or a new uuid
  local id
  id=$(az ad app show --id "$app_id" --query "$1" --output tsv)
  [[ -n "$id" ]] && printf '%s' "$id" || new_uuid
}
scope_id=$(id_of "api.oauth2PermissionScopes[?value=='$SCOPE_VALUE'].id | [0]")
admin_role_id=$(id_of "appRoles[?value=='Gateway.Admin'].id | [0]")
reader_role_id=$(id_of "appRoles[?value=='Orders.Reader'].id | [0]")
writer_role_id=$(id_of "appRoles[?value=='Orders.Writer'].id | [0]")

manifest=$(
  EXISTING="$existing" SCOPE_ID="$scope_id" SCOPE_VALUE="$SCOPE_VALUE" \
    ADMIN="$admin_role_id" READER="$reader_role_id" WRITER="$writer_role_id" \
    CLI="$AZURE_CLI_CLIENT_ID" node - <<'JS'
const app = JSON.parse(process.env.EXISTING);
const env = process.env;
const role = (id, value, displayName, description) => ({
  id, value, displayName, description, isEnabled: true, allowedMemberTypes: ['User', 'Application'],
});
const wanted = [
  role(env.ADMIN, 'Gateway.Admin', 'Gateway administrator', 'Manage the gateway\'s policies, resources and revocations.'),
  role(env.READER, 'Orders.Reader', 'Orders reader', 'Read orders through the gateway (sample policies).'),
  role(env.WRITER, 'Orders.Writer', 'Orders writer', 'Create and change orders through the gateway (sample policies).'),
];
const keep = (list, values) => (list ?? []).filter((item) => !values.includes(item.value));
const scope = {
  id: env.SCOPE_ID,
  value: env.SCOPE_VALUE,
  type: 'User',
  isEnabled: true,
  adminConsentDisplayName: 'Access the authorization gateway',
  adminConsentDescription: 'Call the authorization gateway and the functions behind it as the signed-in user.',
  userConsentDisplayName: 'Access the authorization gateway',
  userConsentDescription: 'Call the authorization gateway as you.',
};
const preAuthorized = (app.api?.preAuthorizedApplications ?? []).filter((p) => p.appId !== env.CLI);
const patch = {
  api: {
    requestedAccessTokenVersion: 2,
    oauth2PermissionScopes: [...keep(app.api?.oauth2PermissionScopes, [env.SCOPE_VALUE]), scope],
  },
  appRoles: [...keep(app.appRoles, wanted.map((r) => r.value)), ...wanted],
};
// The pre-authorization names the scope by id, so it goes in a second request, after the
// scope exists (Graph rejects both in one request when the scope is new).
const preAuth = {
  api: { preAuthorizedApplications: [...preAuthorized, { appId: env.CLI, delegatedPermissionIds: [env.SCOPE_ID] }] },
};
console.log(JSON.stringify(patch));
console.log(JSON.stringify(preAuth));
JS
)
graph_patch() {
  az rest --method PATCH --uri "https://graph.microsoft.com/v1.0/applications/$object_id" \
    --headers 'Content-Type=application/json' --body "$1" --output none
}
log 'setting scope access_as_user, app roles and access token version 2'
graph_patch "$(printf '%s\n' "$manifest" | sed -n 1p)"
log 'pre-authorizing the Azure CLI for access_as_user'
graph_patch "$(printf '%s\n' "$manifest" | sed -n 2p)"

# --- service principal ------------------------------------------------------------------------
sp_id=$(az ad sp list --filter "appId eq '$app_id'" --query '[0].id' --output tsv)
if [[ -z "$sp_id" ]]; then
  log 'creating the service principal'
  sp_id=$(retry 5 10 az ad sp create --id "$app_id" --query id --output tsv)
fi

# --- Gateway.Admin for the caller -------------------------------------------------------------
if [[ "$assign_admin" == true ]]; then
  read -r caller_id _ < <(signed_in_principal)
  [[ -n "${caller_id:-}" ]] || die 'could not find the object id of the signed-in principal'
  assigned=$(az rest --method GET \
    --uri "https://graph.microsoft.com/v1.0/servicePrincipals/$sp_id/appRoleAssignedTo?\$top=999" \
    --query "value[?principalId=='$caller_id' && appRoleId=='$admin_role_id'] | length(@)" --output tsv)
  if [[ "$assigned" == 0 ]]; then
    log "granting Gateway.Admin to the signed-in principal ($caller_id)"
    retry 5 10 az rest --method POST \
      --uri "https://graph.microsoft.com/v1.0/servicePrincipals/$sp_id/appRoleAssignedTo" \
      --headers 'Content-Type=application/json' \
      --body "{\"principalId\":\"$caller_id\",\"resourceId\":\"$sp_id\",\"appRoleId\":\"$admin_role_id\"}" \
      --output none
  fi
fi

printf 'ENTRA_TENANT_ID=%s\nENTRA_API_CLIENT_ID=%s\nENTRA_API_IDENTIFIER_URI=%s\nENTRA_AUDIENCES=%s\n' \
  "$tenant_id" "$app_id" "$identifier_uri" "$app_id,$identifier_uri"
