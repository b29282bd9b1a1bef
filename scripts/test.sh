#!/usr/bin/env bash
# The test command (npm test): installs what is missing, loads the Moodle fixture once into a
# template database that every test file copies, type-checks, runs every test, drops the template.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
ensure_all
# Type-checks and compiles to dist/: the CLI and workers the tests start run the compiled code
# (MOODLE_SYNC_DIST=1, see bin/moodle-sync.js), which starts without transpiling.
rm -rf dist
npx tsc -p tsconfig.json --noEmit false --outDir dist
export MOODLE_SYNC_DIST=1
npx tsx scripts/fixture.ts template
trap 'npx tsx scripts/fixture.ts drop-template || true' EXIT
files=("$@")
[ ${#files[@]} -gt 0 ] || files=(test/*.test.ts)
node --import tsx --test --test-concurrency="${TEST_CONCURRENCY:-3}" "${files[@]}"
