"""A compiled shared selection (an encoder written as Python source per selection) writes
exactly the bytes graphql-core's execution writes.

Every subscription document the board (`web/`), the benchmarks (`bench/`) and the tests send
on a shared channel (`quotes`, `trades`, `book`, `candles`) is collected from their sources,
built as the shared fan-out builds it, and rendered both ways over root values that cover
what a tick can carry: trades, quotes with sizes, book and status ticks, with and without the
day's figures, a negative zero, prices at several precisions, empty books and nulls. A
property run (`-m fuzz`) adds generated selections: aliases, `__typename`, inline and named
fragments with type conditions, `@include`/`@skip` with variables and literals, merged fields.
What cannot be compiled (a resolver that takes `info` or arguments, a permission, an async
resolver, a union) is shown to stay on graphql-core, and a message graphql-core reports
errors for comes out as graphql-core writes it. Shapes the live types do not have are
compared on a schema of their own: nullable objects and lists, null items, lists of lists,
enums, tuples, Decimals of every form, a method's value, aliases and `__typename` at every
level; keys, attribute and type names are shown never to become source, and a serializer's
`text_first` declaration to be used.
"""

from __future__ import annotations

import ast
import itertools
import re
from collections import deque
from collections.abc import AsyncGenerator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any, NewType

import orjson
import pytest
import strawberry
from graphql import (
    DirectiveLocation,
    GraphQLError,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    OperationDefinitionNode,
    OperationType,
    get_named_type,
    parse,
    print_ast,
    validate,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strawberry.directive import DirectiveValue
from strawberry.schema.config import StrawberryConfig

from delivery.compiled_selection import Leaf, Object, Selected, encoder, text_first
from delivery.shared_selection import SharedSelection, shared_selection
from delivery.strawberry_internals import core_schema
from graph.scalars import SCALARS, Written, serialize_decimal
from graph.schema import make_schema
from graph.types.candle import Candle
from graph.types.quote import Quote
from graph.types.tape import OrderBook, Trade
from streaming.book import book_of, exchange_book
from streaming.candles import Bar, Interval
from streaming.tick import Depth, Tick
from tests.conftest import make_settings
from trading.day_stats import DayStats

ROOT = Path(__file__).parents[1]
SCHEMA = core_schema(make_schema(make_settings()))
SHARED_FIELDS = ("quotes", "trades", "book", "candles")  # what the shared fan-out serves
AT = datetime(2026, 3, 2, 14, 30, 5, 120000, tzinfo=UTC)


def tick(**values: Any) -> Tick:
    fields: dict[str, Any] = {
        "symbol": "AAPL",
        "price": Decimal("181.25"),
        "bid": Decimal("181.24"),
        "ask": Decimal("181.26"),
        "volume": Decimal("100"),
        "sequence": 41,
        "exchange_ts": AT,
        "received_ts": AT,
    }
    return Tick(**{**fields, **values})


def day(previous: str | None, last: str, volume: str = "300") -> DayStats:
    first = DayStats.first(AT.date(), Decimal("180.00"), Decimal("0"), None)
    stats = first.fold(AT.date(), Decimal(last), Decimal(volume))
    return DayStats(
        stats.session,
        None if previous is None else Decimal(previous),
        stats.open,
        stats.high,
        stats.low,
        stats.last,
        stats.volume,
        stats.turnover,
    )


TICKS = [
    tick(),  # a trade before the bridge kept day figures: `day` from the tick alone
    tick(halted=False, day=day("180.10", "181.25")),
    tick(kind="quote", volume=Decimal("0"), bid_size=Decimal("300"), ask_size=Decimal("0.5")),
    tick(kind="status", halted=True, day=day(None, "181.25", volume="0")),  # null figures
    tick(day=day("1000.00", "999.99")),  # changePercent -0.001 rounds to a negative zero
    tick(volume=Decimal("-0"), day=day("181.25", "181.25")),  # -0 size, no change
    tick(price=Decimal("0.00012345"), bid=Decimal("0.0001"), ask=Decimal("0.0002")),
    tick(price=Decimal("1E+2"), bid=Decimal("99.5"), ask=Decimal("100.50"), sequence=2**53 - 1),
    tick(price=Decimal("12345"), bid=Decimal("12345"), ask=Decimal("12345")),  # no aggressor
    tick(price=Decimal("181.20"), bid=Decimal("181.20"), ask=Decimal("181.30")),  # a SELL
    tick(
        kind="book",
        volume=Decimal("0"),
        book=Depth(
            update=900,
            bids=((Decimal("181.24"), Decimal("2")), (Decimal("181.2"), Decimal("0.001"))),
            asks=((Decimal("181.26"), Decimal("1.50")),),
            previous=899,
        ),
    ),
    tick(kind="book", volume=Decimal("0"), book=Depth(update=7, bids=(), asks=())),  # empty
]


def book_roots() -> Iterator[OrderBook]:
    for each in TICKS:
        exchange = exchange_book(each, 10)
        if exchange is not None:
            yield OrderBook.of(exchange, each, snapshot=False)
        else:
            simulated = book_of(each, Decimal("0.01"), Decimal("1"), depth=10)
            yield OrderBook.of(simulated, each, snapshot=each.sequence == 41)


def bar(**values: Any) -> Bar:
    fields: dict[str, Any] = {
        "symbol": "MSFT",
        "interval": Interval.M1,
        "start": AT.replace(second=0, microsecond=0),
        "open": Decimal("410.00"),
        "high": Decimal("411.5"),
        "low": Decimal("409.99"),
        "close": Decimal("411.00"),
        "volume": Decimal("1200"),
        "last_sequence": 77,
    }
    return Bar(**{**fields, **values})


ROOTS: dict[str, list[object]] = {
    "quotes": [Quote.from_tick(each) for each in TICKS],
    "trades": [Trade.from_tick(each) for each in TICKS],
    "book": list(book_roots()),
    "candles": [
        Candle.from_bar(bar()),
        Candle.from_bar(bar(open=Decimal("410"), volume=Decimal("-0")), Decimal("0.01")),
        Candle.from_bar(bar(interval=Interval.D1, close=Decimal("4.1E+2"))),
    ],
}


# ------------------------------------------------------------ the documents the project sends


def python_strings(path: Path) -> Iterator[str]:
    """Each string literal of a Python file (f-strings with their holes written as AAPL,
    %-templates with theirs left empty)."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.value.replace("%s", "")
        elif isinstance(node, ast.JoinedStr):
            yield "".join(
                str(part.value) if isinstance(part, ast.Constant) else "AAPL"
                for part in node.values
            )


def javascript_strings(path: Path) -> Iterator[str]:
    """Each template literal of an ES module, `${NAME}` replaced by the module's string
    constant of that name."""
    text = path.read_text()
    constants = dict(re.findall(r'const (\w+) =\s*"([^"]*)"', text))
    for template in re.findall(r"`([^`]*)`", text):
        yield re.sub(r"\$\{(\w+)\}", lambda m: constants.get(m.group(1), m.group(0)), template)


@dataclass(frozen=True)
class Shape:
    field: str  # the shared root field it selects on
    document: str
    variables: tuple[tuple[str, object], ...]
    source: str

    @property
    def label(self) -> str:
        return f"{self.source}: {self.document} {dict(self.variables)}"


SAMPLE_VALUES: dict[str, object] = {
    "String": "AAPL",
    "Int": 10,
    "CandleInterval": "ONE_MINUTE",
    "BigInt": 1,
}


def variable_choices(operation: OperationDefinitionNode) -> Iterator[dict[str, object]]:
    """Values for the operation's variables: each Boolean both ways, the rest one sample."""
    names, choices = [], []
    for definition in operation.variable_definitions or ():
        written = print_ast(definition.type)  # "[String!]!"
        type_name, is_list = written.strip("[]!"), written.startswith("[")
        if type_name == "Boolean":
            options: list[object] = [True, False]
        elif type_name in SAMPLE_VALUES:
            sample = SAMPLE_VALUES[type_name]
            options = [(sample,) if is_list else sample]
        else:
            options = [None]  # an input object, such as `since`: optional wherever used
        names.append(definition.variable.name.value)
        choices.append(options)
    for combination in itertools.product(*choices):
        yield dict(zip(names, combination, strict=True))


def shapes_in(text: str, source: str) -> Iterator[Shape]:
    if "subscription" not in text:
        return
    try:
        document = parse(text)
    except GraphQLError:
        return
    if validate(SCHEMA, document):
        return
    for operation in document.definitions:
        if not isinstance(operation, OperationDefinitionNode):
            continue
        if operation.operation != OperationType.SUBSCRIPTION:
            continue
        field = operation.selection_set.selections[0].name.value  # type: ignore[attr-defined]
        if field not in SHARED_FIELDS:
            continue
        for values in variable_choices(operation):
            yield Shape(field, print_ast(document), tuple(sorted(values.items())), source)


def collected_shapes() -> list[Shape]:
    found: dict[tuple[str, tuple[tuple[str, object], ...]], Shape] = {}
    sources = [
        *((path, javascript_strings) for path in sorted((ROOT / "web").rglob("*.js"))),
        *((path, python_strings) for path in sorted((ROOT / "bench").rglob("*.py"))),
        *((path, python_strings) for path in sorted((ROOT / "tests").rglob("*.py"))),
    ]
    for path, strings in sources:
        if "graphiql" in path.parts or path == Path(__file__):
            continue
        for text in strings(path):
            for shape in shapes_in(text, str(path.relative_to(ROOT))):
                found.setdefault((shape.document, shape.variables), shape)
    return list(found.values())


SHAPES = collected_shapes()


def built(shape: Shape) -> SharedSelection | None:
    variables = {k: list(v) if isinstance(v, tuple) else v for k, v in shape.variables}
    return shared_selection(SCHEMA, parse(shape.document), variables)


def test_the_shapes_the_project_sends_are_all_collected() -> None:
    """The collection finds what it must (else the comparison below would prove little)."""
    sources = {shape.source for shape in SHAPES}
    assert {
        "web/queries.js",
        "bench/loadclient.py",
        "bench/tape_load.py",
        "bench/attacks.py",
        "bench/first_price.py",
    } <= sources
    assert {shape.field for shape in SHAPES} == set(SHARED_FIELDS)
    board = [shape for shape in SHAPES if shape.source == "web/queries.js"]
    assert {shape.field for shape in board} == set(SHARED_FIELDS)
    assert any("changePercent" in shape.document for shape in board)
    assert len(SHAPES) >= 40, len(SHAPES)


@pytest.mark.parametrize("shape", SHAPES, ids=[s.label[:90] for s in SHAPES])
def test_each_shape_compiles_and_writes_graphql_cores_bytes(shape: Shape) -> None:
    selection = built(shape)
    assert selection is not None, shape.label
    assert selection.compiled, f"fell back: {shape.label}"
    for root in ROOTS[shape.field]:
        assert selection.render(root) == selection.execute(root), (shape.label, root)


def test_a_message_graphql_core_reports_errors_for_is_its_to_write() -> None:
    selection = shared_selection(
        SCHEMA, parse("subscription { quotes(symbols: []) { symbol price day { open } } }")
    )
    assert selection is not None
    assert selection.compiled
    no_price = Quote.from_tick(TICKS[1])
    no_price.price = None  # type: ignore[assignment]  # non-null: the whole quote is null
    no_tick = Quote.from_tick(TICKS[1])
    no_tick.tick = None  # type: ignore[assignment]  # `day` raises
    for root in (no_price, no_tick):
        written = selection.render(root)
        assert written == selection.execute(root)
        assert orjson.loads(written)["errors"][0]["message"] == "Unexpected error."


# ------------------------------------------------------------ what stays on graphql-core


class Member(strawberry.BasePermission):
    message = "members only"

    def has_permission(self, source: Any, info: strawberry.Info, **kwargs: Any) -> bool:  # noqa: ARG002
        return True


@strawberry.type
class Other:
    name: str


@strawberry.type
class Thing:
    plain: str
    size: Decimal

    @strawberry.field
    def doubled(self) -> Decimal:
        return self.size * 2

    @strawberry.field
    def asked(self, info: strawberry.Info) -> str:
        return info.field_name

    @strawberry.field
    def times(self, n: int = 2) -> str:
        return self.plain * n

    guarded: str = strawberry.field(permission_classes=[Member], default="secret")

    @strawberry.field
    def either(self) -> Thing | Other:
        return Other(name=self.plain)


@strawberry.directive(locations=[DirectiveLocation.FIELD, DirectiveLocation.INLINE_FRAGMENT])
def shout(value: DirectiveValue[str]) -> str:
    return value.upper()


@strawberry.type
class ThingQuery:
    nothing: str = ""


@strawberry.type
class ThingSubscription:
    @strawberry.subscription
    async def things(self) -> AsyncGenerator[Thing, None]:
        yield Thing(plain="a", size=Decimal("1.50"))


THINGS = core_schema(
    strawberry.Schema(query=ThingQuery, subscription=ThingSubscription, directives=[shout])
)
THING = Thing(plain="ab", size=Decimal("1.50"))


@pytest.mark.parametrize(
    ("selection", "compiles"),
    [
        ("plain size doubled __typename", True),  # attributes and a method of the object
        ("plain asked", False),  # a resolver that takes `info`
        ("times", False),  # arguments
        ("times(n: 3)", False),
        ("guarded", False),  # a permission (a field extension)
        ("either { ... on Other { name } }", False),  # a union
        ("size plain @shout", False),  # a directive of the schema's own
        ("... on Thing @shout { plain }", False),
    ],
)
def test_what_cannot_be_compiled_stays_on_graphql_core(selection: str, compiles: bool) -> None:
    document = parse(f"subscription {{ things {{ {selection} }} }}")
    assert not validate(THINGS, document)
    built_selection = shared_selection(THINGS, document)
    assert built_selection is not None
    assert built_selection.compiled is compiles
    assert built_selection.render(THING) == built_selection.execute(THING)
    assert b'"errors"' not in built_selection.render(THING)


# ------------------------------------------------------------ shapes the live types do not have


@strawberry.enum
class Colour(Enum):
    RED = "red"
    BLUE = "blue"


@strawberry.type
class Part:
    name: str
    amount: Decimal
    colour: Colour | None = None


@strawberry.type
class Holder:
    label: str | None
    part: Part | None
    parts: list[Part]
    maybe_parts: list[Part | None] | None
    tags: list[str | None]
    grid: list[list[int]]
    colour: Colour
    amounts: list[Decimal]
    flag: bool | None = None

    @strawberry.field
    def first(self) -> Part | None:
        return self.parts[0] if self.parts else None


@strawberry.type
class HolderSubscription:
    @strawberry.subscription
    async def holders(self) -> AsyncGenerator[Holder, None]:
        yield HOLDERS[0]


PART = Part(name="a", amount=Written("1.50"), colour=Colour.RED)
HOLDERS = [
    Holder(
        label="x",
        part=PART,
        parts=[PART, Part(name='"quoted" \\ \n', amount=Decimal("-0.00"))],
        maybe_parts=[PART, None],
        tags=["a", None, "é"],
        grid=[[1, 2], [], [3]],
        colour=Colour.BLUE,
        amounts=[
            Decimal("1.50"),
            Written("-0.00"),
            Decimal("1E+2"),
            Written("4.002E+2"),
            Decimal("0.5"),
            Written("-0.50"),
            Decimal("150"),
            Written("1.20E-8"),
        ],
    ),
    Holder(  # nulls and empties
        label=None,
        part=None,
        parts=[],
        maybe_parts=None,
        tags=[],
        grid=[],
        colour=Colour.RED,
        amounts=[],
        flag=True,
    ),
    Holder(  # a tuple is a list too
        label="t",
        part=None,
        parts=(PART,),  # type: ignore[arg-type]
        maybe_parts=(None,),  # type: ignore[arg-type]
        tags=("b",),  # type: ignore[arg-type]
        grid=((4,),),  # type: ignore[arg-type]
        colour=Colour.RED,
        amounts=(),  # type: ignore[arg-type]
        flag=False,
    ),
]
# graphql-core reports errors for these (a null in a non-null list, a null where a value is
# promised, a value the enum does not have) or takes what the encoder does not (an iterable
# not a list or tuple)
BROKEN = [
    Holder(**{**vars(HOLDERS[0]), "parts": [PART, None]}),
    Holder(**{**vars(HOLDERS[0]), "colour": None}),
    Holder(**{**vars(HOLDERS[0]), "colour": "GREEN"}),
    Holder(**{**vars(HOLDERS[0]), "part": Part(name="b", amount=None)}),  # type: ignore[arg-type]
    Holder(**{**vars(HOLDERS[0]), "tags": deque(["a", None])}),
    Holder(**{**vars(HOLDERS[0]), "grid": [[1], None]}),
]
HOLDER_SCHEMA = core_schema(
    strawberry.Schema(
        query=ThingQuery,
        subscription=HolderSubscription,
        config=StrawberryConfig(scalar_map=SCALARS),
    )
)
HOLDER_SELECTIONS = [
    "__typename label l: label flag colour tags grid amounts",
    "part { __typename name amount colour } p2: part { n: name t: __typename }",
    "parts { amount t: __typename colour } maybeParts { name colour }",
    "first { name amount } f: first { __typename } label: colour colour: label",
    "... on Holder { parts { ... on Part { name } } } ...H",
]


@pytest.mark.parametrize("selection", HOLDER_SELECTIONS)
def test_nulls_lists_aliases_and_typenames_write_graphql_cores_bytes(selection: str) -> None:
    document = parse(
        f"subscription {{ h: holders {{ {selection} }} }} "
        "fragment H on Holder { tags l2: label parts { amount } }"
        if "...H" in selection
        else f"subscription {{ h: holders {{ {selection} }} }}"
    )
    assert not validate(HOLDER_SCHEMA, document)
    built_selection = shared_selection(HOLDER_SCHEMA, document)
    assert built_selection is not None
    assert built_selection.compiled
    for root in HOLDERS:
        written = built_selection.render(root)
        assert written == built_selection.execute(root), (selection, root)
        assert b'"errors"' not in written
    for root in BROKEN:
        assert built_selection.render(root) == built_selection.execute(root), (selection, root)


def test_keys_names_and_type_names_are_written_as_values_never_as_code() -> None:
    """Whatever a response key, an attribute or a type name holds, the encoder writes it back
    as it is: none of it becomes source."""
    hostile = "'); raise SystemExit('injected') #\n\"\"\"\t"
    thing = type("Thing", (), {})()
    setattr(thing, hostile, "value")
    setattr(thing, "class", Decimal("1.50"))
    text = Leaf(str, str, (), nullable=False)
    plan = Object(
        (
            Selected(hostile, hostile, text),
            Selected("keyword", "class", Leaf(serialize_decimal, None, (), nullable=False)),
            Selected("__typename", None, hostile),
        ),
        nullable=False,
    )
    encode = encoder(hostile, plan)
    assert encode(thing) == {hostile: {hostile: "value", "keyword": "1.5", "__typename": hostile}}


SPELLED: list[object] = []  # what `spelled` was called with


@text_first({int: ("-",)})
def spelled(value: object) -> str:
    """An int's digits (as it declares), anything else in brackets."""
    SPELLED.append(value)
    text = str(value)
    return text if type(value) is int and "-" not in text else f"<{text}>"


Count = NewType("Count", int)


@strawberry.type
class Counts:
    values: list[Count | None]


@strawberry.type
class CountSubscription:
    @strawberry.subscription
    async def counts(self) -> AsyncGenerator[Counts, None]:
        yield Counts(values=[])


def test_a_serializer_that_writes_text_first_is_called_for_the_rest_only() -> None:
    """`text_first`: a value of a declared type whose text holds none of its marks is written
    as its `str` by the encoder itself; the serializer writes everything else."""
    schema = strawberry.Schema(
        query=ThingQuery,
        subscription=CountSubscription,
        config=StrawberryConfig(
            scalar_map={Count: strawberry.scalar(name="Count", serialize=spelled)}
        ),
    )
    selection = shared_selection(core_schema(schema), parse("subscription { counts { values } }"))
    assert selection is not None
    assert selection.compiled
    counts = Counts(values=[Count(1), Count(-2), None, True, Count(30)])  # type: ignore[list-item]
    SPELLED.clear()
    written = selection.render(counts)
    assert SPELLED == [-2, True]  # a bool is not exactly an int
    assert written == selection.execute(counts)
    assert orjson.loads(written) == {
        "data": {"counts": {"values": ["1", "<-2>", None, "<True>", "30"]}}
    }


# ------------------------------------------------------------ generated selections


def fragment_of(type_: GraphQLObjectType) -> str:
    """A named fragment on `type_`: its first two leaf fields and `__typename`."""
    leaves = [
        name
        for name, field in type_.fields.items()
        if not isinstance(get_named_type(field.type), GraphQLObjectType)
    ]
    return f"fragment F{type_.name} on {type_.name} {{ {' '.join(leaves[:2])} __typename }}"


DIRECTIVES = st.sampled_from(
    ["", "", "", "@include(if: $yes)", "@skip(if: $yes)", "@include(if: false)", "@skip(if: $no)"]
)
ALIASES = st.sampled_from(["", "", "", "a: ", "b: ", "price: ", "symbol: "])


def selection_sets(type_: GraphQLObjectType, depth: int) -> st.SearchStrategy[str]:
    def one_field(name: str) -> st.SearchStrategy[str]:
        named = get_named_type(type_.fields[name].type) if name in type_.fields else None
        nested = (
            selection_sets(named, depth - 1)
            if isinstance(named, GraphQLObjectType)
            else st.just("")
        )
        return st.builds(lambda a, d, n: f"{a}{name} {d} {n}", ALIASES, DIRECTIVES, nested)

    names = [
        name
        for name, field in type_.fields.items()
        if depth > 0 or not isinstance(get_named_type(field.type), GraphQLObjectType)
    ]
    field = st.sampled_from([*names, "__typename"]).flatmap(one_field)
    selection = field
    if depth > 0:
        inline = st.builds(
            lambda on, d, inner: f"... {on} {d} {inner}",
            st.sampled_from(["", f"on {type_.name}"]),
            DIRECTIVES,
            selection_sets(type_, depth - 1),
        )
        spread = DIRECTIVES.map(lambda d: f"...F{type_.name} {d}")
        selection = st.one_of(field, field, inline, spread)
    return st.lists(selection, min_size=1, max_size=5).map(lambda s: "{ " + " ".join(s) + " }")


def operation_of(field: str, selection_set: str) -> str:
    used = [name for name in ("yes", "no") if f"${name}" in selection_set]
    header = f"({', '.join(f'${name}: Boolean!' for name in used)})" if used else ""
    argument = {"quotes": 'symbols: ["A"]', "trades": 'symbols: ["A"]', "book": 'symbol: "A"'}
    arguments = argument.get(field, 'symbol: "A", interval: ONE_MINUTE')
    fragments = [
        fragment_of(type_)
        for type_ in SCHEMA.type_map.values()
        if isinstance(type_, GraphQLObjectType) and f"...F{type_.name} " in selection_set
    ]
    return " ".join(
        [f"subscription {header} {{ {field}({arguments}) {selection_set} }}", *fragments]
    )


def root_type(field: str) -> GraphQLObjectType:
    assert SCHEMA.subscription_type is not None
    type_ = SCHEMA.subscription_type.fields[field].type
    while isinstance(type_, GraphQLNonNull | GraphQLList):
        type_ = type_.of_type
    assert isinstance(type_, GraphQLObjectType)
    return type_


GENERATED = st.sampled_from(SHARED_FIELDS).flatmap(
    lambda field: selection_sets(root_type(field), 2).map(lambda s: (field, s))
)


@pytest.mark.fuzz
@settings(
    max_examples=400,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
@given(generated=GENERATED, yes=st.booleans(), no=st.booleans())
def test_generated_selections_write_graphql_cores_bytes(
    generated: tuple[str, str], yes: bool, no: bool
) -> None:
    field, selection_set = generated
    document = parse(operation_of(field, selection_set))
    if validate(SCHEMA, document):  # an alias given to two different fields, say
        return
    variables = {"yes": yes, "no": no}
    selection = shared_selection(SCHEMA, document, variables)
    assert selection is not None
    assert selection.compiled, print_ast(document)
    for root in ROOTS[field]:
        assert selection.render(root) == selection.execute(root), print_ast(document)


def test_the_generated_selections_cover_what_they_must() -> None:
    """One example of each thing the property run draws, compiled and compared here too."""
    document = parse(
        operation_of(
            "quotes",
            "{ a: price @include(if: $yes) price b: symbol __typename ... on Quote { a: price "
            "day { ...FDayStats } } ...FQuote @skip(if: $no) day { vwap b: open } "
            "... @include(if: false) { volume } }",
        )
    )
    assert not validate(SCHEMA, document)
    for yes, no in itertools.product((True, False), repeat=2):
        selection = shared_selection(SCHEMA, document, {"yes": yes, "no": no})
        assert selection is not None
        assert selection.compiled
        for root in ROOTS["quotes"]:
            assert selection.render(root) == selection.execute(root)
