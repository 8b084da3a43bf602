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

# The tests run on the newest releases: the contract tests plus the service-free fast tests.
# Once every test carries its tier marker, this becomes
#   TESTS=(tests/test_library_contracts.py -m "not services and not browser and not bench and not fuzz and not conformance")
TESTS=(
  tests/test_library_contracts.py
  tests/test_*units*.py
  tests/api/test_units.py
  tests/test_websocket_frames.py
  tests/test_document_limits.py
  tests/test_query_cost.py
  tests/test_settings.py
  tests/test_coalesced.py
  tests/test_exact_type.py
)

exec "$UV" run --frozen --no-sync python scripts/upgrade_check.py --uv "$UV" -- "${TESTS[@]}"
