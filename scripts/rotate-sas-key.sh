#!/usr/bin/env bash
# Rotates a signing key ring in Key Vault, in three steps that never invalidate a credential
# still in use. Two rings (--ring):
#
#   sas        secret sas-signing-keys (SAS_SIGNING_KEYS, "name=base64,...": the first key signs
#              SAS tokens, every key verifies them); keys k1, k2, ...
#   statement  secret statement-signing-keys (STATEMENT_SIGNING_KEYS, EC P-256 PKCS#8 keys: the
#              first signs x-gateway-principal, every key is published in the JWKS); keys s1, s2,
#              ... (scripts/rotate-statement-key.sh runs this one)
#
#   1. add [NAME]     a new key goes in SECOND place: every instance learns to verify it (and
#                     downstreams see it in the JWKS) while the old key still signs
#   2. promote NAME   the key moves to FIRST place and signs. For statements, only once
#                     downstreams' JWKS caches (5 min) have seen it since the add; --force skips
#   3. retire NAME    the old key is removed, once everything it signed has expired: SAS tokens
#                     SAS_MAX_TTL_SECONDS after the promotion, statements 60 s; --force skips
#   show              key names and which one signs (never a secret)
#
#   scripts/rotate-sas-key.sh -g RESOURCE_GROUP [-n ENV_NAME] [--ring sas|statement] add|promote|retire|show [NAME]
#
# Options: -g/--resource-group [AZURE_RESOURCE_GROUP], -n/--name environment [AZURE_ENV_NAME]
# (default gateway; the vault and app come from deployment gateway-<name>), or give them:
# --vault-name NAME, --app NAME. --force: promote or retire before the wait is over.
# After each change the Function App re-reads its Key Vault references (an app setting write and
# a restart), so instances pick the change up within a minute or two.
# Needs: az (Key Vault Secrets Officer on the vault: scripts/deploy.sh grants it to the
# deploying principal), openssl, node.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

env_name="${AZURE_ENV_NAME:-gateway}"
resource_group="${AZURE_RESOURCE_GROUP:-}"
vault_name=''
app_name=''
force=false
ring_kind=sas
command=''
key_name=''

usage() { sed -n '2,31p' "${ROTATE_SCRIPT:-$0}" | sed 's/^# \{0,1\}//' >&2; }

while (($# > 0)); do
  case "$1" in
    -g | --resource-group) resource_group=${2:?$1 needs a value}; shift 2 ;;
    -n | --name) env_name=${2:?$1 needs a value}; shift 2 ;;
    --vault-name) vault_name=${2:?$1 needs a value}; shift 2 ;;
    --app) app_name=${2:?$1 needs a value}; shift 2 ;;
    --force) force=true; shift ;;
    --ring) ring_kind=${2:?$1 needs a value}; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    add | promote | retire | show) command=$1; shift ;;
    -*) usage; die "unknown option $1" ;;
    *) [[ -z "$key_name" ]] || die "unexpected argument $1"; key_name=$1; shift ;;
  esac
done
[[ -n "$command" ]] || { usage; die 'give a step: add, promote, retire or show'; }
case "$ring_kind" in
  sas) secret_name=$SAS_SECRET_NAME prefix=k ;;
  statement) secret_name=$STATEMENT_SECRET_NAME prefix=s ;;
  *) die '--ring must be sas or statement' ;;
esac
[[ -n "$resource_group" ]] || die '--resource-group is required'
[[ -z "$key_name" || "$key_name" =~ $SAS_KEY_NAME_PATTERN ]] || die "key name must match $SAS_KEY_NAME_PATTERN"

require_cmd az node openssl
require_az_login
if [[ -z "$vault_name" || -z "$app_name" ]]; then
  outputs=$(deployment_outputs "$resource_group" "gateway-$env_name") ||
    die "no deployment gateway-$env_name in $resource_group: give --name, or --vault-name and --app"
  vault_name=${vault_name:-$(output_value "$outputs" KEY_VAULT_NAME)}
  app_name=${app_name:-$(output_value "$outputs" AZURE_FUNCTION_APP_NAME)}
fi

# --- the ring, in memory only ---------------------------------------------------------------------
ring=$(az keyvault secret show --vault-name "$vault_name" --name "$secret_name" --query value --output tsv)
[[ -n "$ring" ]] || die "$secret_name in $vault_name is empty"
tag() { az keyvault secret show --vault-name "$vault_name" --name "$secret_name" --query "tags.$1" --output tsv; }

names=()
entries=()
IFS=',' read -r -a pairs <<<"$ring"
for pair in "${pairs[@]}"; do
  pair=$(printf '%s' "$pair" | tr -d '[:space:]')
  [[ -n "$pair" ]] || continue
  names+=("${pair%%=*}")
  entries+=("$pair")
done
((${#names[@]} > 0)) || die "$secret_name holds no name=base64 pair"
signer=${names[0]}

index_of() { # index_of NAME: position in the ring, or -1
  local i
  for i in "${!names[@]}"; do
    if [[ "${names[$i]}" == "$1" ]]; then
      printf '%s' "$i"
      return
    fi
  done
  printf '%s' -1
}
join_ring() { local IFS=','; printf '%s' "$*"; }
save() { # save RING SIGNER [promotedAt [addedAt]]: a new secret version, then make the app re-read it
  write_secret "$vault_name" "$secret_name" "$1" \
    --tags "signer=$2" "promotedAt=${3:-$(tag promotedAt)}" "addedAt=${4:-$(tag addedAt)}"
  refresh_key_vault_references "$resource_group" "$app_name"
}
new_key() { if [[ "$ring_kind" == sas ]]; then new_sas_secret; else new_statement_key; fi; }
# must_wait SECONDS_SINCE WHAT: refuses (unless --force) until the tag's time plus the wait.
must_wait() {
  local since=$1 wait=$2 what=$3 now
  now=$(date +%s)
  [[ "$force" == true ]] || ((now >= since + wait)) ||
    die "$what for $((since + wait - now))s more; wait, or --force"
}

case "$command" in
  show)
    printf 'signs:    %s\nverifies: %s\n' "$signer" "${names[*]}"
    promoted=$(tag promotedAt)
    if [[ -n "$promoted" ]]; then
      printf 'promoted: %s\n' "$(date -u -d "@$promoted" 2>/dev/null || date -u -r "$promoted")"
    fi
    ;;

  add)
    if [[ -z "$key_name" ]]; then
      highest=0
      for name in "${names[@]}"; do
        if [[ "$name" =~ ^$prefix([0-9]+)$ ]] && ((BASH_REMATCH[1] > highest)); then highest=${BASH_REMATCH[1]}; fi
      done
      key_name="$prefix$((highest + 1))"
    fi
    [[ $(index_of "$key_name") == -1 ]] || die "the ring already holds $key_name"
    new_entries=("${entries[0]}" "$key_name=$(new_key)")
    if ((${#entries[@]} > 1)); then new_entries+=("${entries[@]:1}"); fi
    save "$(join_ring "${new_entries[@]}")" "$signer" "" "$(date +%s)"
    log "added $key_name (verifies; $signer still signs). Next: $0 -g $resource_group -n $env_name --ring $ring_kind promote $key_name"
    ;;

  promote)
    [[ -n "$key_name" ]] || die 'promote needs the key name'
    i=$(index_of "$key_name")
    [[ "$i" != -1 ]] || die "the ring has no $key_name (it has: ${names[*]})"
    [[ "$i" != 0 ]] || die "$key_name already signs"
    if [[ "$ring_kind" == statement ]]; then
      # Downstreams cache the JWKS for 5 minutes: a statement signed with a key they have not
      # fetched yet would fail there. A margin for instances that learned of the key late.
      added=$(tag addedAt)
      must_wait "${added:-0}" 600 "downstreams may not have $key_name in their JWKS cache"
    fi
    new_entries=("${entries[$i]}")
    for j in "${!entries[@]}"; do
      if [[ "$j" != "$i" ]]; then new_entries+=("${entries[$j]}"); fi
    done
    save "$(join_ring "${new_entries[@]}")" "$key_name" "$(date +%s)"
    log "$key_name signs now. Once what $signer signed has expired: $0 -g $resource_group -n $env_name --ring $ring_kind retire $signer"
    ;;

  retire)
    [[ -n "$key_name" ]] || die 'retire needs the key name'
    i=$(index_of "$key_name")
    [[ "$i" != -1 ]] || die "the ring has no $key_name (it has: ${names[*]})"
    [[ "$i" != 0 ]] || die "$key_name signs: promote another key first"
    if [[ "$force" == false ]]; then
      # Everything the old key signed must have expired, with a margin for instances that picked
      # up the promotion late: SAS tokens live SAS_MAX_TTL_SECONDS, statements 60 s.
      if [[ "$ring_kind" == sas ]]; then
        lifetime=$(az functionapp config appsettings list --resource-group "$resource_group" --name "$app_name" \
          --query "[?name=='SAS_MAX_TTL_SECONDS'].value | [0]" --output tsv)
        what="tokens signed with $key_name may still be valid (SAS_MAX_TTL_SECONDS after the promotion)"
      else
        lifetime=60
        what="statements signed with $key_name may still be valid (60 s after the promotion)"
      fi
      promoted=$(tag promotedAt)
      must_wait "${promoted:-0}" "$((${lifetime:-3600} + 300))" "$what"
    fi
    new_entries=()
    for j in "${!entries[@]}"; do
      if [[ "$j" != "$i" ]]; then new_entries+=("${entries[$j]}"); fi
    done
    save "$(join_ring "${new_entries[@]}")" "$signer"
    log "retired $key_name"
    ;;
esac
