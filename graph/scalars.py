"""Scalars: `Decimal` is exact both ways (plain digits out, no floats or NaN in).

A value that does not parse is a `BadInput` (code BAD_USER_INPUT): graphql-core passes a
GraphQLError from a scalar through as it is, in a variable and in a literal alike."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, NewType

import strawberry
from graphql import FloatValueNode, IntValueNode, StringValueNode, ValueNode
from strawberry.types.scalar import ScalarDefinition

from delivery.compiled_selection import text_first
from graph.errors import BadInput
from models.types import plain
from resolvers.numbers import plain_decimal
from trading.echo import echo

MAX_DIGITS = 28


class Written(Decimal):
    """A decimal written out at its own precision: a price at its instrument's tick size
    ("249.00"), a percentage at two places ("0.00"). Any other `Decimal` (an amount of cash,
    a quantity) is written without trailing zeros, so the same amount reads the same whether
    it came from the trading core or from the database."""

    __slots__ = ()


def written(value: Decimal | None) -> Written | None:
    return None if value is None else Written(value)


# `str` is the cheap way to write a Decimal (a live tick's cost per price and size): the
# answer unless it writes an exponent (one above 0, or a value below 1E-6), a negative zero
# (or any value between -1 and 0: "-0" is found nowhere else, an exponent has no leading
# zero), or a point in a value not written at its precision. A compiled shared selection
# writes that case inline (`text_first`), for `Written` and plain `Decimal`s exactly.
STR_UNLESS: dict[type, tuple[str, ...]] = {Written: ("E", "-0"), Decimal: ("E", "-0", ".")}


@text_first(STR_UNLESS)
def serialize_decimal(value: Decimal) -> str:
    """Plain digits, never an exponent ("4.002E+2") and never a negative zero ("-0.00" reads
    "0.00"): a `Written` value at its own precision, any other without trailing zeros
    ("400.2", never "400.20")."""
    text = str(value)  # as STR_UNLESS says, for a Written or a Decimal
    if "E" in text or "-0" in text:
        return _without_exponent(value)
    if "." in text and not isinstance(value, Written):  # trailing zeros to drop
        text = str(value.normalize())
        return format(plain(value), "f") if "E" in text else text
    return text


def _without_exponent(value: Decimal) -> str:
    as_written = isinstance(value, Written)
    if not value:
        value = abs(value)  # a plain Decimal, even of a Written one
    if not as_written:
        return format(plain(value), "f")
    if value.as_tuple().exponent > 0:  # type: ignore[operator]
        value = value.quantize(Decimal(1))
    return format(value, "f")


def parse_decimal(value: object) -> Decimal:
    """A JSON string of plain digits ("12.50", "-3"), or a JSON integer. A JSON float is
    refused: it may already have lost digits on its way here."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise BadInput(
            f'A Decimal is written as a string of digits, such as "1.5": got {echo(repr(value))}'
        )
    result = plain_decimal(str(value), MAX_DIGITS)
    if result is None:
        raise BadInput(
            f"{echo(repr(value))} is not a Decimal: write plain ASCII digits with an optional "
            f"leading '-' and one '.', no spaces, separators or exponent, at most "
            f"{MAX_DIGITS} digits"
        )
    return result


def parse_decimal_literal(node: ValueNode, _variables: object = None) -> Decimal:
    """A Decimal written in the document itself: a string, or a number literal read from its
    source text (`1.5` stays exactly 1.5, never a float)."""
    if isinstance(node, FloatValueNode | IntValueNode):
        return parse_decimal(node.value)
    if isinstance(node, StringValueNode):
        return parse_decimal(node.value)
    raise BadInput('A Decimal is written as a string of digits, such as "1.5"')


DECIMAL: ScalarDefinition = strawberry.scalar(
    name="Decimal",
    description="An exact decimal number, written as a string of ASCII digits with an optional "
    'leading "-" and one ".": "123.45" (no spaces, separators or exponent).',
    serialize=serialize_decimal,
    parse_value=parse_decimal,
    parse_literal=parse_decimal_literal,
)

# Sequence numbers outgrow GraphQL's 32-bit Int; JSON numbers stay exact up to 2^53.
BigInt = NewType("BigInt", int)
MAX_SAFE_INTEGER = 2**53 - 1


def parse_big_int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or abs(value) > MAX_SAFE_INTEGER:
        raise BadInput(f"BigInt must be a whole number within ±2^53, got {echo(repr(value))}")
    return value


BIG_INT: ScalarDefinition = strawberry.scalar(
    name="BigInt",
    description="A whole number beyond 32 bits, exact up to 2^53 (JavaScript's safe range).",
    serialize=int,
    parse_value=parse_big_int,
)

SCALARS: dict[object, ScalarDefinition] = {Decimal: DECIMAL, BigInt: BIG_INT}


def event_sequence_field() -> Any:
    """`eventSequence` of an `Order` or `Notification` a subscription delivers."""
    return strawberry.field(
        default=None,
        description="This change's place in your events (order updates and notifications share "
        "one numbering, each event the previous plus one): pass the last one you saw as "
        "`afterEvent` to `orderUpdates` or `notifications` to get every event after it. Set "
        "on subscription events only.",
    )
