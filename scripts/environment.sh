# Sourced by scripts/check.sh and scripts/test.sh: the locked environment on the Python that
# TRADO_PYTHON names (default 3.13, the newest this machine has), one environment per version
# under .venvs/ so that switching versions never rebuilds another's. Sets UV.
UV="$(scripts/ensure-uv.sh)"
TRADO_PYTHON="${TRADO_PYTHON:-3.13}"
export UV_PROJECT_ENVIRONMENT="$PWD/.venvs/$TRADO_PYTHON"
"$UV" sync --frozen --quiet --python "$(scripts/find-python.sh "$TRADO_PYTHON")"
echo "== Python $TRADO_PYTHON ($("$UV" run --frozen python -c 'import platform; print(platform.python_version())'))"

# Run one named stage of the suite and print how long it took.
stage() {
  local name="$1" started
  shift
  started=$(date +%s)
  echo "== $name"
  "$@"
  echo "== $name: $(($(date +%s) - started)) s"
}

# Lint, format, import contracts and types: the part of every tier that runs no test.
static_checks() {
  "$UV" run --frozen ruff check .
  "$UV" run --frozen ruff format --check --quiet .
  "$UV" run --frozen lint-imports --no-cache
  "$UV" run --frozen mypy .
}
