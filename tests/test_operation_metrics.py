"""Per-operation metrics: each GraphQL operation counted and timed by name, type and outcome,
with a bounded set of names."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from graph.context import Context
from graph.operation_telemetry import OTHER, OperationNames
from graph.schema import make_schema
from streaming.runtime import Runtime, open_runtime
from tests.conftest import make_settings


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    settings = make_settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'trado.db'}")
    async with open_runtime(settings) as opened:
        yield opened


def counted(operation: str, kind: str, outcome: str) -> float:
    labels = {"operation": operation, "type": kind, "outcome": outcome}
    return REGISTRY.get_sample_value("trado_graphql_operation_seconds_count", labels) or 0.0


LOGIN = 'mutation MetricsLogin { login(email: "a@b.c", password: "x") { __typename } }'
BAD = 'query MetricsBad { quote(symbol: "") { price } }'


@pytest.mark.parametrize(
    ("document", "labels"),
    [
        ("query MetricsOk { __typename }", ("MetricsOk", "query", "ok")),
        (BAD, ("MetricsBad", "query", "BAD_USER_INPUT")),
        ("query MetricsInvalid { nope }", ("MetricsInvalid", "query", "GRAPHQL_VALIDATION_FAILED")),
        ("query MetricsBroken {", ("anonymous", "unknown", "GRAPHQL_PARSE_FAILED")),
        (LOGIN, ("MetricsLogin", "mutation", "ok")),
    ],
)
async def test_each_operation_is_counted_by_name_type_and_outcome(
    runtime: Runtime, document: str, labels: tuple[str, str, str]
) -> None:
    schema = make_schema(runtime.settings)
    before = counted(*labels)
    await schema.execute(document, context_value=Context(runtime))
    assert counted(*labels) == before + 1


def test_operation_names_are_a_bounded_label_set() -> None:
    names = OperationNames(limit=2)
    labels = [names.label(n) for n in ("A", "B", "C", "A", None)]
    assert labels == ["A", "B", OTHER, "A", "anonymous"]
