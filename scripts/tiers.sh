# The test tiers' marker expressions (pyproject.toml registers the markers), sourced by the
# scripts that run them.
# The fast tier: every test that needs no service and no browser, and runs no benchmark, fuzz
# or conformance suite (`make check`, `make upgrade-check`).
SERVICE_FREE="not services and not browser and not bench and not fuzz and not conformance and not replicated"
# `make test`'s stages: the parallel one, then the benchmark smoke runs, three at a time (each
# only proves its harness works, so a shared core costs nothing but time). No test stops a
# shared service: one that stops a service stops a private one (the `kafka` fixture,
# tests/utils/redis_server.py, tests/utils/postgres_server.py), so every test can run beside
# the others.
PARALLEL="not bench and not replicated"
BENCHMARKS="bench"
# The replicated topology's tests (`make test-replicated`): three brokers, a Redis Cluster and a
# PostgreSQL standby, stopped and killed node by node, so they run alone, after the rest.
REPLICATED="replicated"
# Where the fast tier looks for the services: nowhere, so a test that needs them without its
# `services` marker fails loudly there rather than passing on a machine that has them.
NO_SERVICES_ENV="$PWD/.services/none-in-the-fast-tier.env"
