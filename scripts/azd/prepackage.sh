#!/usr/bin/env bash
# azd prepackage hook of the gateway service: builds dist/app (one esbuild bundle, the CLI,
# host.json, package.json) and installs its externals loaded on demand, as scripts/deploy.sh does.
set -euo pipefail
cd "$(dirname "$0")/../.."
npm run bundle
cp package-lock.json dist/app/
(cd dist/app && npm install --omit=dev --ignore-scripts --no-audit --no-fund && rm package-lock.json)
