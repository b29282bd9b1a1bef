#!/usr/bin/env bash
# The test command (npm test): installs what is missing, loads the Moodle fixture once into a
# template database that every test file copies, type-checks, runs every test, drops the template.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
ensure_all
npx tsc -p tsconfig.json
npx tsx scripts/fixture.ts template
trap 'npx tsx scripts/fixture.ts drop-template || true' EXIT
files=("$@")
[ ${#files[@]} -gt 0 ] || files=(test/*.test.ts)
node --import tsx --test --test-concurrency="${TEST_CONCURRENCY:-2}" "${files[@]}"
