#!/usr/bin/env bash
# azd postdeploy hook: waits for /api/health, then applies the policy file POLICIES_FILE (default
# samples/policies.yaml when it exists) with the gateway CLI, as scripts/deploy.sh does.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

[[ -n "${GATEWAY_URL:-}" && -n "${ENTRA_AUDIENCES:-}" ]] || die 'GATEWAY_URL and ENTRA_AUDIENCES must be in the azd environment'
healthy() { curl -fsS --max-time 10 --output /dev/null "$GATEWAY_URL/api/health"; }
log "waiting for $GATEWAY_URL/api/health"
retry 30 10 healthy || warn 'the gateway is not healthy yet: docs/deploy.md#troubleshooting'
policies="${POLICIES_FILE:-}"
if [[ -z "$policies" && -f samples/policies.yaml ]]; then policies=samples/policies.yaml; fi
if [[ -z "$policies" ]]; then
  warn 'no POLICIES_FILE: the gateway holds no resource and no policy and denies every request until you apply some (docs/deploy.md)'
fi
if [[ -n "$policies" ]]; then
  resource="${ENTRA_AUDIENCES%%,*}"
  token=$(az account get-access-token --resource "$resource" --query accessToken --output tsv)
  GATEWAY_TOKEN="$token" node dist/app/cli.js apply -f "$policies" --url "$GATEWAY_URL"
fi
