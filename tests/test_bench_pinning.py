"""`--pin` (bench/pinning.py): the server under test on core 0, the harness, its load client and
Centrifugo's publisher on core 1. The record and the refusals are pure logic; then the pinning
is read back from the kernel (`Cpus_allowed_list` of every thread in /proc) for each kind of
target started pinned, and for a whole run. Nothing is skipped: a machine without two cores,
`taskset`, Node or Centrifugo fails here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
from typer.testing import CliRunner

from bench.cli import app
from bench.pinning import CLIENT_CORE, SERVER_CORE, cores, on_core
from bench.report import markdown
from bench.targets import ROOT, started, universe


def test_a_pinned_command_runs_on_its_core_from_the_start() -> None:
    assert on_core(0, ["node", "peer.mjs"]) == ["taskset", "-c", "0", "node", "peer.mjs"]


def test_the_results_say_which_cores_each_part_ran_on() -> None:
    pinned = cores(True)
    assert pinned["server"].startswith(f"{SERVER_CORE} ")
    assert "GOMAXPROCS=1" in pinned["server"]
    assert pinned["load client"].startswith(f"{CLIENT_CORE} ")
    assert pinned["publisher"].startswith(f"{CLIENT_CORE} ")
    anywhere = ",".join(map(str, sorted(os.sched_getaffinity(0))))
    assert set(cores(False).values()) == {anywhere}

    document: dict[str, object] = {
        "scenario": "fanout",
        "finished_at": "now",
        "command": "python -m bench run fanout --pin",
        "stopped_early": None,
        "machine": {},
        "config": {"pin": True, "cores": pinned},
        "summary": [],
        "steps": [],
    }
    text = markdown(document)
    assert "## Cores" in text
    assert f"- server: {pinned['server']}" in text
    assert f"- load client: {pinned['load client']}" in text


@pytest.mark.parametrize(
    "arguments",
    [["e2e"], ["storm", "--full"], ["queries"]],
    ids=["e2e", "storm-full", "queries"],
)
def test_pin_is_refused_where_the_server_is_not_one_process(arguments: list[str]) -> None:
    before = os.sched_getaffinity(0)
    result = CliRunner().invoke(app, ["run", *arguments, "--pin"])
    assert result.exit_code == 2, result.output
    assert "--pin places one server under test on core 0" in result.output
    assert os.sched_getaffinity(0) == before  # refused before anything moved


def _allowed(pid: int, *, children: bool = True) -> set[str]:
    """`Cpus_allowed_list` of every thread of `pid` (and of its descendants), from /proc."""
    process = psutil.Process(pid)
    processes = [process, *(process.children(recursive=True) if children else [])]
    return {
        _cpus_allowed((task / "status").read_text())
        for one in processes
        for task in Path(f"/proc/{one.pid}/task").iterdir()
    }


def _cpus_allowed(status: str) -> str:
    return status.split("Cpus_allowed_list:", 1)[1].split()[0]


@pytest.mark.bench
@pytest.mark.parametrize("name", ["trado", "raw-ws"])
def test_a_pinned_target_runs_wholly_on_the_server_core(name: str, tmp_path: Path) -> None:
    with started(name, rate=50, symbols=universe(10), seed=7, workdir=tmp_path, pin=True) as target:
        assert target.publisher is None
        assert _allowed(target.pid) == {str(SERVER_CORE)}


@pytest.mark.bench
@pytest.mark.timeout(900)  # the first run on a machine builds Centrifugo
def test_pinned_centrifugo_runs_its_binary_alone_on_the_server_core(tmp_path: Path) -> None:
    symbols = universe(10)
    with started("centrifugo", rate=50, symbols=symbols, seed=7, workdir=tmp_path, pin=True) as t:
        binary = psutil.Process(t.pid)
        assert binary.name() == "centrifugo"
        assert binary.environ().get("GOMAXPROCS") == "1"
        assert _allowed(t.pid) == {str(SERVER_CORE)}
        assert binary.ppid() == t.publisher  # the Node publisher started it
        assert t.publisher is not None
        assert _allowed(t.publisher, children=False) == {str(CLIENT_CORE)}


# Run in a process of its own, since the pinning would stay on this one.
HARNESS = """
import json, os, subprocess, threading
from bench.pinning import check, pin_this_process

def _cpus_allowed(status):
    return status.split("Cpus_allowed_list:", 1)[1].split()[0]

check()
release = threading.Event()
early = threading.Thread(target=release.wait)
early.start()
pin_this_process()
child = subprocess.run(["cat", "/proc/self/status"], capture_output=True, text=True, check=True)
tasks = os.listdir("/proc/self/task")
threads = {_cpus_allowed(open(f"/proc/self/task/{task}/status").read()) for task in tasks}
release.set()
print(json.dumps({"child": _cpus_allowed(child.stdout), "threads": sorted(threads)}))
"""


def test_the_harness_moves_every_thread_and_what_it_starts_to_the_client_core() -> None:
    """A thread started before the pinning moves too; a child started after inherits it."""
    result = subprocess.run(
        [sys.executable, "-c", HARNESS], cwd=ROOT, capture_output=True, text=True, check=True
    )
    placed = json.loads(result.stdout)
    assert placed == {"child": str(CLIENT_CORE), "threads": [str(CLIENT_CORE)]}


@pytest.mark.bench
@pytest.mark.timeout(900)  # the first run on a machine builds Centrifugo
def test_a_pinned_run_records_its_cores_and_the_publisher_apart(tmp_path: Path) -> None:
    arguments = ["run", "fanout", "--pin", "--targets", "centrifugo"]
    arguments += ["--subscribers", "2", "--rate", "20", "--no-ramp", "--seconds", "1"]
    arguments += ["--warmup", "0.2", "--results-dir", str(tmp_path)]
    subprocess.run([sys.executable, "-m", "bench", *arguments], cwd=ROOT, check=True)
    [json_file] = tmp_path.glob("*-fanout.json")
    document = json.loads(json_file.read_text())
    assert document["config"]["pin"] is True
    assert document["config"]["cores"] == cores(True)
    [centrifugo] = document["steps"]
    assert (centrifugo["server_cpus"], centrifugo["publisher_cpus"]) == ("0", "1")
    assert centrifugo["publisher_cpu_percent"] is not None
    assert centrifugo["connected"] == 2, centrifugo
    text = json_file.with_suffix(".md").read_text()
    assert "## Cores" in text
    assert "pub CPU%" in text
