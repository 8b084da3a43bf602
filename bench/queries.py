"""Scenario `queries` (issue 6, d): GraphQL queries over HTTP POST at rising concurrency,
against an embedded-mode Trado (the `trado` target, its market ticking at `--rate`).

Per query and concurrency level, `bench.httpload` processes (keep-alive, one loop per
concurrent request) run for `--seconds` after `--warmup`; the server's CPU and memory are
sampled over the same window. The same load against `GET /healthz` (no GraphQL, no database)
at the highest level is the load generator's own ceiling on this machine: a query whose rps
comes near it is limited by the client, not the server.
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import orjson

from bench import profile as profiling
from bench.histogram import Histogram
from bench.load import ROOT, LoadError, _readline_before
from bench.procstats import Sampler
from bench.scenarios import _profile_json
from bench.targets import started, stop_group, universe

COLUMNS = (
    ("query", "query"),
    ("concurrency", "concurrency"),
    ("rps", "req/s"),
    ("p50_ms", "p50 ms"),
    ("p90_ms", "p90 ms"),
    ("p99_ms", "p99 ms"),
    ("max_ms", "max ms"),
    ("errors", "errors"),
    ("server_cpu_percent", "srv CPU%"),
    ("server_peak_rss_mb", "srv peak MB"),
    ("client_cpu_percent", "cli CPU%"),
)
SUMMARY_COLUMNS = (
    ("query", "query"),
    ("best_rps", "best req/s"),
    ("at_concurrency", "at concurrency"),
    ("p99_ms", "p99 ms"),
    ("ceiling_share", "of /healthz"),
)
START_SLACK = 1.5  # seconds for the generator processes to import and connect
CEILING = "healthz (ceiling)"


def queries_for(symbols: list[str]) -> dict[str, dict[str, object]]:
    return {
        "quotes(20 symbols)": {
            "query": "query Q($s: [String!]!) { quotes(symbols: $s) "
            "{ symbol price bid ask volume timestamp sequence } }",
            "variables": {"s": symbols[:20]},
        },
        "instruments(first: 50)": {
            "query": "{ instruments(first: 50) { edges { cursor node { symbol name exchange "
            "sector tickSize } } pageInfo { hasNextPage endCursor } } }",
        },
    }


@dataclass(frozen=True)
class QueriesConfig:
    concurrency: tuple[int, ...] = (1, 8, 32, 64)
    seconds: float = 5.0
    warmup: float = 1.0
    rate: float = 100.0  # the market's ticks/s meanwhile
    workers: int = 1  # generator processes per level (concurrency is split between them)
    seed: int = 7
    profile_dir: Path | None = None  # py-spy the server during each level into this folder


def queries(config: QueriesConfig, workdir: Path) -> list[dict[str, object]]:
    symbols = universe(100)
    rows: list[dict[str, object]] = []
    with started(
        "trado", rate=config.rate, symbols=symbols, seed=config.seed, workdir=workdir
    ) as target:
        base = target.url.replace("ws://", "http://")
        plan: list[tuple[str, str, bytes | None, int]] = [
            (name, base, orjson.dumps(body), level)
            for name, body in queries_for(symbols).items()
            for level in config.concurrency
        ]
        plan.append((CEILING, base.replace("/graphql", "/healthz"), None, max(config.concurrency)))
        with Sampler(target.pid) as sampler:
            for name, url, body, level in plan:
                folded = (config.profile_dir or workdir) / f"{_slug(name)}-{level}.folded"
                row = measure(url, body, level, config, pid=target.pid, folded=folded)
                usage = sampler.usage(float(str(row.pop("start"))), float(str(row.pop("end"))))
                row["query"] = name
                row["server_cpu_percent"] = usage.cpu_percent if usage else None
                row["server_peak_rss_mb"] = usage.peak_rss_mb if usage else None
                rows.append(row)
    return rows


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name).strip("-")


def measure(
    url: str, body: bytes | None, level: int, config: QueriesConfig, *, pid: int, folded: Path
) -> dict[str, object]:
    """One level; with `config.profile_dir`, py-spy on `pid` over the window as well."""
    workers = max(1, min(config.workers, level))
    shares = [level // workers + (1 if i < level % workers else 0) for i in range(workers)]
    start = time.time() + START_SLACK + config.warmup
    end = start + config.seconds
    generators: list[subprocess.Popen[str]] = []
    try:
        for share in shares:
            command = [
                sys.executable,
                "-m",
                "bench.httpload",
                "--url",
                url,
                "--concurrency",
                str(share),
                "--start",
                repr(start),
                "--end",
                repr(end),
                *(["--body", body.decode()] if body is not None else []),
            ]
            generators.append(
                subprocess.Popen(
                    command, cwd=ROOT, stdout=subprocess.PIPE, text=True, start_new_session=True
                )
            )
        profiler = None
        if config.profile_dir is not None:
            time.sleep(max(start - time.time(), 0))
            profiler = profiling.start(pid, config.seconds, folded)
        deadline = time.monotonic() + START_SLACK + config.warmup + config.seconds + 30
        reports = []
        for generator in generators:
            assert generator.stdout is not None
            line = _readline_before(generator.stdout, deadline)
            if not line:
                raise LoadError(f"http load generator {generator.pid} reported nothing")
            reports.append(orjson.loads(line))
        profile = profiling.finish(profiler, folded) if profiler else None
    finally:
        for generator in generators:
            stop_group(generator)
    histogram = Histogram()
    for report in reports:
        histogram.merge(Histogram.from_json(report["histogram"]))
    errors = [r["first_error"] for r in reports if r["first_error"]]

    def ms(fraction: float) -> float | None:
        value = histogram.percentile(fraction)
        return None if value is None else round(value / 1000, 2)

    return {
        "concurrency": level,
        "requests": histogram.total,
        "rps": round(histogram.total / config.seconds, 1),
        "p50_ms": ms(0.5),
        "p90_ms": ms(0.9),
        "p99_ms": ms(0.99),
        "max_ms": round(histogram.max_micros / 1000, 2) if histogram.total else None,
        "errors": sum(int(r["errors"]) for r in reports),
        "first_error": errors[0] if errors else None,
        "client_cpu_percent": round(
            100 * sum(r["cpu_seconds"] for r in reports) / config.seconds, 1
        ),
        "client_workers": workers,
        "profile": _profile_json(profile),
        "start": start,
        "end": end,
    }


def summary(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    """Per query: the best req/s over the levels, and its share of the /healthz ceiling."""
    ceiling = next((float(str(r["rps"])) for r in rows if r["query"] == CEILING), None)
    result = []
    for name in dict.fromkeys(str(r["query"]) for r in rows):
        mine = [r for r in rows if r["query"] == name]
        best = max(mine, key=lambda r: float(str(r["rps"])))
        rps = float(str(best["rps"]))
        result.append(
            {
                "query": name,
                "best_rps": rps,
                "at_concurrency": best["concurrency"],
                "p99_ms": best["p99_ms"],
                "ceiling_share": round(rps / ceiling, 2) if ceiling else None,
            }
        )
    return result
