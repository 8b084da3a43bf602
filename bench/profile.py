"""py-spy on the Python target while the load runs, summarised as the frames that cost most,
so each optimisation starts from what the profile shows rather than from a guess.

The raw (folded) stacks are kept beside the results: `flamegraph.pl` or speedscope.app open them.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

LINE_NUMBER = re.compile(r":\d+\)$")
FILE = re.compile(r"\(([^:)]+)")


@dataclass(frozen=True)
class Profile:
    folded: Path
    samples: int
    top_self: list[tuple[str, float]]  # (frame, share of samples) where the CPU was
    top_total: list[tuple[str, float]]  # (frame, share of samples) on the stack
    by_package: list[tuple[str, float]]  # (top-level package or module, share of self samples)


def py_spy() -> str:
    """py-spy from the same environment as this Python (a dev dependency)."""
    found = Path(sys.executable).with_name("py-spy")
    if found.exists():
        return str(found)
    path = shutil.which("py-spy")
    if path is None:
        raise FileNotFoundError("py-spy is not installed (uv sync --dev)")
    return path


def start(pid: int, seconds: float, output: Path) -> subprocess.Popen[bytes]:
    output.parent.mkdir(parents=True, exist_ok=True)
    command = [
        py_spy(),
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(max(1, round(seconds))),
        "--rate",
        "200",
        "--format",
        "raw",
        "--nonblocking",
        "--output",
        str(output),
    ]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def finish(process: subprocess.Popen[bytes], output: Path, top: int = 15) -> Profile | None:
    try:
        _, stderr = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        return None
    if process.returncode != 0 or not output.exists():
        sys.stderr.write(f"py-spy failed: {stderr.decode(errors='replace')[-500:]}\n")
        return None
    return summarise(output, top)


def summarise(folded: Path, top: int = 15) -> Profile:
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    samples = 0
    for line in folded.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [LINE_NUMBER.sub(")", f) for f in stack.split(";")]
        samples += count
        own[frames[-1]] += count
        packages[_package(frames[-1])] += count
        for frame in set(frames):
            total[frame] += count

    def shares(counter: Counter[str]) -> list[tuple[str, float]]:
        return [(frame, round(n / samples, 3)) for frame, n in counter.most_common(top)]

    if not samples:
        return Profile(folded, 0, [], [], [])
    return Profile(folded, samples, shares(own), shares(total), shares(packages))


def _package(frame: str) -> str:
    """`send (uvicorn/protocols/websockets/x.py)` -> `uvicorn`; `dumps (json/__init__.py)` ->
    `json`; app modules keep their top folder (`streaming`, `graph`)."""
    found = FILE.search(frame)
    path = found.group(1) if found else frame
    return path.split("/", 1)[0] if "/" in path else path.removesuffix(".py")
