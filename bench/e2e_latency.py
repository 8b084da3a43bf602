"""End-to-end latency in full mode: tick produced to Kafka → quote received by WebSocket clients.

    uv run python bench/e2e_latency.py --rate 500 --subscribers 100

Kept for the command the README used to name; it is the harness's `e2e` scenario
(`python -m bench run e2e`, see `bench/README.md`): an API (`server.py`), a bridge worker and
the simulator feed as separate processes against the real services of `scripts/services.sh up`
(`--services-env`, else `TRADO_SERVICES_ENV`, else `.services/services.env`), in a database,
topic, consumer group and Redis prefix of the run's own, all removed at the end.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.cli import app  # noqa: E402


def main(
    rate: Annotated[float, typer.Option(help="Ticks per second, all symbols together.")] = 500,
    subscribers: Annotated[int, typer.Option(help="WebSocket clients.")] = 100,
    seconds: Annotated[float, typer.Option(help="Measured duration.")] = 15,
    warmup: Annotated[float, typer.Option(help="Unmeasured lead-in.")] = 3,
    services_env: Annotated[
        Path | None, typer.Option(help="A services.env with DATABASE_URL, REDIS_URL, ...")
    ] = None,
) -> None:
    """Measure tick-produced → client-received latency in full mode (`bench run e2e`)."""
    if services_env is not None:
        os.environ["TRADO_SERVICES_ENV"] = str(services_env.resolve())
    words = ["run", "e2e", "--rate", str(rate), "--subscribers", str(subscribers)]
    app([*words, "--seconds", str(seconds), "--warmup", str(warmup)])


if __name__ == "__main__":
    typer.run(main)
