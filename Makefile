# Trado's commands. `make run` needs nothing but Python; `make test` and `make stack` start the
# real PostgreSQL, Redis and Kafka with scripts/services.sh.
UV := $(shell scripts/ensure-uv.sh)

.PHONY: run test stack services-up services-down services-status lint migrate schema upgrade-check

run: ## the API in embedded mode (SQLite, in-memory backends, simulator) on 127.0.0.1:8000
	$(UV) run python -m commands.api

test: ## the whole suite: services, ruff, mypy, pytest
	scripts/test.sh

stack: ## full mode: services, migrations, then bridge, feed and API as separate processes
	scripts/stack.sh

services-up:
	scripts/services.sh up

services-down:
	scripts/services.sh down

services-status:
	scripts/services.sh status

lint:
	$(UV) run ruff check . && $(UV) run ruff format --check . && $(UV) run lint-imports && $(UV) run mypy .

schema: ## rewrite schema.graphql from the code
	$(UV) run python -m commands.schema > schema.graphql

upgrade-check: ## the newest releases past pyproject.toml's upper bounds, in a scratch copy: contract and fast tests, then a table of what broke
	scripts/upgrade-check.sh
