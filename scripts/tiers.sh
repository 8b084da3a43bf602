# The test tiers' marker expressions (pyproject.toml registers the markers), sourced by the
# scripts that run them.
# The fast tier: every test that needs no service and no browser, and runs no benchmark, fuzz
# or conformance suite (`make check`, `make upgrade-check`).
SERVICE_FREE="not services and not browser and not bench and not fuzz and not conformance and not alone"
# `make test`'s stages: the parallel one; then the benchmark smoke runs, two at a time (each
# only proves its harness works, so a shared core costs nothing but time); then, one at a
# time, what stops a shared service.
PARALLEL="not alone and not bench"
BENCHMARKS="bench and not alone"
ALONE="alone"
# Where the fast tier looks for the services: nowhere, so a test that needs them without its
# `services` marker fails loudly there rather than passing on a machine that has them.
NO_SERVICES_ENV="$PWD/.services/none-in-the-fast-tier.env"
