"""`python -m streaming.feed simulator`: run a market feed into the tick log (Kafka in full
mode). Settings come from the environment; options here override them."""

from __future__ import annotations

from typing import Annotated

import typer

from runtime import start_simulator
from streaming.worker import run_worker

cli = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False)


@cli.command()
def simulator(
    rate: Annotated[
        float | None, typer.Option(min=0.001, help="Ticks per second across all instruments.")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed, for a repeatable walk.")] = None,
) -> None:
    """A random walk per instrument of the reference list, in whole ticks."""
    overrides: dict[str, object] = {}
    if rate is not None:
        overrides["simulator_ticks_per_second"] = rate
    if seed is not None:
        overrides["simulator_seed"] = seed
    run_worker(start_simulator, **overrides)


@cli.callback()
def main() -> None:
    """Market feeds."""


if __name__ == "__main__":
    cli()
