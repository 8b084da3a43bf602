#!/usr/bin/env bash
# The fast tier: lint, types, the import contracts and every test that needs no service, no
# browser and runs no benchmark, fuzz or conformance suite (extra arguments go to pytest).
# It starts nothing: TRADO_SERVICES_ENV points nowhere, so a test that reaches for the services
# without its `services` marker fails here, loudly, instead of passing on a developer's machine.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/environment.sh
started=$(date +%s)
stage "static checks" static_checks
export TRADO_SERVICES_ENV="$PWD/.services/none-in-the-fast-tier.env"
stage "pytest (service-free)" "$UV" run --frozen pytest -n "${TRADO_TEST_WORKERS:-2}" \
  -m "not services and not browser and not bench and not fuzz and not conformance and not alone" \
  --durations=10 "$@"
echo "== check: $(($(date +%s) - started)) s"
