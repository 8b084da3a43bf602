#!/usr/bin/env bash
# Full mode on this machine: the real services, migrations, then the bridge, the simulator feed
# and the API as three separate processes. Ctrl-C stops the three (the services stay up;
# `scripts/services.sh down` stops them).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
UV="$(scripts/ensure-uv.sh)"

scripts/services.sh up
"$UV" sync --frozen --quiet
set -a
# shellcheck disable=SC1091
. .services/services.env
set +a
"$UV" run --frozen python -m commands.migrate

pids=()
stop() {
  trap - INT TERM EXIT
  [ ${#pids[@]} -gt 0 ] && kill "${pids[@]}" 2>/dev/null || true
  wait
}
trap stop INT TERM EXIT
"$UV" run --frozen python -m commands.bridge & pids+=($!)
"$UV" run --frozen python -m commands.feed simulator & pids+=($!)
"$UV" run --frozen python server.py & pids+=($!)
echo "stack: API on http://${HOST:-127.0.0.1}:${PORT:-8000}/graphql (pids ${pids[*]}); Ctrl-C stops it"
wait -n
echo "stack: a process exited; stopping the others" >&2
