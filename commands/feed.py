"""`python -m commands.feed simulator|replay|provider`: run a market feed into the tick log
(Kafka in full mode, keyed by symbol). Settings come from the environment; options here
override them."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Annotated

import typer

from commands.worker import LOG_FORMAT, run_worker
from settings import check_websocket_url, load_settings
from streaming.feeds.replay import Replay
from streaming.runtime import open_runtime, run_replay, start_provider, start_simulator

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


@cli.command()
def replay(
    path: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="A .csv or .ndjson tick file.")
    ],
    speed: Annotated[
        float,
        typer.Option(min=0, help="1 = recorded pace, 10 = ten times faster, 0 = at once."),
    ] = 1.0,
    file_format: Annotated[
        str | None, typer.Option("--format", help="csv or ndjson (default: by file suffix).")
    ] = None,
    now: Annotated[
        bool, typer.Option("--now", help="Shift timestamps so the first tick is now.")
    ] = False,
) -> None:
    """Replay recorded ticks once, then exit (malformed rows are counted and skipped)."""
    if file_format not in (None, "csv", "ndjson"):
        raise typer.BadParameter("--format must be csv or ndjson")
    settings = load_settings().model_copy(update={"run_feed_in_process": False})
    logging.basicConfig(level=settings.log_level, format=LOG_FORMAT)
    feed = Replay(path, speed=speed, file_format=file_format, shift_to_now=now)  # type: ignore[arg-type]

    async def main() -> None:
        async with open_runtime(settings) as runtime:
            await run_replay(runtime, feed)

    asyncio.run(main())
    typer.echo(f"replayed {path.name}; {feed.bad_rows} malformed rows skipped")


@cli.command()
def provider(
    url: Annotated[
        str | None, typer.Option(help="Provider WebSocket URL (default: PROVIDER_URL).")
    ] = None,
    symbols: Annotated[
        str | None,
        typer.Option(help="Comma-separated symbols (default: PROVIDER_SYMBOLS, else all)."),
    ] = None,
) -> None:
    """Stream trades from an external market-data WebSocket; reconnects and resubscribes."""
    overrides: dict[str, object] = {}
    if url is not None:
        try:
            overrides["provider_url"] = check_websocket_url(url)
        except ValueError as error:
            raise typer.BadParameter(str(error), param_hint="--url") from None
    if symbols is not None:
        overrides["provider_symbols"] = symbols
    if not (url or load_settings().provider_url):
        raise typer.BadParameter("give --url or set PROVIDER_URL")
    run_worker(start_provider, **overrides)


@cli.callback()
def main() -> None:
    """Market feeds."""


if __name__ == "__main__":
    cli()
