#!/usr/bin/env bash
# Print the path of a usable `uv`, installing it from PyPI (pip --user) when it is missing.
set -euo pipefail
if command -v uv >/dev/null 2>&1; then
  command -v uv
  exit 0
fi
# site.getuserbase(), not `python3 -m site --user-base`: inside a virtual environment (the suite's
# own, when a test runs a script) that command exits with 1 after printing, stopping this one.
user_base="$(python3 -c 'import site; print(site.getuserbase())')"
installed="$user_base/bin/uv"
if [ -x "$installed" ]; then
  echo "$installed"
  exit 0
fi
python3 -m pip install --quiet --user --disable-pip-version-check "uv>=0.8" >&2
for candidate in "$user_base/bin/uv" "$(command -v uv 2>/dev/null || true)"; do
  if [ -n "$candidate" ] && [ -x "$candidate" ]; then
    echo "$candidate"
    exit 0
  fi
done
echo "could not install uv with pip; install it (pip install uv) and retry" >&2
exit 1
