"""`python -m bench run SCENARIO ...`: start what the scenario needs, run it, stop everything
it started, print the table and write `bench/results/<timestamp>-<scenario>.json` and `.md`."""

from __future__ import annotations

import dataclasses
import shlex
import signal
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import Annotated, cast

import typer

from bench.attacks import COLUMNS as ATTACK_COLUMNS
from bench.attacks import AttacksConfig, attacks
from bench.chaos import COLUMNS as CHAOS_COLUMNS
from bench.chaos import FAULTS as CHAOS_FAULTS
from bench.chaos import ChaosConfig, chaos
from bench.e2e import PROCESS_COLUMNS as E2E_PROCESS_COLUMNS
from bench.e2e import TARGET as E2E_TARGET
from bench.e2e import e2e
from bench.faults import COLUMNS as FAULT_COLUMNS
from bench.faults import FAULTS as REPLICATED_FAULTS
from bench.faults import FaultsConfig, faults
from bench.loadclient import RUNNERS, ClientKind
from bench.pinning import PinningUnavailable, cores, pin_this_process
from bench.pinning import check as check_pinning
from bench.pipeline import COLUMNS as PIPELINE_COLUMNS
from bench.pipeline import PipelineConfig, pipeline
from bench.queries import COLUMNS as QUERY_COLUMNS
from bench.queries import SUMMARY_COLUMNS as QUERY_SUMMARY_COLUMNS
from bench.queries import QueriesConfig, queries
from bench.queries import summary as query_summary
from bench.render import COLUMNS as RENDER_COLUMNS
from bench.render import RenderConfig, render
from bench.report import (
    PUBLISHER_COLUMNS,
    STEP_COLUMNS,
    SUMMARY_COLUMNS,
    machine_facts,
    table,
    write_results,
)
from bench.scenarios import FanoutConfig, Step, TapeLoad, fanout, sustained
from bench.services import ServicesMissing, read_replicated, read_services
from bench.sizing import main as sizing_table
from bench.slow_consumer import COLUMNS as SLOW_COLUMNS
from bench.slow_consumer import SERIES_COLUMNS as SLOW_SERIES_COLUMNS
from bench.slow_consumer import SlowConfig, slow_consumer
from bench.steady import SteadyConfig
from bench.storm import COLUMNS as STORM_COLUMNS
from bench.storm import SERIES_COLUMNS as STORM_SERIES_COLUMNS
from bench.storm import StormConfig, storm
from bench.targets import NODE_SCRIPTS, ROOT, TARGETS, ensure_centrifugo, ensure_node_modules

DEFAULT_SUBSCRIBERS = "1,100,1000,5000"
DEFAULT_TARGETS = "trado,node-graphql,raw-ws"
# Steps print as they finish, so the columns get fixed minimum widths.
PROGRESS_WIDTHS = {key: 8 for key, _ in STEP_COLUMNS} | {"target": max(map(len, TARGETS))}
app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)


class Scenario(StrEnum):
    fanout = "fanout"
    raw_ceiling = "raw-ceiling"
    e2e = "e2e"
    pipeline = "pipeline"
    queries = "queries"
    slow_consumer = "slow-consumer"
    chaos = "chaos"
    attacks = "attacks"
    storm = "storm"
    render = "render"
    faults = "faults"


FULL_MODE = (Scenario.e2e, Scenario.pipeline, Scenario.chaos)
# Whose server under test is one process (group) this harness starts: what --pin can place.
PINNABLE = (Scenario.fanout, Scenario.raw_ceiling, Scenario.storm, Scenario.slow_consumer)
# Per scenario: --seconds, --subscribers and --rate when not given.
DEFAULT_SECONDS = {
    Scenario.queries: 5.0,
    Scenario.slow_consumer: 60.0,
    Scenario.storm: 5.0,
    Scenario.faults: 20.0,
}
DEFAULT_COUNTS = {
    Scenario.raw_ceiling: "1000",
    Scenario.e2e: "100",
    Scenario.slow_consumer: "100",
    Scenario.storm: "1000",
}
# Per scenario with a per-second series: its columns, the title of its table, the series' columns.
SERIES_TABLES = {
    Scenario.slow_consumer: (SLOW_COLUMNS, "One stalled reader among N", SLOW_SERIES_COLUMNS),
    Scenario.storm: (STORM_COLUMNS, "A connect storm beside a steady stream", STORM_SERIES_COLUMNS),
}
DEFAULT_RATES = {
    Scenario.e2e: 500.0,
    Scenario.slow_consumer: 500.0,
    Scenario.chaos: 200.0,
    Scenario.storm: 500.0,
}


def _numbers(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(part.replace("_", "")) for part in text.split(",") if part.strip())
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a comma-separated list of numbers") from None
    if not values or min(values) < 1:
        raise typer.BadParameter("give at least one count, each 1 or more")
    return values


def _names(text: str) -> tuple[str, ...]:
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [n for n in names if n not in TARGETS]
    if unknown or not names:
        raise typer.BadParameter(f"targets are among {', '.join(TARGETS)}")
    return names


@app.command()
def run(  # noqa: PLR0917 (a typer command: one parameter per CLI option)
    ctx: typer.Context,
    scenario: Annotated[
        Scenario,
        typer.Argument(
            help="fanout | raw-ceiling | e2e | pipeline | queries | slow-consumer | chaos | "
            "attacks | storm | render | faults (the replicated topology)"
        ),
    ],
    seconds: Annotated[
        float | None,
        typer.Option(
            min=1,
            help="Measured seconds per step (10; queries: per level, 5; slow-consumer: 60; "
            "chaos: to settle after each fault, 10; storm: steady before the storm, 5; "
            "faults: after each kill, 20).",
        ),
    ] = None,
    subscribers: Annotated[
        str,
        typer.Option(
            help="Comma-separated subscriber counts (raw-ceiling: 1000; e2e, "
            "slow-consumer: 100, one count; storm: 1000 steady, one count)."
        ),
    ] = DEFAULT_SUBSCRIBERS,
    rate: Annotated[
        float | None,
        typer.Option(
            min=1, help="Ticks/s (of the first step): 100; e2e, slow-consumer, storm: 500."
        ),
    ] = None,
    ticks: Annotated[
        int, typer.Option(min=1, help="pipeline: ticks pre-loaded into the topic.")
    ] = 100_000,
    chaos_faults: Annotated[
        str | None,
        typer.Option(
            "--faults",
            help="chaos: the faults, in order (all: " + ", ".join(CHAOS_FAULTS) + "); faults: "
            "likewise (all: " + ", ".join(REPLICATED_FAULTS) + ").",
        ),
    ] = None,
    repeats: Annotated[
        int, typer.Option(min=1, help="attacks: how many times the 4 MiB symbol is sent.")
    ] = 90,
    renders: Annotated[
        int,
        typer.Option(
            min=10, help="render: compiled renders per round and shape (graphql-core: a tenth)."
        ),
    ] = RenderConfig.renders,
    control: Annotated[
        bool, typer.Option(help="slow-consumer: first the same run without the stalled client.")
    ] = False,
    concurrency: Annotated[
        str, typer.Option(help="queries: comma-separated concurrency levels.")
    ] = "1,8,32,64",
    storm_clients: Annotated[
        int, typer.Option("--storm", min=1, help="storm: clients connecting all at once.")
    ] = 2000,
    storm_seconds: Annotated[
        float, typer.Option(min=0, help="storm: how long they stay once all are subscribed.")
    ] = 5.0,
    after_seconds: Annotated[
        float, typer.Option(min=0, help="storm: RSS and Redis connections this long after.")
    ] = 10.0,
    full: Annotated[
        bool, typer.Option(help="storm: full mode (bridge, API, feed over the real services).")
    ] = False,
    targets: Annotated[
        str, typer.Option(help="Comma-separated, of: " + ", ".join(TARGETS) + ".")
    ] = DEFAULT_TARGETS,
    ramp: Annotated[bool, typer.Option(help="Multiply the rate until a step fails.")] = True,
    factor: Annotated[float, typer.Option(min=1.1)] = 2.0,
    max_steps: Annotated[int, typer.Option(min=1, max=20)] = 8,
    refine: Annotated[
        int, typer.Option(min=0, max=6, help="Bisections once the ramp brackets the limit.")
    ] = 2,
    p99_limit_ms: Annotated[float, typer.Option(min=1)] = 100.0,
    min_delivered: Annotated[float, typer.Option(min=0, max=1)] = 0.9,
    warmup: Annotated[float, typer.Option(min=0)] = 1.0,
    workers: Annotated[
        int | None, typer.Option(min=1, help="Load-client processes (queries: 1).")
    ] = None,
    client: Annotated[
        str,
        typer.Option(
            help="Load client: lean | aiohttp | websockets (graphql-transport-ws) | sse "
            "(the centrifugo target always gets its own)."
        ),
    ] = "lean",
    seed: int = 7,
    baseline: Annotated[
        Path | None,
        typer.Option(
            help="A checkout to run as target trado-baseline (fanout: added to --targets; "
            "attacks, storm: run first)."
        ),
    ] = None,
    api_processes: Annotated[
        int,
        typer.Option(
            min=1,
            help="e2e: API processes on the one port (API_PROCESSES, SO_REUSEPORT); their "
            "CPU summed and each apart.",
        ),
    ] = 1,
    profile: Annotated[
        bool,
        typer.Option(
            help="py-spy the Trado server during each step (fanout, queries; e2e: the API, "
            "the bridge and the feed; stacks kept)."
        ),
    ] = False,
    with_tape: Annotated[
        bool,
        typer.Option(
            help="fanout: each step twice at --rate (no ramp), quotes alone, then with trades "
            "and books streaming beside them (bench/tape_load.py); both figures in one run."
        ),
    ] = False,
    tape_trades: Annotated[
        int, typer.Option(min=0, help="--with-tape: connections streaming trades (10 symbols).")
    ] = 100,
    tape_books: Annotated[
        int, typer.Option(min=0, help="--with-tape: connections streaming one book each.")
    ] = 20,
    with_candles: Annotated[
        int,
        typer.Option(
            min=0,
            help="fanout: as --with-tape, with this many connections streaming one symbol's "
            "candles at ONE_MINUTE beside the quotes (with --with-tape too: beside them all).",
        ),
    ] = 0,
    unshared_candles: Annotated[
        bool,
        typer.Option(
            help="--with-candles: each connection aliases the field its own way, so no two "
            "share a selection (one execution per subscriber, as a private stream has)."
        ),
    ] = False,
    pin: Annotated[
        bool,
        typer.Option(
            help="fanout, raw-ceiling, storm, slow-consumer: the server under test on core 0 "
            "(centrifugo: its binary, GOMAXPROCS=1), this harness, its load client and any "
            "publisher on core 1."
        ),
    ] = False,
    results_dir: Annotated[Path, typer.Option()] = ROOT / "bench" / "results",
) -> None:
    """Run a scenario and write its results."""
    if client not in RUNNERS:
        raise typer.BadParameter(f"client is one of {', '.join(RUNNERS)}")
    _prepare(scenario, full=full, pin=pin)
    seconds = seconds or DEFAULT_SECONDS.get(scenario, 10.0)
    rate = rate or DEFAULT_RATES.get(scenario, 100.0)
    if subscribers == DEFAULT_SUBSCRIBERS:
        subscribers = DEFAULT_COUNTS.get(scenario, DEFAULT_SUBSCRIBERS)
    counts = _numbers(subscribers)
    # SIGTERM (a CI timeout, say) unwinds like Ctrl-C, so every target and worker is stopped.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    command = _command_line(ctx)
    profile_dir = results_dir / "profiles" / _stamp() if profile else None
    one_call = _one_call(scenario, ticks=ticks, renders=renders)
    if one_call is not None:
        config_of_call, body, tables = one_call
        _tabled(command, scenario, config_of_call, results_dir, body=body, tables=tables)
        return
    if scenario in (Scenario.chaos, Scenario.faults):
        _run_faults(command, scenario, results_dir, rate, seconds, seed, chaos_faults)
        return
    if scenario is Scenario.attacks:
        plan_attacks = AttacksConfig(
            rate=rate,
            repeats=repeats,
            seed=seed,
            baseline=baseline.resolve() if baseline else None,
        )
        _tabled(
            command,
            scenario,
            dataclasses.asdict(plan_attacks),
            results_dir,
            body=lambda workdir, rows: rows.extend(attacks(plan_attacks, workdir)),
            tables=Tables(ATTACK_COLUMNS, "What each attack of issue 14 got, and how long it took"),
        )
        return
    if scenario is Scenario.queries:
        levels = QueriesConfig(
            concurrency=_numbers(concurrency),
            seconds=seconds,
            warmup=warmup,
            rate=rate,
            workers=workers or 1,
            seed=seed,
            profile_dir=profile_dir,
        )
        _tabled(
            command,
            scenario,
            dataclasses.asdict(levels),
            results_dir,
            body=lambda workdir, rows: rows.extend(queries(levels, workdir)),
            tables=Tables(
                QUERY_COLUMNS,
                "Best req/s per query (healthz: the load generator's ceiling)",
                summary_columns=QUERY_SUMMARY_COLUMNS,
                summarise=query_summary,
            ),
        )
        return
    # slow-consumer's and storm's steady subscribers
    steady = dataclasses.asdict(
        SteadyConfig(
            subscribers=counts[0],
            rate=rate,
            seconds=seconds,
            warmup=warmup,
            workers=workers,
            client=cast(ClientKind, client),
            seed=seed,
            pin=pin,
        )
    )
    if scenario is Scenario.slow_consumer:
        slow = SlowConfig(**steady, control=control)
        _run_with_series(command, scenario, slow, results_dir, partial(slow_consumer, slow))
        return
    if scenario is Scenario.storm:
        plan_storm = StormConfig(
            **steady,
            storm=storm_clients,
            storm_seconds=storm_seconds,
            after_seconds=after_seconds,
            full=full,
            baseline=baseline.resolve() if baseline else None,
        )
        _run_with_series(command, scenario, plan_storm, results_dir, partial(storm, plan_storm))
        return
    config = FanoutConfig(
        targets=_chosen_targets(scenario, targets, baseline),
        subscribers=counts,
        rate=rate,
        seconds=seconds,
        ramp=ramp and scenario is not Scenario.e2e and not (with_tape or with_candles),
        factor=factor,
        max_steps=max_steps,
        refine=refine,
        p99_limit_ms=p99_limit_ms,
        min_delivered=min_delivered,
        warmup=warmup,
        workers=workers,
        client=cast(ClientKind, client),
        seed=seed,
        profile_dir=profile_dir,
        baseline=baseline.resolve() if baseline else None,
        tape=_side_streams(with_tape, tape_trades, tape_books, with_candles, unshared_candles),
        api_processes=api_processes,
        pin=pin,
    )
    _run_stepped(command, scenario, config, results_dir)


def _one_call(
    scenario: Scenario, *, ticks: int, renders: int
) -> tuple[dict[str, object], Callable[[Path, Rows], None], Tables] | None:
    """pipeline and render, whose rows come from one call: its config, the call and tables."""
    if scenario is Scenario.pipeline:
        pipe = PipelineConfig(ticks=ticks)
        return (
            dataclasses.asdict(pipe),
            lambda workdir, rows: rows.append(pipeline(pipe, workdir)),
            Tables(PIPELINE_COLUMNS, "Ticks/s of one bridge worker"),
        )
    if scenario is Scenario.render:
        plan = RenderConfig(renders=renders)
        return (
            dataclasses.asdict(plan),
            lambda _workdir, rows: rows.extend(render(plan)),
            Tables(RENDER_COLUMNS, "µs of CPU per live message rendered, by shape"),
        )
    return None


def _run_faults(  # noqa: PLR0917 (the options of `run` it takes)
    command: str,
    scenario: Scenario,
    results_dir: Path,
    rate: float,
    seconds: float,
    seed: int,
    given: str | None,
) -> None:
    """chaos (the single-node services, stopped and started) or faults (the replicated
    topology, nodes killed for good): one row per fault."""
    config: ChaosConfig | FaultsConfig
    if scenario is Scenario.chaos:
        config = ChaosConfig(
            rate=rate, faults=_faults(given, CHAOS_FAULTS), settle_seconds=seconds, seed=seed
        )
        body: Callable[[Path, Rows], None] = partial(_chaos_rows, config)
        tables = Tables(CHAOS_COLUMNS, "What each fault cost the live stream")
    else:
        _require_services(read_replicated)
        config = FaultsConfig(
            rate=rate,
            faults=_faults(given, REPLICATED_FAULTS),
            phase_seconds=seconds,
            seed=seed,
            logs_dir=results_dir / f"{_stamp()}-faults-logs",
        )
        body = partial(_fault_rows, config)
        tables = Tables(FAULT_COLUMNS, "What each node killed for good cost (replicated)")
    _tabled(command, scenario, dataclasses.asdict(config), results_dir, body=body, tables=tables)


def _chaos_rows(config: ChaosConfig, workdir: Path, rows: Rows) -> None:
    chaos(config, workdir, rows.append)


def _fault_rows(config: FaultsConfig, workdir: Path, rows: Rows) -> None:
    faults(config, workdir, rows.append)


def _side_streams(
    with_tape: bool, trades: int, books: int, candles: int, unshared: bool
) -> TapeLoad | None:
    """What streams beside the quotes (--with-tape, --with-candles), if anything."""
    if not with_tape and not candles:
        return None
    return TapeLoad(trades if with_tape else 0, books if with_tape else 0, candles, unshared)


def _prepare(scenario: Scenario, *, full: bool, pin: bool) -> None:
    """Before anything starts: with --pin, the cores; the services full mode needs."""
    if pin:
        _pin(scenario, full)
    if scenario in FULL_MODE or (scenario is Scenario.storm and full):
        _require_services()


def _pin(scenario: Scenario, full: bool) -> None:
    """This process (and so its load client) onto the client core, once it is known the
    scenario's server can go on the other."""
    if scenario not in PINNABLE or full:
        raise typer.BadParameter(
            "--pin places one server under test on core 0: for "
            + ", ".join(s.value for s in PINNABLE)
            + " (not --full: full mode's processes and services need more than one core)"
        )
    try:
        check_pinning()
    except PinningUnavailable as error:
        raise typer.BadParameter(str(error)) from None
    pin_this_process()


def _require_services(read: Callable[[], object] = read_services) -> None:
    try:
        read()
    except ServicesMissing as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None


def _faults(given: str | None, known: tuple[str, ...]) -> tuple[str, ...]:
    """--faults (default: every fault `known`, in order), each one of them."""
    chosen = tuple(f.strip() for f in (given or ",".join(known)).split(",") if f.strip())
    if not chosen or set(chosen) - set(known):
        raise typer.BadParameter(f"--faults are among {', '.join(known)}")
    return chosen


def _chosen_targets(scenario: Scenario, targets: str, baseline: Path | None) -> tuple[str, ...]:
    """fanout's --targets (plus the baseline); raw-ceiling and e2e have their own one (the
    --targets given are still checked)."""
    chosen = _names(targets)
    if scenario is Scenario.raw_ceiling:
        return ("raw-ws",)
    if scenario is not Scenario.fanout:
        return (E2E_TARGET,)
    if baseline is not None and "trado-baseline" not in chosen:
        chosen = ("trado-baseline", *chosen)
    return chosen


def _run_with_series(
    command: str,
    scenario: Scenario,
    config: SteadyConfig,
    results_dir: Path,
    run: Callable[[Path, Callable[[dict[str, object]], None]], Rows],
) -> None:
    """A scenario whose rows come with a per-second series: `run(workdir, on_row)` returns
    it; it is printed after the table and kept in the results' config."""
    columns, title, series_columns = SERIES_TABLES[scenario]
    series: Rows = []

    def body(workdir: Path, rows: Rows) -> None:
        series.extend(run(workdir, rows.append))

    _tabled(
        command,
        scenario,
        {**dataclasses.asdict(config), "cores": cores(config.pin)},
        results_dir,
        body=body,
        tables=Tables(
            columns,
            title,
            notes=lambda: ["## Per second", "", table(series, series_columns), ""],
            more=lambda: {"series": series},
        ),
    )


def _run_stepped(command: str, scenario: Scenario, config: FanoutConfig, results_dir: Path) -> None:
    """fanout, raw-ceiling and e2e: steps printed as they finish, then the sustained maximum."""
    if set(config.targets) & set(NODE_SCRIPTS):
        ensure_node_modules()  # before the table, and before machine_facts reads versions
    if "centrifugo" in config.targets:
        ensure_centrifugo()
    facts = machine_facts()
    typer.echo(f"{scenario.value}: {config}")
    columns = STEP_COLUMNS + (E2E_PROCESS_COLUMNS if scenario is Scenario.e2e else ())
    if "centrifugo" in config.targets:
        columns += PUBLISHER_COLUMNS
    typer.echo(table([], columns, PROGRESS_WIDTHS).splitlines()[0])

    steps: list[Step] = []

    def progress(step: Step) -> None:
        steps.append(step)
        typer.echo(table([step.to_json()], columns, PROGRESS_WIDTHS).splitlines()[-1])
        if step.load.first_error:
            typer.echo(f"  first error: {step.load.first_error}")
        if "tape" in step.extra:
            ratio = step.extra.get("quotes_vs_alone")
            cost = step.extra.get("side_cpu_us_per_delivery")
            typer.echo(f"  beside it: {step.extra['tape']}; quotes delivered vs alone: {ratio}")
            typer.echo(f"  server CPU the side streams added: {cost} µs per message they got")

    failure: BaseException | None = None
    try:
        with tempfile.TemporaryDirectory(prefix="trado-bench-") as workdir:
            if scenario is Scenario.e2e:
                e2e(config, Path(workdir), progress)
            else:
                fanout(config, Path(workdir), progress)
    except (Exception, KeyboardInterrupt, SystemExit) as error:
        # A long run that breaks late still keeps the steps it finished.
        failure = error
        typer.echo(f"\nstopped early: {error!r}", err=True)
    summary = sustained(steps, config)
    typer.echo("\n" + table(summary, SUMMARY_COLUMNS))
    paths = write_results(
        results_dir,
        scenario.value,
        command=command,
        facts=facts,
        config={**dataclasses.asdict(config), "cores": cores(config.pin)},
        steps=[s.to_json() for s in steps],
        summary=summary,
        stopped_early=repr(failure) if failure else None,
        step_columns=columns,
    )
    _finish(paths, failure)


Columns = tuple[tuple[str, str], ...]
Rows = list[dict[str, object]]


@dataclass(frozen=True, slots=True)
class Tables:
    """How a scenario's rows are printed and written: its columns, its summary (by default
    the rows themselves), extra notes and extra config to record."""

    columns: Columns
    summary_title: str
    summary_columns: Columns | None = None  # None: `columns`
    summarise: Callable[[Rows], Rows] | None = None  # None: the rows as they are
    notes: Callable[[], list[str]] | None = None
    more: Callable[[], dict[str, object]] | None = None


def _tabled(
    command: str,
    scenario: Scenario,
    config: dict[str, object],
    results_dir: Path,
    *,
    body: Callable[[Path, Rows], None],
    tables: Tables,
) -> None:
    """Run `body` (it appends result rows), print them, write the results files; rows
    finished before a failure are still written."""
    facts = machine_facts()
    typer.echo(f"{scenario.value}: {config}")
    rows: Rows = []
    failure: BaseException | None = None
    try:
        with tempfile.TemporaryDirectory(prefix="trado-bench-") as workdir:
            body(Path(workdir), rows)
    except (Exception, KeyboardInterrupt, SystemExit) as error:
        failure = error
        typer.echo(f"\nstopped early: {error!r}", err=True)
    summary = tables.summarise(rows) if tables.summarise else rows
    typer.echo(table(rows, tables.columns))
    extra_notes = tables.notes() if tables.notes else []
    for line in extra_notes:
        typer.echo(line)
    paths = write_results(
        results_dir,
        scenario.value,
        command=command,
        facts=facts,
        config={**config, **(tables.more() if tables.more else {})},
        steps=rows,
        summary=summary,
        stopped_early=repr(failure) if failure else None,
        step_columns=tables.columns,
        summary_columns=tables.summary_columns or tables.columns,
        summary_title=tables.summary_title,
        notes=extra_notes,
    )
    _finish(paths, failure)


def _finish(paths: tuple[Path, Path], failure: BaseException | None) -> None:
    for path in paths:
        typer.echo(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    if failure is not None:
        raise typer.Exit(1)


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def _command_line(ctx: typer.Context) -> str:
    """The command that reproduces this run: the scenario and every option not left at its
    default (rebuilt from the parsed values, so it is right however the run was invoked)."""
    words = ["python", "-m", "bench", "run", str(ctx.params["scenario"])]
    for param in ctx.command.params:
        name, value = param.name, ctx.params.get(param.name or "")
        if name == "scenario" or value == param.default or value is None:
            continue
        option = "--" + (name or "").replace("_", "-")
        if isinstance(value, bool):
            words.append(option if value else "--no-" + option[2:])
        else:
            words += [option, str(value)]
    return shlex.join(words)


@app.command()
def peers() -> None:
    """Install the Node peers' modules and build Centrifugo, once per machine, so that no
    benchmark run (nor the suite's smoke test of it) spends minutes building them."""
    ensure_node_modules()
    typer.echo(f"centrifugo: {ensure_centrifugo()}")


@app.command()
def sizing(
    results: Annotated[Path, typer.Argument(help="An e2e run's JSON: --subscribers 10,1000")],
    two_api: Annotated[
        Path | None, typer.Argument(help="The same run with --api-processes 2 (Redis fan-out)")
    ] = None,
    kb_per_connection: Annotated[
        float | None, typer.Option(help="RSS per connection (a fanout run's KB/conn)")
    ] = None,
) -> None:
    """The sizing table (issue 25) from the per-process costs an e2e run measured."""
    typer.echo(sizing_table(results, two_api, kb_per_connection))


@app.command()
def targets_list() -> None:
    """List the targets a scenario can run against."""
    for name in TARGETS:
        typer.echo(name)
