#!/usr/bin/env bash
# `make upgrade-check`: whether the newest releases of the libraries whose internals Trado uses
# (the dependencies pyproject.toml bounds from above) still work. In a scratch copy of the
# checkout (this checkout's pyproject.toml and uv.lock are never touched) their upper bounds are
# dropped, `uv lock --upgrade` locks the newest releases of everything, the copy's environment is
# synced, and the contract tests and the service-free fast tests run there. Then a table: each
# bounded library, its bound, the locked and the newest version, and what broke.
# Needs PyPI; no service. Exit status: 0 when everything passed on the newest releases.
set -euo pipefail
cd "$(dirname "$0")/.."
UV="$(scripts/ensure-uv.sh)"

# The tests run on the newest releases: the fast tier, the contract tests among them.
source scripts/tiers.sh
export TRADO_SERVICES_ENV="$NO_SERVICES_ENV"
TESTS=(-n 2 -m "$SERVICE_FREE")

exec "$UV" run --frozen --no-sync python scripts/upgrade_check.py --uv "$UV" -- "${TESTS[@]}"
