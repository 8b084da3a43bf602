"""The replicated topology's tests (`make test-replicated`): every test here is marked
`replicated`, runs only in that stage, and reads the topology's settings from
.services/replicated.env (TRADO_REPLICATED_ENV), failing loudly, with the command to run,
when the topology is not up."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.path).parents:
            item.add_marker(pytest.mark.replicated)


@pytest.fixture(scope="session")
def replicated_env() -> dict[str, str]:
    """The settings of `scripts/services.sh up --replicated` (KAFKA_BOOTSTRAP_SERVERS of the
    three brokers, REDIS_URL and REDIS_CLUSTER, the multi-host DATABASE_URL...)."""
    path = Path(os.environ.get("TRADO_REPLICATED_ENV", ROOT / ".services" / "replicated.env"))
    if not path.is_file():
        pytest.fail(
            f"{path} not found: the replicated topology is not up; run "
            "`scripts/services.sh up --replicated` (or `make test-replicated`)",
            pytrace=False,
        )
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {key.strip(): value.strip() for key, value in pairs if not key.startswith("#")}
