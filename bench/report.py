"""Machine facts, the printed table, and the results files (JSON with every figure, markdown
for reading), so a figure is never quoted without the machine and versions behind it."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import psutil

from bench.targets import NODE_DIR, ROOT, centrifugo_version

PYTHON_PACKAGES = (
    "strawberry-graphql",
    "fastapi",
    "uvicorn",
    "websockets",
    "uvloop",
    "orjson",
    "aiohttp",
)
NODE_PACKAGES = ("graphql", "graphql-ws", "ws")
STEP_COLUMNS = (
    ("target", "target"),
    ("subscribers", "N"),
    ("rate", "ticks/s"),
    ("expected_per_second", "expected/s"),
    ("deliveries_per_second", "delivered/s"),
    ("p50_ms", "p50 ms"),
    ("p90_ms", "p90 ms"),
    ("p99_ms", "p99 ms"),
    ("max_ms", "max ms"),
    ("server_cpu_percent", "srv CPU%"),
    ("server_peak_rss_mb", "srv peak MB"),
    ("server_cpu_us_per_delivery", "srv µs/deliv"),
    ("rss_kb_per_connection", "KB/conn"),
    ("connect_seconds", "connect s"),
    ("client_cpu_percent", "cli CPU%"),
    ("connected", "conn"),
    ("errors", "errors"),
)
# Beside a target fed from outside (centrifugo): its publisher's CPU, measured alone.
PUBLISHER_COLUMNS = (("publisher_cpu_percent", "pub CPU%"),)
WHOLE_FROM = 100  # floats from here on print without decimals
SUSTAINED_TITLE = "Sustained maximum (p99 within the limit, deliveries within the expected share)"
SUMMARY_COLUMNS = (
    ("target", "target"),
    ("subscribers", "N"),
    ("sustained_per_second", "sustained/s"),
    ("sustained_vs_trado", "×trado"),
    ("at_rate", "at ticks/s"),
    ("p99_ms", "p99 ms"),
    ("steps", "steps"),
    ("limit_reached", "limit reached"),
    ("cost_at_rate", "costs at ticks/s"),
    ("cpu_us_per_delivery", "srv µs/deliv"),
    ("cpu_vs_trado", "×trado"),
    ("rss_kb_per_connection", "KB/conn"),
    ("rss_vs_trado", "×trado"),
    ("connect_seconds", "connect s"),
    ("connect_vs_trado", "×trado"),
)


def machine_facts() -> dict[str, object]:
    return {
        "cpu_model": _cpu_model(),
        "logical_cores": os.cpu_count(),
        "physical_cores": psutil.cpu_count(logical=False),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "node": _output(["node", "--version"]),
        "python_packages": {name: _version(name) for name in PYTHON_PACKAGES},
        "node_packages": {name: _node_version(name) for name in NODE_PACKAGES},
        "centrifugo": centrifugo_version(),
        "git_commit": _output(["git", "-C", str(ROOT), "describe", "--always", "--dirty"]),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _node_version(name: str) -> str | None:
    try:
        manifest = json.loads((NODE_DIR / "node_modules" / name / "package.json").read_text())
    except OSError:
        return None
    version = manifest.get("version")
    return str(version) if version else None


def _output(command: list[str]) -> str | None:
    try:
        return subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def table(
    rows: list[dict[str, object]],
    columns: tuple[tuple[str, str], ...],
    min_widths: dict[str, int] | None = None,
) -> str:
    """A markdown table, which also reads well in a terminal (`min_widths`, by column key, keep
    rows printed one at a time in line with each other)."""
    cells = [[_cell(row.get(key)) for key, _ in columns] for row in rows]
    headers = [title for _, title in columns]
    least = [(min_widths or {}).get(key, 0) for key, _ in columns]
    widths = [max([len(h), least[i], *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]

    def line(values: list[str]) -> str:
        return "| " + " | ".join(v.rjust(w) for v, w in zip(values, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 1) + ":" for w in widths) + "|"
    return "\n".join([line(headers), rule, *(line(r) for r in cells)])


def _cell(value: object) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return (
            f"{value:,.0f}" if abs(value) >= WHOLE_FROM else f"{value:,.2f}".rstrip("0").rstrip(".")
        )
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def write_results(
    directory: Path,
    scenario: str,
    *,
    command: str,
    facts: dict[str, object],
    config: dict[str, object],
    steps: list[dict[str, object]],
    summary: list[dict[str, object]],
    stopped_early: str | None = None,
    step_columns: tuple[tuple[str, str], ...] = STEP_COLUMNS,
    summary_columns: tuple[tuple[str, str], ...] = SUMMARY_COLUMNS,
    summary_title: str = SUSTAINED_TITLE,
    notes: list[str] | None = None,
) -> tuple[Path, Path]:
    """`notes`: markdown lines after the tables (a scenario's own series, say)."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    base = directory / f"{stamp}-{scenario}"
    document: dict[str, object] = {
        "scenario": scenario,
        "finished_at": datetime.now(UTC).isoformat(),
        "command": command,
        "stopped_early": stopped_early,
        "machine": facts,
        "config": config,
        "summary": summary,
        "steps": steps,
    }
    json_path = base.with_suffix(".json")
    json_path.write_text(json.dumps(document, indent=2, default=str) + "\n")
    markdown_path = base.with_suffix(".md")
    markdown_path.write_text(
        markdown(document, step_columns, summary_columns, summary_title, notes or [])
    )
    return json_path, markdown_path


def markdown(
    document: dict[str, object],
    step_columns: tuple[tuple[str, str], ...] = STEP_COLUMNS,
    summary_columns: tuple[tuple[str, str], ...] = SUMMARY_COLUMNS,
    summary_title: str = "",
    notes: list[str] | None = None,
) -> str:
    facts, config = document["machine"], document["config"]
    assert isinstance(facts, dict)
    assert isinstance(config, dict)
    steps, summary = document["steps"], document["summary"]
    assert isinstance(steps, list)
    assert isinstance(summary, list)
    lines = [
        f"# Benchmark: {document['scenario']}",
        "",
        f"Command: `{document['command']}`  ",
        f"Finished: {document['finished_at']}",
        "",
        *(
            [f"**Stopped early:** {document['stopped_early']}", ""]
            if document["stopped_early"]
            else []
        ),
        "## Machine",
        "",
        *(f"- {key}: {value}" for key, value in facts.items()),
        "",
        *_cores_section(config.get("cores")),
        f"## {summary_title or SUSTAINED_TITLE}",
        "",
        table(summary, summary_columns),
        "",
        "## Every step",
        "",
        table(steps, step_columns),
        "",
        *(notes or []),
    ]
    for step in steps:
        profile = step.get("profile")
        if profile:
            lines += _profile_section(step, profile)
    return "\n".join(lines)


def _cores_section(cores: object) -> list[str]:
    """Which CPUs each part ran on (`bench.pinning.cores`), when the run says."""
    if not isinstance(cores, dict):
        return []
    return ["## Cores", "", *(f"- {part}: {cpus}" for part, cpus in cores.items()), ""]


def _label(step: dict[str, object]) -> str:
    if "query" in step:
        return f"{step['query']}, concurrency {step['concurrency']}"
    return f"{step['target']}, N={step['subscribers']}, {step['rate']} ticks/s"


def _profile_section(step: dict[str, object], profile: dict[str, object]) -> list[str]:
    """Where the target's CPU went (py-spy, share of samples in that frame itself)."""
    rows, packages = profile["top_self"], profile["by_package"]
    assert isinstance(rows, list)
    assert isinstance(packages, list)
    return [
        f"## Profile: {_label(step)} "
        f"({profile['samples']} samples, stacks in `{profile['folded']}`)",
        "",
        "| self | frame |",
        "|-----:|:------|",
        *(f"| {share:.1%} | `{frame}` |" for frame, share in rows),
        "",
        "By package: " + ", ".join(f"{name} {share:.0%}" for name, share in packages[:8]),
        "",
    ]
