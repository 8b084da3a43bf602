"""The benchmarks, tiny and short, so the harness cannot rot: `fanout` must start Trado and the
raw `ws` peer, drive them, stop them and write figures; `queries`, and `e2e` and `pipeline`
(full mode, against the real services, in a sandbox they remove) likewise; `render` times its
shapes both ways. They check that figures exist, never how fast they are (this machine is
shared; speed is the benchmark's business)."""

from __future__ import annotations

import asyncio
import json
import os
import re
from pathlib import Path
from typing import Any

import asyncpg
import psutil
import pytest
from typer.testing import CliRunner

from bench.cli import app
from bench.histogram import Histogram, bucket_of, upper_bound
from bench.leanws import HandshakeFailed, LeanSocket
from bench.load import _merge
from bench.profile import summarise
from bench.services import plain_dsn, read_services
from tests.utils.kafka_server import PrivateKafka


def _children() -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True)}


def _run(tmp_path: Path, *args: str) -> dict[str, object]:
    """Run the bench CLI; its JSON results, after checking it left no process behind."""
    before = _children()
    result = CliRunner().invoke(app, ["run", *args, "--results-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert not _children() - before, "the benchmark left processes running"
    [json_file] = tmp_path.glob(f"*-{args[0]}.json")
    assert json_file.with_suffix(".md").is_file()
    document: dict[str, object] = json.loads(json_file.read_text())
    return document


def _steps(document: dict[str, object]) -> list[dict[str, Any]]:
    steps = document["steps"]
    assert isinstance(steps, list)
    return steps


def _only_step(document: dict[str, object]) -> dict[str, Any]:
    [step] = _steps(document)
    assert isinstance(step, dict)
    return step


@pytest.mark.bench
@pytest.mark.services
@pytest.mark.timeout(300)  # three faults, each 14 s to settle, plus restarts: ~105 s alone
def test_chaos_smoke_kafka_bridge_and_api_faults_lose_and_repeat_nothing(
    tmp_path: Path, kafka: PrivateKafka, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The chaos harness with Kafka stopped 15 s and restarted, the bridge and the API killed
    (-9) and restarted (PostgreSQL and Redis stay up: the session's fixtures use them): the
    resuming watcher gets every acknowledged tick once, in order, across all three (sequences
    rise by one, so any tick missing would show as lost). The broker it stops is its own."""
    services_env = tmp_path / "services.env"
    values = read_services() | {"KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap}
    services_env.write_text("".join(f"{name}={value}\n" for name, value in values.items()))
    monkeypatch.setenv("TRADO_SERVICES_ENV", str(services_env))
    for name, value in kafka.env.items():
        monkeypatch.setenv(name, value)  # services.sh kafka-stop/start act on it
    # 14 s to settle: a killed bridge's partitions move after the 10 s session timeout
    faults = "kafka,bridge,api"
    document = _run(tmp_path, "chaos", "--faults", faults, "--seconds", "14", "--rate", "50")
    rows = _steps(document)
    assert [row["fault"] for row in rows] == ["kafka", "bridge", "api"]
    for row in rows:
        assert row["delivered"] > 0, row
        assert (row["lost"], row["duplicated"]) == (0, 0), row
        assert row["recover_s"] is not None, row


# A short steady stream to a few subscribers (slow-consumer, e2e).
BRIEF = ("--rate", "50", "--seconds", "2", "--warmup", "0.5")


@pytest.mark.bench
def test_fanout_smoke_produces_figures(tmp_path: Path) -> None:
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    result = CliRunner().invoke(
        app,
        [
            "run",
            "fanout",
            "--seconds",
            "3",
            "--subscribers",
            "5",
            "--rate",
            "50",
            "--no-ramp",
            "--warmup",
            "0.5",
            "--targets",
            "trado,raw-ws",
            "--results-dir",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output + repr(result.exception)

    [json_file] = tmp_path.glob("*-fanout.json")
    [markdown_file] = tmp_path.glob("*-fanout.md")
    document = json.loads(json_file.read_text())
    assert {s["target"] for s in document["steps"]} == {"trado", "raw-ws"}
    for step in document["steps"]:
        assert step["connected"] == 5, step
        assert step["errors"] == 0, step
        assert step["delivered"] > 0, step
        for figure in ("p50_ms", "p90_ms", "p99_ms", "max_ms", "server_cpu_percent"):
            assert step[figure] is not None, (figure, step)
        assert step["server_peak_rss_mb"] > 0, step
    assert document["machine"]["cpu_model"]
    assert document["machine"]["node"].startswith("v")
    markdown = markdown_file.read_text()
    assert re.search(r"^\|\s*trado\s*\|\s*5\s*\|", markdown, re.MULTILINE), markdown
    assert "python -m bench run fanout --seconds 3.0 --subscribers 5" in markdown
    leftovers = {p.pid for p in psutil.Process().children(recursive=True)} - before
    assert not leftovers, "the benchmark left processes running"


@pytest.mark.bench
def test_fanout_with_tape_smoke_measures_quotes_alone_and_beside_trades_books_and_candles(
    tmp_path: Path,
) -> None:
    document = _run(
        tmp_path,
        "fanout",
        *("--seconds", "3", "--subscribers", "5", "--rate", "50", "--warmup", "0.5"),
        *("--targets", "trado", "--with-tape", "--tape-trades", "3", "--tape-books", "10"),
        *("--with-candles", "10"),  # 10 symbols at 0.5 ticks/s each: ~15 a stream in the window
    )
    steps = _steps(document)
    alone, beside = steps
    assert (alone["target"], beside["target"]) == ("trado", "trado+tape+candles")
    assert alone["delivered"] > 0
    assert beside["delivered"] > 0
    assert beside["quotes_vs_alone"] > 0
    assert "side_cpu_us_per_delivery" in beside
    tape = beside["tape"]
    assert (tape["connected"], tape["errors"]) == (23, 0), tape
    assert tape["trades_per_second"] > 0, tape
    assert tape["books_per_second"] > 0, tape
    assert tape["candles_per_second"] > 0, tape


@pytest.mark.bench
def test_queries_smoke_measures_each_query_and_the_client_ceiling(tmp_path: Path) -> None:
    document = _run(tmp_path, "queries", "--seconds", "2", "--concurrency", "2", "--warmup", "0.5")
    steps = _steps(document)
    assert [s["query"] for s in steps] == [
        "quotes(20 symbols)",
        "instruments(first: 50)",
        "healthz (ceiling)",
    ]
    for step in steps:
        assert step["errors"] == 0, step
        assert step["requests"] > 0, step
        for figure in ("rps", "p50_ms", "p99_ms", "max_ms", "server_cpu_percent"):
            assert step[figure] is not None, (figure, step)
        assert step["server_peak_rss_mb"] > 0, step
    summary = document["summary"]
    assert isinstance(summary, list)
    assert all(row["ceiling_share"] is not None for row in summary), summary


@pytest.mark.bench
def test_attacks_smoke_reports_each_attacks_outcome(tmp_path: Path) -> None:
    document = _run(tmp_path, "attacks", "--repeats", "2")
    steps = _steps(document)
    outcomes = {step["attack"]: step["outcome"] for step in steps}
    assert outcomes["30 aliases of watchlists (signed in)"] == "HTTP 400 QUERY_TOO_COSTLY"
    assert outcomes["WS: one 4 MiB symbol"] == "closed 1009"
    assert outcomes["WS: 4 MiB symbol, repeated"] == "2x closed 1009"
    assert outcomes["WS: 60 KiB symbol"] == "error BAD_USER_INPUT"
    assert all(step["seconds"] is not None for step in steps)


@pytest.mark.bench
def test_render_smoke_times_each_shape_both_ways(tmp_path: Path) -> None:
    steps = _steps(_run(tmp_path, "render", "--renders", "10"))
    assert [step["shape"] for step in steps] == [
        "board quotes",
        "board trades",
        "board book, depth 10",
        "bench candles",
    ]
    for step in steps:
        assert step["compiled"] is True, step
        assert step["compiled_us"] > 0
        assert step["graphql_core_us"] > 0


@pytest.mark.bench
def test_slow_consumer_smoke_reports_memory_and_latency_per_second(tmp_path: Path) -> None:
    document = _run(tmp_path, "slow-consumer", "--subscribers", "3", *BRIEF)
    step = _only_step(document)
    assert step["stalled_subscribed"] is True, step
    assert step["connected"] == 3, step
    assert step["errors"] == 0, step
    for figure in ("rss_start_mb", "rss_peak_mb", "rss_end_mb", "p99_ms", "server_cpu_percent"):
        assert step[figure] is not None, (figure, step)
    config = document["config"]
    assert isinstance(config, dict)
    assert [point["second"] for point in config["series"]] == [0, 1]
    assert all(point["rss_mb"] for point in config["series"])


STORM = ("--subscribers", "3", "--storm", "6", "--storm-seconds", "1", "--seconds", "1")
STORM_FIGURES = (
    "storm_subscribed_s",
    "p99_before_ms",
    "p99_during_ms",
    "rss_before_mb",
    "rss_peak_mb",
    "rss_after_mb",
    "readyz_slowest_ms",
)


def _storm_row(document: dict[str, object]) -> dict[str, object]:
    """The one row of a storm run, after checking its common figures."""
    row = _only_step(document)
    assert (row["storm_opened"], row["storm_failed"], row["steady_connected"]) == (6, 0, 3), row
    assert row["readyz_polls"] > 0, row
    for figure in STORM_FIGURES:
        assert row[figure] is not None, (figure, row)
    config = document["config"]
    assert isinstance(config, dict)
    phases = [point["phase"] for point in config["series"]]
    assert phases[0] == "before", phases
    assert "storm" in phases, phases
    assert phases[-1] == "after", phases
    return row


@pytest.mark.bench
def test_storm_smoke_measures_the_steady_clients_readiness_and_memory(tmp_path: Path) -> None:
    document = _run(tmp_path, "storm", *STORM, "--after-seconds", "1", "--rate", "50")
    row = _storm_row(document)
    assert (row["target"], row["mode"]) == ("trado", "embedded")
    assert row["redis_before"] is None, "no Redis in embedded mode"


@pytest.mark.bench
@pytest.mark.services
def test_storm_smoke_in_full_mode_counts_the_api_redis_connections(tmp_path: Path) -> None:
    before = asyncio.run(_bench_databases())
    document = _run(tmp_path, "storm", "--full", *STORM, "--after-seconds", "1", "--rate", "50")
    row = _storm_row(document)
    assert row["mode"] == "full"
    for figure in ("redis_before", "redis_peak", "redis_after"):
        count = row[figure]
        assert isinstance(count, int), (figure, row)
        assert count > 0, (figure, row)
    assert asyncio.run(_bench_databases()) <= before, "the sandbox database was not dropped"


async def _bench_databases() -> set[str]:
    """The sandbox databases of this process's benchmark runs (the harness runs in-process,
    and names each sandbox after its process): other workers' runs go on beside it."""
    connection = await asyncpg.connect(plain_dsn(read_services()["DATABASE_URL"]))
    try:
        rows = await connection.fetch("SELECT datname FROM pg_database")
    finally:
        await connection.close()
    own = f"trado_bench_{os.getpid()}_"
    return {row["datname"] for row in rows if row["datname"].startswith(own)}


@pytest.mark.bench
@pytest.mark.services
def test_pipeline_smoke_drains_the_topic_and_cleans_up(tmp_path: Path) -> None:
    """Synchronous: the harness runs its own event loops (as from the command line)."""
    before = asyncio.run(_bench_databases())
    step = _only_step(_run(tmp_path, "pipeline", "--ticks", "300"))
    assert step["ticks"] == 300, step
    assert step["candles_written"] > 0, step
    for figure in ("busy_ticks_per_second", "seconds", "preload_ticks_per_second"):
        assert step[figure] is not None, (figure, step)
    assert step["server_peak_rss_mb"] > 0, step
    assert asyncio.run(_bench_databases()) <= before, "the sandbox database was not dropped"


@pytest.mark.bench
@pytest.mark.services
def test_e2e_smoke_shows_what_each_process_and_redis_cost(tmp_path: Path) -> None:
    """Full mode in a sandbox, profiled: beside latency, every process's CPU, what Redis
    carried per tick, the API's Redis connections before / during / after, the load average,
    and a profile of the API, the bridge and the feed."""
    before = asyncio.run(_bench_databases())
    step = _only_step(_run(tmp_path, "e2e", "--subscribers", "5", *BRIEF, "--profile"))
    assert (step["connected"], step["errors"]) == (5, 0), step
    assert step["delivered"] > 0, step
    for name in ("api", "bridge", "feed", "redis", "kafka", "postgres"):
        assert step[f"{name}_cpu_percent"] is not None, (name, step)
    assert step["publishes_per_tick"] >= 1, "a quote channel per tick, at least"
    assert step["hub_messages_per_second"] > 0, step
    assert step["ticks_per_bridge_batch"] > 0, step
    assert len(str(step["api_redis_connections"]).split("/")) == 3, step
    assert step["load_average"] is not None, step
    assert set(step["profiles"]) == {"api", "bridge", "feed"}, step["profiles"]
    assert all(p and p["samples"] > 0 for p in step["profiles"].values()), step["profiles"]
    assert asyncio.run(_bench_databases()) <= before, "the sandbox database was not dropped"


@pytest.mark.bench
@pytest.mark.services
def test_e2e_smoke_with_two_api_processes_shows_each_one_and_the_whole(tmp_path: Path) -> None:
    """`--api-processes 2`: both API processes serve, each one's CPU beside their sum, and
    every measured part's CPU summed with the load client's."""
    document = _run(
        tmp_path, "e2e", "--subscribers", "8", "--rate", "50", "--seconds", "2",
        "--warmup", "0.5", "--api-processes", "2",
    )  # fmt: skip
    steps = document["steps"]
    assert isinstance(steps, list)
    [step] = steps
    assert (step["connected"], step["errors"]) == (8, 0), step
    assert step["delivered"] > 0, step
    each = [float(part) for part in str(step["api_each_cpu_percent"]).split("/")]
    assert len(each) == 2, step
    assert step["api-1_cpu_percent"] is not None
    assert step["api-2_cpu_percent"] is not None
    parts = step["api_cpu_percent"] + step["client_cpu_percent"]
    assert step["all_cpu_percent"] >= parts - 0.1  # each figure rounded to 0.1


def test_full_mode_without_services_fails_with_a_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRADO_SERVICES_ENV", str(tmp_path / "missing.env"))
    result = CliRunner().invoke(app, ["run", "pipeline", "--results-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "scripts/services.sh up" in result.output
    assert not list(tmp_path.glob("*.json"))


def test_load_reports_merge_latency_slices() -> None:
    def report(micros: list[int]) -> dict[str, object]:
        whole, first = Histogram(), Histogram()
        for value in micros:
            whole.record(value)
            first.record(value)
        return {
            "histogram": whole.to_json(),
            "slices": {"0": first.to_json()},
            "connected": 1,
            "failed": 0,
            "closed_early": 0,
            "errors": 0,
            "delivered": len(micros),
            "cpu_seconds": 0.1,
            "first_error": None,
        }

    merged = _merge([report([100, 200]), report([300])], 2, 1.0, 0.0, 1.0)
    assert merged.delivered == 3
    assert list(merged.slices) == [0]
    assert merged.slices[0].total == 3


def test_histogram_buckets_cover_every_value_once() -> None:
    for micros in [*range(5000), 12_345, 10**6, 10**9]:
        bucket = bucket_of(micros)
        assert upper_bound(bucket) >= micros
        assert bucket == 0 or upper_bound(bucket - 1) < micros


def test_histogram_percentiles_merge_across_processes() -> None:
    low, high = Histogram(), Histogram()
    for micros in range(1, 50_001):
        low.record(micros)
        high.record(micros + 50_000)
    low.merge(Histogram.from_json(high.to_json()))
    p50, p99 = low.percentile(0.5), low.percentile(0.99)
    assert p50 is not None
    assert p99 is not None
    assert abs(p50 - 50_000) / 50_000 < 0.02
    assert abs(p99 - 99_000) / 99_000 < 0.02
    assert low.percentile(1.0) == 100_000


def test_profile_summary_ranks_frames_by_self_and_total_time(tmp_path: Path) -> None:
    folded = tmp_path / "stacks.folded"
    folded.write_text(
        "main (server.py:1);send (ws.py:10) 6\n"
        "main (server.py:1);execute (graphql.py:5);collect (graphql.py:9) 3\n"
        "main (server.py:2);execute (graphql.py:7) 1\n"
    )
    profile = summarise(folded)
    assert profile.samples == 10
    assert profile.top_self[0] == ("send (ws.py)", 0.6)
    assert dict(profile.top_total)["main (server.py)"] == 1.0
    assert dict(profile.top_total)["execute (graphql.py)"] == 0.4
    assert profile.by_package == [("ws", 0.6), ("graphql", 0.4)]


class _Transport:
    """Records what the client writes; enough of asyncio.Transport for LeanSocket."""

    def __init__(self) -> None:
        self.written = b""
        self.closing = False

    def write(self, data: bytes) -> None:
        self.written += data

    def close(self) -> None:
        self.closing = True

    def is_closing(self) -> bool:
        return self.closing


def _frame(opcode: int, payload: bytes, *, final: bool = True) -> bytes:
    first = (0x80 if final else 0) | opcode
    if len(payload) < 126:
        return bytes((first, len(payload))) + payload
    return bytes((first, 126)) + len(payload).to_bytes(2) + payload


async def test_lean_client_parses_batched_split_and_fragmented_frames() -> None:
    received: list[bytes] = []
    socket = LeanSocket(received.append)
    transport = _Transport()
    socket.connection_made(transport)  # type: ignore[arg-type]
    big = b"x" * 300
    stream = (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"
        + _frame(0x1, b"one")
        + _frame(0x1, b"two")
        + _frame(0x1, big)
        + _frame(0x1, b"fra", final=False)
        + _frame(0x0, b"gment")
        + _frame(0x9, b"hi")
    )
    for cut in range(0, len(stream), 7):  # arrives in pieces that split headers and payloads
        socket.data_received(stream[cut : cut + 7])
    assert socket.opened.done()
    assert received == [b"one", b"two", big, b"fragment"]
    assert transport.written[0] == 0x8A  # a pong, final
    assert transport.written[1] == 0x80 | 2  # masked, two bytes
    mask, body = transport.written[2:6], transport.written[6:]
    assert bytes(b ^ mask[i % 4] for i, b in enumerate(body)) == b"hi"


async def test_lean_client_refuses_a_failed_upgrade() -> None:
    socket = LeanSocket(lambda _raw: None)
    transport = _Transport()
    socket.connection_made(transport)  # type: ignore[arg-type]
    socket.data_received(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n")
    assert transport.closing
    with pytest.raises(HandshakeFailed, match="403"):
        await socket.opened
