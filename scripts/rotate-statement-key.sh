#!/usr/bin/env bash
# Rotates the statement signing key ring (STATEMENT_SIGNING_KEYS, Key Vault secret
# statement-signing-keys): add a key (published in the JWKS, not signing), promote it once
# downstreams' JWKS caches have it (10 min), retire the old one a few minutes later. The steps,
# options and checks are scripts/rotate-sas-key.sh's with --ring statement (run it with --help).
#
#   scripts/rotate-statement-key.sh -g RESOURCE_GROUP [-n ENV_NAME] add|promote|retire|show [NAME]
set -euo pipefail
ROTATE_SCRIPT="$(dirname "$0")/rotate-sas-key.sh" exec bash "$(dirname "$0")/rotate-sas-key.sh" --ring statement "$@"
