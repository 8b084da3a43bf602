"""The login-storm benchmark, tiny, so it cannot rot: it starts Trado, storms it, measures,
stops everything and writes figures (never asserting how fast: that is the benchmark's job)."""

from __future__ import annotations

import json
from pathlib import Path

import psutil
import pytest
from typer.testing import CliRunner

from bench.login_storm import app


@pytest.mark.bench
def test_login_storm_smoke_produces_figures(tmp_path: Path) -> None:
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    arguments = ["--logins", "4", "--variants", "limited", "--quiet", "0.5"]
    result = CliRunner().invoke(app, [*arguments, "--results-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert not {p.pid for p in psutil.Process().children(recursive=True)} - before
    [json_file] = tmp_path.glob("*-login-storm.json")
    [row] = json.loads(json_file.read_text())["steps"]
    assert row["variant"] == "limited"
    assert row["hashed"] == 4, "within LOGIN_ATTEMPTS_PER_ADDRESS (20)"
    assert row["errors"] == 0
    assert row["bystander_result"] == "AuthPayload", "another address is not limited"
    assert row["quotes_in_storm"] > 0
    for figure in ("logins_per_second", "bystander_ms", "healthz_max_ms", "rss_peak_mb"):
        assert isinstance(row[figure], float), figure
