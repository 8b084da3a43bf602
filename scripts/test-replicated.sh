#!/usr/bin/env bash
# The replicated topology's tests (issue 25): start it (scripts/services.sh up --replicated),
# run the tests marked `replicated` against it, one at a time (they kill its nodes), and stop
# it again, whatever the outcome. The single-node services are started too (`up` is a no-op
# when they run): the broker-loss test's bridge keeps its Redis and database there.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/environment.sh
source scripts/tiers.sh

started=$(date +%s)
trap 'scripts/services.sh down --replicated >/dev/null 2>&1 || true' EXIT
scripts/services.sh up
scripts/services.sh up --replicated
TRADO_REPLICATED_ENV="$PWD/.services/replicated.env" "$UV" run --frozen pytest -m "$REPLICATED" \
  -p no:randomly --durations=10 "$@"
echo "== test-replicated: $(($(date +%s) - started)) s"
