#!/usr/bin/env bash
# azd postprovision hook: the first SAS key ring and statement key in the new Key Vault (never
# replaced once there), then a restart so the app resolves its Key Vault references.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

[[ -n "${KEY_VAULT_NAME:-}" && -n "${AZURE_RESOURCE_GROUP:-}" && -n "${AZURE_FUNCTION_APP_NAME:-}" ]] ||
  die 'KEY_VAULT_NAME, AZURE_RESOURCE_GROUP and AZURE_FUNCTION_APP_NAME must be in the azd environment (outputs of infra/azd/main.bicep)'
if ensure_first_keys "$KEY_VAULT_NAME"; then
  refresh_key_vault_references "$AZURE_RESOURCE_GROUP" "$AZURE_FUNCTION_APP_NAME"
fi
