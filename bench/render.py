"""Scenario `render` (issue 26, item 3): µs of CPU to render one live message for a shared
selection, compiled (`delivery/compiled_selection.py`) and through graphql-core's execution,
in one run, in this process (no server, no sockets).

The shapes are the ones the live path carries most: the board's `quotes`, `trades` and
`book` (depth 10) subscriptions (`web/queries.js`) and the benchmark's `candles` one
(`bench/tape_load.py`: the board's own names the interval in a variable, which the shared
fan-out leaves to the per-subscriber path). Each is built as the fan-out builds it
(`shared_selection`) over a root value made as the live path makes it (`Quote.from_tick` and
the others, whose cost is shown apart: it is paid once per message and view, not per
selection). Both ways must write the same bytes before they are timed. A figure is the best of
`REPEATS` rounds of `--renders` renders (CPU time of this process), so another process
taking the core mostly costs rounds, not the figure; still, run it on a quiet machine.

Building a shared selection (its executor and compiled encoder) is paid once per distinct
selection and process: `new selection µs` is one this process has not seen (the root field
under a new alias each time, as a client's own alias would be), `again µs` the same document
built again (the encoder's source compiled already: a selection built anew after its last
subscriber left, or for another view).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from graphql import GraphQLSchema, parse

from delivery.shared_selection import SharedSelection, shared_selection
from delivery.strawberry_internals import core_schema
from graph.schema import make_schema
from graph.types.candle import Candle
from graph.types.quote import Quote
from graph.types.tape import OrderBook, Trade
from settings import Settings
from streaming.book import book_of
from streaming.candles import Bar, Interval
from streaming.tick import Tick
from trading.day_stats import DayStats

REPEATS = 5
COLUMNS = (
    ("shape", "shape"),
    ("compiled_us", "compiled µs"),
    ("graphql_core_us", "graphql-core µs"),
    ("speedup", "×"),
    ("root_us", "root value µs"),
    ("bytes", "bytes"),
    ("compiled", "compiled?"),
    ("new_selection_us", "new selection µs"),
    ("again_us", "again µs"),
)
BUILDS = 100  # selections built per round and shape
QUOTE_FIELDS = (
    "symbol price bid ask volume timestamp sequence halted "
    "day { previousClose change changePercent }"
)
SHAPES: dict[str, tuple[str, dict[str, object]]] = {
    "board quotes": (
        "subscription Quotes($symbols: [String!]!, $since: [SymbolSequence!]) "
        f"{{ quotes(symbols: $symbols, since: $since) {{ {QUOTE_FIELDS} }} }}",
        {"symbols": ["AAPL"]},
    ),
    "board trades": (
        "subscription Trades($symbols: [String!]!, $since: [SymbolSequence!]) "
        "{ trades(symbols: $symbols, since: $since) "
        "{ price size aggressor timestamp sequence } }",
        {"symbols": ["AAPL"]},
    ),
    "board book, depth 10": (
        "subscription Book($symbol: String!, $depth: Int!) "
        "{ book(symbol: $symbol, depth: $depth) { snapshot simulated sequence previousSequence "
        "bids { price size } asks { price size } } }",
        {"symbol": "AAPL", "depth": 10},
    ),
    "bench candles": (
        "subscription Candles($symbol: String!) "
        "{ candles(symbol: $symbol, interval: ONE_MINUTE) "
        "{ symbol interval start open high low close volume lastSequence } }",
        {"symbol": "AAPL"},
    ),
}


@dataclass(frozen=True)
class RenderConfig:
    renders: int = 20_000  # per round, shape and way (graphql-core's: a tenth of it)


def live_tick() -> Tick:
    """A trade as the bridge publishes it: the touch, the day's figures, halted false."""
    at = datetime(2026, 3, 2, 14, 30, 5, 123456, tzinfo=UTC)
    day = DayStats(
        date(2026, 3, 2),
        Decimal("180.10"),
        Decimal("180.50"),
        Decimal("182.00"),
        Decimal("179.80"),
        Decimal("181.25"),
        Decimal("120300"),
        Decimal("21803412.50"),
    )
    return Tick(
        symbol="AAPL",
        price=Decimal("181.25"),
        bid=Decimal("181.24"),
        ask=Decimal("181.26"),
        volume=Decimal("100"),
        sequence=1_234_567,
        exchange_ts=at,
        received_ts=at,
        halted=False,
        day=day,
    )


def root_values(tick: Tick) -> dict[str, Callable[[], object]]:
    """Each shape's root value, made as its view makes it."""
    bar = Bar(
        "AAPL",
        Interval.M1,
        tick.exchange_ts.replace(second=0, microsecond=0),
        Decimal("181.00"),
        Decimal("181.30"),
        Decimal("180.95"),
        tick.price,
        Decimal("2400"),
        tick.sequence,
    )
    return {
        "board quotes": lambda: Quote.from_tick(tick),
        "board trades": lambda: Trade.from_tick(tick),
        "board book, depth 10": lambda: OrderBook.of(
            book_of(tick, Decimal("0.01"), Decimal("1"), 10), tick, snapshot=False
        ),
        "bench candles": lambda: Candle.from_bar(bar),
    }


def cpu_us(call: Callable[[], object], count: int) -> float:
    """µs of CPU per call: the best of `REPEATS` rounds of `count` calls."""
    best = float("inf")
    for _ in range(REPEATS):
        started = time.process_time()
        for _ in range(count):
            call()
        best = min(best, time.process_time() - started)
    return best / count * 1e6


def build_us(
    schema: GraphQLSchema, document: str, variables: dict[str, object]
) -> dict[str, float]:
    """µs of CPU to build a shared selection: a new one (under a new alias each time) and the
    same one again, best of `REPEATS` rounds of `BUILDS` each."""
    root = parse(document).definitions[0].selection_set.selections[0].name.value  # type: ignore[attr-defined]
    aliased = iter(
        parse(document.replace(f"{{ {root}(", f"{{ a{number}: {root}(", 1))
        for number in range(REPEATS * BUILDS)
    )
    same = parse(document)
    return {
        "new_selection_us": cpu_us(
            lambda: shared_selection(schema, next(aliased), variables), BUILDS
        ),
        "again_us": cpu_us(lambda: shared_selection(schema, same, variables), BUILDS),
    }


def measure(
    name: str, selection: SharedSelection, make_root: Callable[[], object], count: int
) -> dict[str, object]:
    root = make_root()
    written = selection.render(root)
    if written != selection.execute(root):
        raise AssertionError(f"{name}: the compiled bytes differ from graphql-core's")
    compiled = cpu_us(lambda: selection.render(root), count)
    executed = cpu_us(lambda: selection.execute(root), max(1, count // 10))
    return {
        "shape": name,
        "compiled_us": round(compiled, 2),
        "graphql_core_us": round(executed, 1),
        "speedup": round(executed / compiled, 1),
        "root_us": round(cpu_us(make_root, count), 2),
        "bytes": len(written),
        "compiled": selection.compiled,
    }


def render(config: RenderConfig) -> list[dict[str, object]]:
    schema = core_schema(make_schema(Settings(_env_file=None, environment="test")))
    roots = root_values(live_tick())
    rows = []
    for name, (document, variables) in SHAPES.items():
        selection = shared_selection(schema, parse(document), variables)
        if selection is None:
            raise AssertionError(f"{name}: no shared selection could be built")
        row = measure(name, selection, roots[name], config.renders)
        built = build_us(schema, document, variables)  # after: its garbage is not the renders'
        rows.append({**row, **{key: round(us) for key, us in built.items()}})
    return rows
