"""Column types shared by the tables."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, DateTime, Numeric
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

SCALE = 8


class Exact(TypeDecorator[Decimal]):
    """An exact decimal: NUMERIC(28, 8) on PostgreSQL.

    SQLite has no exact decimal (its NUMERIC is a float), so there the value is stored as an
    integer count of 1e-8 units: comparisons and sums in SQL stay exact and ordered.
    """

    impl = Numeric(28, SCALE)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(28, SCALE, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        value = Decimal(value)
        if dialect.name == "sqlite":
            return int(value.scaleb(SCALE).to_integral_exact())
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return plain(Decimal(int(value)).scaleb(-SCALE))
        return plain(Decimal(value))


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware timestamp; SQLite hands back naive values, so they are read as UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    # SQLAlchemy's TypeDecorator hooks pass the dialect; one rule here serves every dialect.
    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:  # noqa: ARG002
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:  # noqa: ARG002
        if value is None:
            return None
        moment: datetime = value
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def plain(value: Decimal) -> Decimal:
    """Drop trailing zeros without switching to exponent form (100.5000 -> 100.5, 1E+2 -> 100)."""
    value = value.normalize()
    return value.quantize(Decimal(1)) if value.as_tuple().exponent > 0 else value  # type: ignore[operator]


def at_precision(price: Decimal, tick_size: Decimal) -> Decimal:
    """`price` as a screen shows it: as many places as its instrument's `tick_size` (written
    without trailing zeros: 0.01, not 0.0100), so 249 reads 249.00 and 249.030000 249.03 at
    0.01; a price off the grid keeps its own digits without trailing zeros (102.875)."""
    try:
        written = price.quantize(tick_size)
    except ArithmeticError:
        return plain(price)
    return written if written == price else plain(price)


def utcnow() -> datetime:
    return datetime.now(UTC)
