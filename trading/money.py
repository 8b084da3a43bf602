"""Exact money and quantity arithmetic.

Amounts are stored as NUMERIC(28, 8). Products of a quantity and a price are exact when both
respect the instrument's lot and tick size; `exact` refuses (rather than rounds) anything
finer than the stored scale. The one rounding in the system is an average price, which is a
quotient: it is rounded half-even to the stored scale.
"""

from __future__ import annotations

import decimal
from decimal import ROUND_HALF_EVEN, Decimal

SCALE = Decimal("1e-8")
MAX_QUANTITY = Decimal(1_000_000_000)
MAX_PRICE = Decimal(1_000_000_000)
_EXACT = decimal.Context(prec=40, traps=[decimal.Inexact, decimal.InvalidOperation])


class NotExact(ValueError):
    pass


def exact(value: Decimal) -> Decimal:
    """`value` at the stored scale, or NotExact if it has finer digits than storage keeps."""
    try:
        return value.quantize(SCALE, context=_EXACT)
    except (decimal.Inexact, decimal.InvalidOperation):
        raise NotExact(f"{value} has more than 8 decimal places") from None


def average(total: Decimal, quantity: Decimal) -> Decimal:
    return (total / quantity).quantize(SCALE, rounding=ROUND_HALF_EVEN)


def is_multiple(value: Decimal, step: Decimal) -> bool:
    return step > 0 and value % step == 0


def fits_scale(value: Decimal) -> bool:
    try:
        exact(value)
    except NotExact:
        return False
    return True


def exact_aggregate(value: object) -> Decimal | None:
    """An aggregate of an `Exact` column, which keeps the column's type (so its result
    processing turns SQLite's integer units back into a Decimal): checked, never guessed."""
    if value is not None and not isinstance(value, Decimal):
        raise TypeError(f"expected a Decimal aggregate, got {value!r}")
    return value
