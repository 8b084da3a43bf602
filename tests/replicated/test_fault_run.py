"""The fault run (`python -m bench run faults`), brief: the PostgreSQL primary killed and its
standby promoted, then a Redis primary killed, each for good while a watcher resumes through
nginx and accounts trade. Nothing may be lost or done twice: no tick, no order, no cancel, no
event, and the books re-added from the fills match every account's cash and positions. The
run heals what it killed, so the topology is whole again after it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bench.cli import app

ZERO = (
    "lost",
    "duplicated",
    "orders_lost",
    "orders_twice",
    "cancels_lost",
    "cancels_misanswered",
    "events_lost",
    "events_twice",
    "gave_up",
)


@pytest.mark.timeout(420)  # ~2 minutes alone; a loaded machine starts processes slowly
def test_a_primary_lost_for_good_loses_and_doubles_nothing(
    tmp_path: Path, replicated_env: dict[str, str]
) -> None:
    assert replicated_env["REDIS_CLUSTER"] == "true"
    brief = ["--faults", "pg-primary,redis", "--seconds", "8", "--rate", "50"]
    result = CliRunner().invoke(app, ["run", "faults", *brief, "--results-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output + repr(result.exception)
    [results] = tmp_path.glob("*-faults.json")
    rows = json.loads(results.read_text())["steps"]
    assert [row["fault"] for row in rows] == ["none", "pg-primary", "redis"]
    for row in rows:
        assert row["delivered"] > 0, row
        assert row["mutations"] > 0, row
        assert {key: row[key] for key in ZERO} == dict.fromkeys(ZERO, 0), row
        assert (row["cash"], row["positions"]) == ("reconciled", "reconciled"), row
    # the promoted standby stands alone until healed: a bridge worker's metrics say so too
    assert " 0" in f" {rows[1]['standbys_b1']}", rows[1]
