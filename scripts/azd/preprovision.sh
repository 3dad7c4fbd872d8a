#!/usr/bin/env bash
# azd preprovision hook: registers (or finds) the gateway's API app in Entra ID, the one part
# Bicep cannot create, and stores its tenant and audiences in the azd environment for the
# template. Skipped when ENTRA_AUDIENCES is already set (an existing registration, or another
# tenant's API).
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

if [[ -n "${ENTRA_AUDIENCES:-}" ]]; then
  log "ENTRA_AUDIENCES is set: keeping the app registration it names"
else
  while IFS='=' read -r name value; do
    case "$name" in
      ENTRA_TENANT_ID | ENTRA_AUDIENCES) azd env set "$name" "$value" ;;
    esac
  done < <(bash scripts/register-app.sh)
fi
azd env set AZURE_PRINCIPAL_TYPE "$(signed_in_principal_type)"
