"""`python -m commands.feed simulator|replay|provider`: run a market feed into the tick log
(Kafka in full mode, keyed by symbol); `record`: keep a provider's events in an NDJSON file
(no services needed), for `replay`. Settings come from the environment; options here
override them."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from commands.logs import configure_logging
from commands.worker import run_until_stopped, run_worker
from settings import check_websocket_url, load_settings
from streaming.feeds.market import Adapter
from streaming.feeds.providers import make_adapter
from streaming.feeds.recording import Recording, RecordingError, record
from streaming.feeds.replay import Replay
from streaming.runtime import (
    make_provider,
    open_runtime,
    provider_symbols,
    run_replay,
    start_provider,
    start_simulator,
)

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
    run_worker(start_simulator, "trado-feed", **overrides)


@cli.command()
def replay(
    path: Annotated[
        Path,
        typer.Argument(
            exists=True,
            dir_okay=False,
            help="A .csv or .ndjson tick file, or a recording (`record`'s NDJSON).",
        ),
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
    """Replay recorded ticks or market events once, then exit (malformed rows are counted and
    skipped)."""
    if file_format not in (None, "csv", "ndjson"):
        raise typer.BadParameter("--format must be csv or ndjson")
    settings = load_settings().model_copy(update={"run_feed_in_process": False})
    configure_logging(settings)
    feed = Replay(path, speed=speed, file_format=file_format, shift_to_now=now)  # type: ignore[arg-type]

    async def main() -> None:
        async with open_runtime(settings) as runtime:
            await run_replay(runtime, feed)

    asyncio.run(main())
    typer.echo(f"replayed {path.name}; {feed.bad_rows} malformed rows skipped")


ProviderOption = Annotated[
    str | None,
    typer.Option("--provider", help="finnhub, alpaca, polygon or binance (default: PROVIDER)."),
]
UrlOption = Annotated[
    str | None,
    typer.Option(help="Provider WebSocket URL (default: PROVIDER_URL, else the provider's)."),
]
SymbolsOption = Annotated[
    str | None,
    typer.Option(help="Comma-separated symbols (default: PROVIDER_SYMBOLS, else all)."),
]


@cli.command()
def provider(
    provider: ProviderOption = None, url: UrlOption = None, symbols: SymbolsOption = None
) -> None:
    """Stream an external market-data provider's WebSocket into the tick log; reconnects
    and resubscribes."""
    overrides = _provider_overrides(provider, url, symbols)
    try:
        make_provider(load_settings().model_copy(update=overrides))  # misconfigured: fail now
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
    run_worker(start_provider, "trado-feed", **overrides)


@cli.command("record")
def record_command(
    *,
    out: Annotated[
        Path,
        typer.Option("--out", dir_okay=False, help="The NDJSON file to append the events to."),
    ],
    provider: ProviderOption = None,
    url: UrlOption = None,
    symbols: SymbolsOption = None,
    rotate_daily: Annotated[
        bool,
        typer.Option(
            "--rotate-daily", help="One file per UTC day: OUT's name with -YYYY-MM-DD added."
        ),
    ] = False,
    seconds: Annotated[
        float | None,
        typer.Option("--seconds", min=0, help="Stop after this long (default: on Ctrl-C)."),
    ] = None,
) -> None:
    """Record what a provider sends, normalised, one market event per NDJSON row (the data
    collector; `replay` plays the file back). Needs no Kafka, Redis or database. Appends to
    OUT when it exists; stops on SIGINT or SIGTERM, having flushed every row."""
    settings = load_settings().model_copy(update=_provider_overrides(provider, url, symbols))
    configure_logging(settings)
    try:
        adapter = make_adapter(settings, provider_symbols(settings))
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
    recording = Recording(out, rotate_daily=rotate_daily)
    try:
        with recording:
            asyncio.run(_record_until_stopped(adapter, recording, seconds))
    except RecordingError as error:
        typer.echo(f"error: {error} ({recording.rows} events recorded)", err=True)
        raise typer.Exit(1) from None
    files = ", ".join(str(path) for path in dict.fromkeys(recording.files))
    typer.echo(f"recorded {recording.rows} {settings.provider} events to {files}")


async def _record_until_stopped(
    adapter: Adapter, recording: Recording, seconds: float | None
) -> None:
    recorder = asyncio.create_task(record(adapter, recording))
    stopped = asyncio.create_task(run_until_stopped())
    try:
        await asyncio.wait(
            {recorder, stopped}, timeout=seconds, return_when=asyncio.FIRST_COMPLETED
        )
        if recorder.done():
            recorder.result()  # a RecordingError
    finally:
        for task in (recorder, stopped):
            task.cancel()
        await asyncio.gather(recorder, stopped, return_exceptions=True)


def _provider_overrides(
    provider: str | None, url: str | None, symbols: str | None
) -> dict[str, object]:
    overrides: dict[str, object] = {}
    if provider is not None:
        overrides["provider"] = provider.strip().lower()
    if url is not None:
        try:
            overrides["provider_url"] = check_websocket_url(url)
        except ValueError as error:
            raise typer.BadParameter(str(error), param_hint="--url") from None
    if symbols is not None:
        overrides["provider_symbols"] = symbols
    return overrides


@cli.callback()
def main() -> None:
    """Market feeds."""


if __name__ == "__main__":
    cli()
