"""Logs a machine can read: LOG_FORMAT=json gives one JSON object a line, from our loggers and
uvicorn's alike, with the operation and user of the request a line was logged in; text stays
the default outside production."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from commands.logs import configure_logging
from streaming.log_context import log_fields, logging_with
from tests.conftest import make_settings
from tests.utils.postgres_server import free_low_port
from tests.utils.trado_processes import START_SECONDS

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """What the root handler `configure_logging` installs writes, put back afterwards."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    stream = io.StringIO()
    yield stream
    root.handlers, root.level = saved[0], saved[1]


def lines_of(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_carry_the_request_fields(captured: io.StringIO) -> None:
    configure_logging(make_settings(log_format="json"))
    logging.getLogger().handlers[0].setStream(captured)  # type: ignore[attr-defined]
    log = logging.getLogger("trado.test")
    with logging_with(operation="PlaceOrder", operation_type="mutation", user_id=7):
        log.warning("rejected %s", "AAPL")
    log.info("outside")
    inside, outside = lines_of(captured)
    assert inside["message"] == "rejected AAPL"
    assert (inside["level"], inside["logger"]) == ("WARNING", "trado.test")
    assert (inside["operation"], inside["operation_type"], inside["user_id"]) == (
        "PlaceOrder",
        "mutation",
        7,
    )
    assert str(inside["time"]).startswith(time.strftime("%Y-"))
    assert "operation" not in outside
    assert log_fields() == {}, "the block's fields end with it"


def test_an_exception_is_one_json_line(captured: io.StringIO) -> None:
    configure_logging(make_settings(log_format="json"))
    logging.getLogger().handlers[0].setStream(captured)  # type: ignore[attr-defined]
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("trado.test").exception("failed")
    (line,) = lines_of(captured)
    assert line["message"] == "failed"
    assert "ValueError: boom" in str(line["exc_info"])


@pytest.mark.parametrize(
    ("values", "as_json"),
    [
        ({}, False),
        ({"environment": "production", "jwt_secret": "x" * 32}, True),
        ({"environment": "production", "jwt_secret": "x" * 32, "log_format": "text"}, False),
        ({"log_format": "json"}, True),
    ],
)
def test_json_in_production_text_elsewhere(values: dict[str, str], as_json: bool) -> None:
    assert make_settings(**values).logs_as_json is as_json


def test_the_server_logs_json_lines_uvicorns_included(tmp_path: Path) -> None:
    """`python server.py` with LOG_FORMAT=json: its start-up lines, uvicorn's and an access
    line for a GraphQL request are all JSON objects."""
    port = free_low_port()
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(ROOT),
        "PORT": str(port),
        "LOG_FORMAT": "json",
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'trado.db'}",
    }
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "server.py")],
        env=env,
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        answer = _first_answer(f"http://127.0.0.1:{port}/graphql", server)
        assert answer == {"data": {"__typename": "Query"}}
    finally:
        server.terminate()
        out, err = server.communicate(timeout=30)
    lines = [json.loads(line) for line in (out + err).splitlines() if line.strip()]
    assert lines, "the server logged nothing"
    assert {"time", "level", "logger", "message"} <= set(lines[0])
    loggers = {line["logger"] for line in lines}
    assert "uvicorn.error" in loggers
    assert any("POST /graphql" in str(line["message"]) for line in lines), loggers


def _first_answer(url: str, server: subprocess.Popen[str]) -> object:
    """The server's first answer, once it has started (on a busy machine, minutes)."""
    deadline = time.monotonic() + START_SECONDS
    while True:
        try:
            return httpx.post(url, json={"query": "{ __typename }"}, timeout=5).json()
        except httpx.TransportError:
            assert server.poll() is None, f"the server exited with {server.returncode}"
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
