#!/usr/bin/env bash
# The whole suite on any machine: start the real services, sync the locked environment, then
# run it in stages, each timed:
#   static checks   ruff, formatting, import contracts, mypy
#   peers, suites   what some tests drive, built or installed once per machine: Centrifugo,
#                   the Node peers, Autobahn|Testsuite
#   parallel        every independent test, on TRADO_TEST_WORKERS pytest-xdist workers (each
#                   worker is a test session of its own: its own database, key prefix, topic)
#   benchmarks      the benchmark smoke runs, after the parallel tests (they load the machine),
#                   three at a time (mostly waiting: on faults to settle, targets to start)
# A test that stops a service stops a private one of its own (scripts/tiers.sh), so none waits
# for the others to finish.
# With arguments, one pytest run of exactly those arguments instead of the stages.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/services.sh up
# The browser tests drive Debian's Chromium: Playwright's own browser download fails here.
# tests/test_balancer.py puts Debian's nginx in front of two API processes.
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium fonts-liberation)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
source scripts/environment.sh
source scripts/tiers.sh

if [ "$#" -gt 0 ]; then
  "$UV" run --frozen pytest "$@"
  exit
fi

started=$(date +%s)
stage "static checks" static_checks
# The peers the benchmark smoke tests drive, built once per machine (not inside a test).
stage "benchmark peers" "$UV" run --frozen python -m bench peers
# Autobahn|Testsuite on Python 2.7 for the conformance test, installed once per machine.
stage "conformance suite" scripts/autobahn.sh install
stage "pytest parallel" "$UV" run --frozen pytest -n "${TRADO_TEST_WORKERS:-4}" --dist worksteal \
  -m "$PARALLEL" --durations=20
stage "pytest benchmarks" "$UV" run --frozen pytest -n 3 --dist worksteal -m "$BENCHMARKS" \
  --durations=20
echo "== test: $(($(date +%s) - started)) s"
