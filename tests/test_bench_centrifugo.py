"""Centrifugo as a fan-out peer and the per-target cost figures: the load client's side of
Centrifugo's JSON protocol and the summary's arithmetic (pure logic), then a tiny `fanout` run
against the real Centrifugo beside Trado (built with `go install` on first use), which must
connect, subscribe, deliver and leave nothing running. Never how fast: that is `bench/`'s."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import orjson
import psutil
import pytest
from typer.testing import CliRunner

from bench.cli import app
from bench.histogram import Histogram
from bench.load import LoadResult
from bench.loadclient import CentrifugoSession, Figures, Progress, centrifugo_messages
from bench.procstats import Usage
from bench.scenarios import FanoutConfig, Step, sustained
from bench.targets import write_centrifugo_config

STAMP = "2026-01-01T00:00:00.000000+00:00"
QUOTE = {
    "symbol": "AAPL",
    "price": "100.00",
    "bid": "99.99",
    "ask": "100.01",
    "volume": "10",
    "timestamp": STAMP,
    "sequence": 1,
}


def _publication(channel: str, timestamp: str = STAMP) -> bytes:
    quote = {**QUOTE, "timestamp": timestamp}
    return orjson.dumps(
        {"push": {"channel": channel, "pub": {"data": {"data": {"quotes": quote}}}}}
    )


def test_centrifugo_frames_carry_one_message_per_line() -> None:
    one = b'{"id":1,"connect":{"client":"c1"}}'
    assert centrifugo_messages(one) == [{"id": 1, "connect": {"client": "c1"}}]
    batched = b'{"id":2,"subscribe":{}}\n{"id":3,"subscribe":{}}\n' + _publication("quotes:A")
    assert [m.get("id") for m in centrifugo_messages(batched)] == [2, 3, None]
    assert centrifugo_messages(b"{}") == [{}]


def test_centrifugo_session_subscribes_each_symbol_after_the_connect_reply() -> None:
    session = CentrifugoSession(["AAPL", "MSFT"], Figures())
    assert orjson.loads(session.connect_command()) == {"id": 1, "connect": {}}
    assert not session.subscribed

    [subscribes] = session.on_frame(b'{"id":1,"connect":{"client":"c","ping":25}}', 0.0)
    assert [orjson.loads(line) for line in subscribes.split("\n")] == [
        {"id": 2, "subscribe": {"channel": "quotes:AAPL"}},
        {"id": 3, "subscribe": {"channel": "quotes:MSFT"}},
    ]
    assert not session.subscribed
    assert session.on_frame(b'{"id":2,"subscribe":{}}', 0.0) == []
    assert not session.subscribed
    session.on_frame(b'{"id":3,"subscribe":{}}', 0.0)
    assert session.subscribed


def test_centrifugo_session_measures_publications_inside_the_window_and_answers_pings() -> None:
    figures = Figures(start=100.0, end=200.0)
    session = CentrifugoSession(["AAPL"], figures)
    # stamped 4 ms before it is received, at 150 s past the epoch
    one = _publication("quotes:AAPL", "1970-01-01T00:02:29.996000+00:00")
    assert session.on_frame(one + b"\n" + one, 150.0) == []
    assert session.on_frame(one, 250.0) == []  # after the window
    assert (figures.delivered, figures.received_total) == (2, 3)
    assert figures.histogram.percentile(0.5) == pytest.approx(4000, rel=0.02)
    assert session.on_frame(b"{}", 150.0) == ["{}"]  # its ping, answered with an empty command
    assert figures.errors == 0


def test_centrifugo_session_fails_on_an_error_reply_and_counts_other_pushes_as_errors() -> None:
    figures = Figures()
    session = CentrifugoSession(["AAPL"], figures)
    session.on_frame(b'{"id":1,"connect":{}}', 0.0)
    session.on_frame(b'{"id":2,"error":{"code":103,"message":"permission denied"}}', 0.0)
    assert not session.subscribed
    assert session.failure is not None
    assert "permission denied" in session.failure
    session.on_frame(b'{"push":{"channel":"quotes:AAPL","unsubscribe":{"code":2000}}}', 0.0)
    assert figures.errors == 1


async def test_progress_gives_its_place_back_once_and_counts_a_subscription_once() -> None:
    gate = asyncio.Semaphore(1)
    await gate.acquire()
    settled: list[int] = []
    figures = Figures()
    progress = Progress(figures, gate, lambda: settled.append(1))
    progress.sent()
    progress.sent()
    assert gate._value == 1  # released once
    assert (figures.connected, settled) == (0, [])  # request out, not yet live
    progress.ready()
    progress.ready()
    progress.end()
    assert (figures.connected, settled, gate._value) == (1, [1], 1)

    failing = Progress(Figures(), gate, lambda: settled.append(2))
    await gate.acquire()
    failing.end()  # never subscribed: settled as failed, its place given back
    assert (settled, gate._value) == ([1, 2], 1)


def test_centrifugo_config_lets_anonymous_clients_subscribe_to_quotes(tmp_path: Path) -> None:
    first = json.loads(write_centrifugo_config(tmp_path, 9100).read_text())
    second = json.loads(write_centrifugo_config(tmp_path, 9101).read_text())
    assert first["http_server"] == {"address": "127.0.0.1", "port": 9100}
    assert first["log"] == {"level": "warn"}
    assert first["client"] == {"allow_anonymous_connect_without_token": True}
    [namespace] = first["channel"]["namespaces"]
    assert namespace["name"] == "quotes"
    assert namespace["allow_subscribe_for_anonymous"] is True
    assert "history_size" not in namespace  # history stays off
    assert len(first["http_api"]["key"]) >= 24
    assert first["http_api"]["key"] != second["http_api"]["key"]  # a key per run


def _step(target: str, rate: float, delivered: int, cpu_percent: float, end_rss: float) -> Step:
    load = LoadResult(
        subscribers=100,
        connected=100,
        failed=0,
        closed_early=0,
        errors=0,
        first_error=None,
        seconds=10.0,
        delivered=delivered,
        workers=1,
        client_cpu_percent=10.0,
        histogram=Histogram(),
        connect_seconds=0.5 if target == "trado" else 0.25,
    )
    load.histogram.record(1000)
    usage = Usage(cpu_percent=cpu_percent, peak_rss_mb=end_rss, end_rss_mb=end_rss)
    return Step(target, 100, rate, load, usage, idle_rss_mb=100.0)


def test_costs_per_delivery_and_connection_and_their_ratio_to_trado() -> None:
    config = FanoutConfig(
        targets=("trado", "centrifugo"), subscribers=(100,), rate=1000, seconds=10
    )
    trado = _step("trado", 1000, 100_000, cpu_percent=50.0, end_rss=110.0)
    steps = [
        trado,
        _step("trado", 2000, 200_000, cpu_percent=90.0, end_rss=112.0),
        _step("centrifugo", 1000, 100_000, cpu_percent=25.0, end_rss=105.0),
    ]
    assert trado.cpu_us_per_delivery == 50.0  # 0.5 CPU s per s over 10,000 deliveries per s
    assert trado.rss_kb_per_connection == 102.4  # 10 MB over 100 connections
    rows = {row["target"]: row for row in sustained(steps, config)}
    assert rows["trado"]["sustained_per_second"] == 20_000
    assert rows["trado"]["cost_at_rate"] == 1000  # costs at the rate every target ran
    assert rows["trado"]["cpu_us_per_delivery"] == 50.0
    assert rows["trado"]["cpu_vs_trado"] == 1.0
    centrifugo = rows["centrifugo"]
    assert centrifugo["sustained_vs_trado"] == 0.5
    assert centrifugo["cpu_vs_trado"] == 0.5
    assert centrifugo["rss_vs_trado"] == 0.5
    assert centrifugo["connect_vs_trado"] == 0.5


def _children() -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True)}


# The first run on a machine builds Centrifugo (`go install`): minutes, not seconds.
@pytest.mark.bench
@pytest.mark.timeout(900)
def test_fanout_smoke_against_centrifugo_beside_trado(tmp_path: Path) -> None:
    before = _children()
    arguments = ["run", "fanout", "--seconds", "3", "--subscribers", "5", "--rate", "50"]
    arguments += ["--no-ramp", "--warmup", "0.5", "--targets", "trado,centrifugo"]
    result = CliRunner().invoke(app, [*arguments, "--results-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert not _children() - before, "the benchmark left processes running"

    [json_file] = tmp_path.glob("*-fanout.json")
    document = json.loads(json_file.read_text())
    steps = {step["target"]: step for step in document["steps"]}
    assert set(steps) == {"trado", "centrifugo"}
    for step in steps.values():
        assert (step["connected"], step["errors"]) == (5, 0), step
        assert step["delivered"] > 0, step
        for figure in ("p99_ms", "server_cpu_us_per_delivery", "server_idle_rss_mb"):
            assert step[figure] is not None, (figure, step)
        assert step["connect_seconds"] > 0, step
    assert "6.9.1" in document["machine"]["centrifugo"]
    summary = {row["target"]: row for row in document["summary"]}
    assert summary["trado"]["cpu_vs_trado"] == 1.0
    assert summary["centrifugo"]["cpu_vs_trado"] is not None
    assert "srv µs/deliv" in json_file.with_suffix(".md").read_text()
