#!/usr/bin/env bash
# The whole test suite on any machine: start the real services, sync the locked environment,
# lint, type-check, then pytest (extra arguments go to pytest).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
UV="$(scripts/ensure-uv.sh)"

scripts/services.sh up
# The browser tests drive Debian's Chromium: Playwright's own browser download fails here.
if ! command -v chromium >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-liberation >/dev/null
fi
"$UV" sync --frozen --quiet
echo "== ruff"
"$UV" run --frozen ruff check .
"$UV" run --frozen ruff format --check --quiet .
echo "== import contracts"
"$UV" run --frozen lint-imports --no-cache
echo "== mypy"
"$UV" run --frozen mypy .
echo "== pytest"
"$UV" run --frozen pytest "$@"
