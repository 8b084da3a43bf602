# Trado's commands. `make run` needs nothing but Python; `make test` and `make stack` start the
# real PostgreSQL, Redis and Kafka with scripts/services.sh.
UV := $(shell scripts/ensure-uv.sh)

.PHONY: run check test test-replicated stack services-up services-down services-status lint migrate schema conformance upgrade-check

run: ## the API in embedded mode (SQLite, in-memory backends, simulator) on 127.0.0.1:8000
	$(UV) run python server.py

check: ## the fast tier, no services: lint, types, import contracts, service-free tests
	scripts/check.sh

test: ## the whole suite: services, lint, types, then every test in timed stages
	scripts/test.sh

test-replicated: ## the replicated topology's tests: three brokers, Redis Cluster, a standby
	scripts/test-replicated.sh

stack: ## full mode: services, migrations, then bridge, feed and API as separate processes
	scripts/stack.sh

services-up:
	scripts/services.sh up

services-down:
	scripts/services.sh down

services-status:
	scripts/services.sh status

lint: ## lint, types and import contracts only
	$(UV) run ruff check . && $(UV) run ruff format --check . && $(UV) run lint-imports && $(UV) run mypy .

conformance: ## Autobahn|Testsuite against the lean WebSocket (installs it on Python 2.7 first)
	scripts/autobahn.sh install && $(UV) run pytest tests/test_autobahn.py -m conformance -q

schema: ## rewrite schema.graphql from the code
	$(UV) run python -m commands.schema > schema.graphql

.PHONY: docs docs-serve docs-reference

docs: ## build the docs site into site/: strict (a missing page or anchor fails), then every internal link checked
	$(UV) run zensical build --strict --clean && $(UV) run python -m commands.check_site site

docs-serve: ## serve the docs site on http://127.0.0.1:8001, rebuilt on every change
	$(UV) run zensical serve --dev-addr 127.0.0.1:8001

docs-reference: ## rewrite docs/reference/api.md from schema.graphql
	$(UV) run python -m commands.api_reference

upgrade-check: ## the newest releases past pyproject.toml's upper bounds, in a scratch copy: contract and fast tests, then a table of what broke
	scripts/upgrade-check.sh
