"""`python -m commands.feed record`: a real process recording a fake Finnhub-shaped provider
until SIGTERM, and the clear one-line errors of a path it cannot write."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from typer.testing import CliRunner

from commands.feed import cli
from settings import ROOT
from streaming.feeds.market import QuoteEvent, StatusEvent, TradeEvent, decode_event
from tests.utils.fake_provider import FakeProvider, fake_provider

STATUS = '{"type":"status","data":[{"s":"AAPL","halted":%s,"t":1796657400500}]}'
TRADE_WITH_TOUCH = (
    '{"type":"trade","data":[{"s":"AAPL","p":249.02,"v":30,"t":1796657400000,'
    '"b":249.01,"a":249.03}]}'
)


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["record", *args], env={"COLUMNS": "500"})  # no wrapping
    return result.exit_code, result.output


def test_a_missing_folder_is_one_clear_line(tmp_path: Path) -> None:
    out = tmp_path / "missing" / "day.ndjson"
    code, output = invoke("--out", str(out), "--url", "ws://127.0.0.1:9", "--symbols", "AAPL")
    assert code == 1
    assert output == f"error: cannot write {out}: No such file or directory (0 events recorded)\n"


def test_a_folder_as_the_file_is_one_clear_line(tmp_path: Path) -> None:
    code, output = invoke("--out", str(tmp_path), "--url", "ws://127.0.0.1:9", "--symbols", "A")
    assert code == 2, "typer refuses a folder for a file option"
    assert "is a directory" in output


def test_an_unknown_provider_or_a_missing_url_is_refused(tmp_path: Path) -> None:
    out = str(tmp_path / "day.ndjson")
    code, output = invoke("--out", out, "--provider", "nasdaq", "--symbols", "AAPL")
    assert code == 2
    assert "PROVIDER 'nasdaq' has no adapter here" in output
    code, output = invoke("--out", out, "--symbols", "AAPL")
    assert code == 2
    assert "PROVIDER_URL is not set" in output
    assert not Path(out).exists(), "nothing written before the provider is known"


async def recorder(url: str, out: Path) -> asyncio.subprocess.Process:
    environment = {**os.environ, "ENVIRONMENT": "test", "PROVIDER": "finnhub"}
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "commands.feed", "record", "--url", url,
        "--symbols", "AAPL,MSFT", "--out", str(out),
        cwd=ROOT, env=environment,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def send_day(provider: FakeProvider) -> None:
    await provider.wait_subscribed(connections=1, symbols=2, seconds=30)
    await provider.send_raw(TRADE_WITH_TOUCH)
    await provider.trade("MSFT", "410.5", volume=7, millis=1796657400100)
    await provider.send_raw("{ not json")
    await provider.send_raw(STATUS % "true")


async def test_the_recorder_writes_each_event_and_flushes_on_sigterm(tmp_path: Path) -> None:
    out = tmp_path / "day.ndjson"
    out.write_bytes(b'{"kind":"trade","symbol":"AAPL","pri')  # an earlier run's cut row
    async with fake_provider() as provider:
        process = await recorder(provider.url, out)
        try:
            await send_day(provider)
            await asyncio.sleep(0.5)
        finally:
            process.send_signal(signal.SIGTERM)
            stdout, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, stderr.decode()
    assert stdout.decode() == f"recorded 4 finnhub events to {out}\n"
    first, *rows = out.read_bytes().splitlines()
    assert first == b'{"kind":"trade","symbol":"AAPL","pri', "kept, on a line of its own"
    assert [type(decode_event(row)) for row in rows] == [
        QuoteEvent,
        TradeEvent,
        TradeEvent,
        StatusEvent,
    ]
    assert rows[0] == (
        b'{"kind":"quote","symbol":"AAPL","bid":"249.01","ask":"249.03",'
        b'"time":"2026-12-07T15:30:00Z"}'
    )
    assert b"skipping a finnhub message: not JSON" in stderr


async def test_a_full_disk_stops_the_recorder_with_one_clear_line() -> None:
    async with fake_provider() as provider:
        process = await recorder(provider.url, Path("/dev/full"))
        try:
            await send_day(provider)
            stdout, stderr = await asyncio.wait_for(process.communicate(), 30)
        finally:
            if process.returncode is None:
                process.kill()
    assert process.returncode == 1
    last = stderr.decode().splitlines()[-1]
    assert last.startswith("error: cannot write /dev/full: No space left on device (")
    assert stdout == b""


def test_feed_provider_takes_the_provider_to_speak() -> None:
    args = ["provider", "--provider", "Nasdaq", "--url", "ws://127.0.0.1:9", "--symbols", "A"]
    result = CliRunner().invoke(cli, args, env={"COLUMNS": "500"})
    assert result.exit_code == 2
    assert "PROVIDER 'nasdaq' has no adapter here (known: " in result.output
