"""`python -m bench run SCENARIO ...`: start what the scenario needs, run it, stop everything
it started, print the table and write `bench/results/<timestamp>-<scenario>.json` and `.md`."""

from __future__ import annotations

import dataclasses
import shlex
import signal
import tempfile
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, cast

import typer

from bench.loadclient import RUNNERS, ClientKind
from bench.report import STEP_COLUMNS, SUMMARY_COLUMNS, machine_facts, table, write_results
from bench.scenarios import FanoutConfig, Step, fanout, sustained
from bench.targets import NODE_SCRIPTS, ROOT, TARGETS, ensure_node_modules

DEFAULT_SUBSCRIBERS = "1,100,1000,5000"
DEFAULT_TARGETS = "trado,node-graphql,raw-ws"
# Steps print as they finish, so the columns get fixed minimum widths.
PROGRESS_WIDTHS = {key: 8 for key, _ in STEP_COLUMNS} | {"target": max(map(len, TARGETS))}
app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)


class Scenario(StrEnum):
    fanout = "fanout"
    raw_ceiling = "raw-ceiling"


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
def run(
    ctx: typer.Context,
    scenario: Annotated[Scenario, typer.Argument(help="fanout | raw-ceiling")],
    seconds: Annotated[float, typer.Option(min=1, help="Measured seconds per step.")] = 10,
    subscribers: Annotated[
        str, typer.Option(help="Comma-separated subscriber counts (raw-ceiling: 1000).")
    ] = DEFAULT_SUBSCRIBERS,
    rate: Annotated[float, typer.Option(min=1, help="Ticks/s of the first step.")] = 100,
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
    workers: Annotated[int | None, typer.Option(min=1, help="Load-client processes.")] = None,
    client: Annotated[str, typer.Option(help="Load client: lean | aiohttp | websockets.")] = "lean",
    seed: int = 7,
    baseline: Annotated[
        Path | None,
        typer.Option(help="A checkout to run as target trado-baseline (added to --targets)."),
    ] = None,
    profile: Annotated[
        bool, typer.Option(help="py-spy the Trado server during each step (folded stacks kept).")
    ] = False,
    results_dir: Annotated[Path, typer.Option()] = ROOT / "bench" / "results",
) -> None:
    """Run a scenario and write its results."""
    if client not in RUNNERS:
        raise typer.BadParameter(f"client is one of {', '.join(RUNNERS)}")
    is_ceiling = scenario is Scenario.raw_ceiling
    chosen = _names(targets)
    if baseline is not None and "trado-baseline" not in chosen:
        chosen = ("trado-baseline", *chosen)
    counts = "1000" if is_ceiling and subscribers == DEFAULT_SUBSCRIBERS else subscribers
    config = FanoutConfig(
        targets=("raw-ws",) if is_ceiling else chosen,
        subscribers=_numbers(counts),
        rate=rate, seconds=seconds, ramp=ramp, factor=factor, max_steps=max_steps, refine=refine,
        p99_limit_ms=p99_limit_ms, min_delivered=min_delivered, warmup=warmup,
        workers=workers, client=cast(ClientKind, client), seed=seed,
        profile_dir=results_dir / "profiles" / _stamp() if profile else None,
        baseline=baseline.resolve() if baseline else None,
    )  # fmt: skip
    # SIGTERM (a CI timeout, say) unwinds like Ctrl-C, so every target and worker is stopped.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    if set(config.targets) & set(NODE_SCRIPTS):
        ensure_node_modules()  # before the table, and before machine_facts reads versions
    facts = machine_facts()
    typer.echo(f"{scenario.value}: {config}")
    typer.echo(table([], STEP_COLUMNS, PROGRESS_WIDTHS).splitlines()[0])

    steps: list[Step] = []

    def progress(step: Step) -> None:
        steps.append(step)
        typer.echo(table([step.to_json()], STEP_COLUMNS, PROGRESS_WIDTHS).splitlines()[-1])
        if step.load.first_error:
            typer.echo(f"  first error: {step.load.first_error}")

    failure: BaseException | None = None
    try:
        with tempfile.TemporaryDirectory(prefix="trado-bench-") as workdir:
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
        command=_command_line(ctx),
        facts=facts,
        config=dataclasses.asdict(config),
        steps=[s.to_json() for s in steps],
        summary=summary,
        stopped_early=repr(failure) if failure else None,
    )
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
def targets_list() -> None:
    """List the targets a scenario can run against."""
    for name in TARGETS:
        typer.echo(name)
