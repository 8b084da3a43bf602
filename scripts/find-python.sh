#!/usr/bin/env bash
# Print the path of a CPython of version $1 (e.g. 3.13): pyenv's build of it, else one on PATH.
# uv cannot download interpreters here (only package registries are reachable), so the suite
# runs on the ones the machine has.
set -euo pipefail
version="${1:?usage: scripts/find-python.sh 3.13}"
pyenv_root="${PYENV_ROOT:-$HOME/.pyenv}"
for candidate in $(ls -d "$pyenv_root/versions/$version".* 2>/dev/null | sort -V -r) "$pyenv_root/versions/$version"; do
  if [ -x "$candidate/bin/python$version" ]; then
    echo "$candidate/bin/python$version"
    exit 0
  fi
done
for name in "python$version" python3; do
  path="$(command -v "$name" 2>/dev/null || true)"
  if [ -n "$path" ] && "$path" -c "import sys; sys.exit(sys.version_info[:2] != tuple(map(int, '$version'.split('.'))))" 2>/dev/null; then
    echo "$path"
    exit 0
  fi
done
echo "Python $version is not installed: install it (pyenv install $version, or apt-get install python$version) or choose another with TRADO_PYTHON=3.11" >&2
exit 1
