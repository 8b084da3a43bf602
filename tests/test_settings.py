"""Settings: defaults describe embedded mode; a bad value is refused with the setting's name."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from settings import ROOT, Settings, describe_error
from tests.conftest import make_settings


def error_text(**values: object) -> str:
    with pytest.raises(ValidationError) as caught:
        make_settings(**values)
    return describe_error(caught.value)


def test_defaults_are_embedded_mode() -> None:
    settings = make_settings()
    assert settings.uses_sqlite
    assert settings.redis_url is None
    assert settings.kafka_bootstrap_servers is None
    assert settings.feed_in_process
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)


def test_full_mode_runs_no_feed_by_default() -> None:
    settings = make_settings(kafka_bootstrap_servers="127.0.0.1:9092")
    assert not settings.feed_in_process


def test_postgres_url_is_normalised_to_asyncpg() -> None:
    settings = make_settings(database_url="postgresql://u:p@db:5432/trado")
    assert settings.database_url == "postgresql+asyncpg://u:p@db:5432/trado"


def test_urls_are_kept_as_written() -> None:
    settings = make_settings(
        redis_url="redis://cache",
        provider_url="wss://feed?token=x",
        kafka_bootstrap_servers="a:1, b:2",
    )
    assert settings.redis_url == "redis://cache", "not redis://cache:6379/0"
    assert settings.provider_url == "wss://feed?token=x"
    assert settings.kafka_bootstrap_servers == "a:1, b:2"


DEVELOPER_TOOLS = ("graphiql", "introspection", "api_docs", "metrics_endpoint")
SECRET = "a production secret of 32+ chars"


def served(settings: Settings) -> tuple[bool, ...]:
    """GRAPHIQL, INTROSPECTION, API_DOCS and METRICS_ENDPOINT as the app reads them."""
    return (
        settings.serves_graphiql,
        settings.allows_introspection,
        settings.serves_api_docs,
        settings.serves_metrics,
    )


@pytest.mark.parametrize(
    ("environment", "on"), [("development", True), ("test", False), ("production", False)]
)
def test_developer_tools_follow_the_environment_unless_set(environment: str, on: bool) -> None:
    """`make run` (development) shows everything; production nothing unless told; a value
    set wins either way."""
    assert served(make_settings(environment=environment, jwt_secret=SECRET)) == (on,) * 4
    for tool in DEVELOPER_TOOLS:
        flipped = make_settings(environment=environment, jwt_secret=SECRET, **{tool: not on})
        assert served(flipped) == tuple(
            (not on) if name == tool else on for name in DEVELOPER_TOOLS
        )


def test_a_plain_start_is_development() -> None:
    assert Settings(_env_file=None).serves_graphiql


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"port": -3}, "Invalid setting PORT:"),
        ({"port": "eighty"}, "Invalid setting PORT:"),
        ({"database_url": "mysql://x/y"}, "Invalid setting DATABASE_URL:"),
        ({"database_url": "postgresql+asyncpg:///trado"}, "DATABASE_URL: Value error, has no host"),
        ({"redis_url": "localhost:6379"}, "Invalid setting REDIS_URL:"),
        ({"redis_url": "redis://"}, "Invalid setting REDIS_URL:"),
        ({"kafka_bootstrap_servers": "broker"}, "Invalid setting KAFKA_BOOTSTRAP_SERVERS:"),
        ({"kafka_bootstrap_servers": "a:1,b:70000"}, "'b:70000' is not host:port"),
        ({"provider_url": "https://feed"}, "PROVIDER_URL: Value error, must look like wss://"),
        ({"simulator_ticks_per_second": -1}, "Invalid setting SIMULATOR_TICKS_PER_SECOND:"),
        ({"environment": "staging"}, "Invalid setting ENVIRONMENT:"),
        ({"log_level": "LOUD"}, "Invalid setting LOG_LEVEL:"),
        ({"starting_cash": "-5"}, "Invalid setting STARTING_CASH:"),
        ({"environment": "production"}, "JWT_SECRET must be set"),
        ({"jwt_secret": "short"}, "JWT_SECRET must be at least 32 characters"),
    ],
)
def test_bad_setting_is_named(values: dict[str, object], expected: str) -> None:
    assert expected in error_text(**values)


def start_api_with(tmp_path: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    """`python server.py` with only `settings` in its environment (and no `.env`)."""
    return subprocess.run(
        [sys.executable, str(ROOT / "server.py")],
        env={**settings, "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_bad_setting_stops_the_server_with_one_line(tmp_path: Path) -> None:
    result = start_api_with(tmp_path, PORT="not-a-port")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("Invalid setting PORT: Input should be a valid integer")


def test_embedded_mode_refuses_several_api_processes(tmp_path: Path) -> None:
    """Embedded mode's one process runs the simulator, bridge and pub/sub: a second would
    run its own, so API_PROCESSES > 1 stops the start with the reason."""
    result = start_api_with(tmp_path, API_PROCESSES="2")
    assert result.returncode == 2
    assert result.stderr.startswith("Invalid setting settings: Value error, API_PROCESSES > 1")
    assert "embedded mode runs the simulator, bridge and pub/sub" in result.stderr


def test_example_env_lists_every_setting() -> None:
    listed = {
        line.split("=", 1)[0].lstrip("# ").strip()
        for line in (ROOT / "example.env").read_text().splitlines()
        if "=" in line and line.lstrip("# ")[:1].isupper()
    }
    assert {name.upper() for name in Settings.model_fields} == listed
