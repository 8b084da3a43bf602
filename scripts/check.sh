#!/usr/bin/env bash
# The fast tier: lint, types, the import contracts and every test that needs no service, no
# browser and runs no benchmark, fuzz or conformance suite (extra arguments go to pytest).
# It starts nothing, and looks for services nowhere (scripts/tiers.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/environment.sh
source scripts/tiers.sh
started=$(date +%s)
stage "static checks" static_checks
export TRADO_SERVICES_ENV="$NO_SERVICES_ENV"
stage "pytest (service-free)" "$UV" run --frozen pytest -n "${TRADO_TEST_WORKERS:-2}" \
  -m "$SERVICE_FREE" --durations=10 "$@"
echo "== check: $(($(date +%s) - started)) s"
