"""Scalars: `Decimal` is exact both ways (plain digits out, no floats or NaN in)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any, NewType

import strawberry
from strawberry.types.scalar import ScalarDefinition

from models.types import plain

MAX_DIGITS = 28


def serialize_decimal(value: Decimal) -> str:
    """Plain digits without trailing zeros ("400.2", never "400.20" or "4.002E+2"), so the
    same amount always reads the same whether it came from a quote or from the database."""
    return format(plain(value), "f")


def parse_decimal(value: object) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"Decimal must be a string or number, got {value!r}")
    try:
        result = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a decimal number") from None
    if not result.is_finite():
        raise ValueError(f"{value!r} is not a finite number")
    if len(result.as_tuple().digits) > MAX_DIGITS:
        raise ValueError(f"{value!r} has more than {MAX_DIGITS} digits")
    return result


DECIMAL: ScalarDefinition = strawberry.scalar(
    name="Decimal",
    description='An exact decimal number, written as a string: "123.45".',
    serialize=serialize_decimal,
    parse_value=parse_decimal,
)

# Sequence numbers outgrow GraphQL's 32-bit Int; JSON numbers stay exact up to 2^53.
BigInt = NewType("BigInt", int)
MAX_SAFE_INTEGER = 2**53 - 1


def parse_big_int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or abs(value) > MAX_SAFE_INTEGER:
        raise ValueError(f"BigInt must be a whole number within ±2^53, got {value!r}")
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
