"""The reference instrument file (`data/instruments.csv`): read and validated as a whole.

A bad row stops the load with its line number, so a file is loaded entirely or not at all.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

COLUMNS = (
    "symbol",
    "name",
    "exchange",
    "sector",
    "isin",
    "currency",
    "lot_size",
    "tick_size",
    "reference_price",
)
MAX_SYMBOL_LENGTH = 32  # also the width of the symbol columns
SYMBOL = re.compile(r"^[A-Z][A-Z0-9.\-]{0,31}$")
MAX_CURRENCY_LENGTH = 8  # also the width of the currency column
# An ISO 4217 code (USD) or a crypto asset's (USDT, FDUSD): 3 to 8 capitals or digits.
CURRENCY = re.compile(r"^[A-Z][A-Z0-9]{2,7}$")
ISIN = re.compile(r"^[A-Z]{2}[A-Z0-9]{9}[0-9]$")


class InstrumentFileError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class InstrumentRow:
    symbol: str
    name: str
    exchange: str
    sector: str
    isin: str | None
    currency: str
    lot_size: Decimal
    tick_size: Decimal
    reference_price: Decimal | None


def read_instrument_file(path: str | Path) -> list[InstrumentRow]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise InstrumentFileError(f"{path}: cannot read ({error.strerror})") from None
    reader = csv.DictReader(text.splitlines())
    missing = set(COLUMNS) - set(reader.fieldnames or ()) - {"reference_price"}
    if missing:
        raise InstrumentFileError(f"{path}: missing columns {', '.join(sorted(missing))}")
    rows: list[InstrumentRow] = []
    seen: set[str] = set()
    for line, raw in enumerate(reader, start=2):
        try:
            row = parse_row(raw)
        except ValueError as error:
            raise InstrumentFileError(f"{path}:{line}: {error}") from None
        if row.symbol in seen:
            raise InstrumentFileError(f"{path}:{line}: duplicate symbol {row.symbol}")
        seen.add(row.symbol)
        rows.append(row)
    if not rows:
        raise InstrumentFileError(f"{path}: no instruments")
    return rows


def parse_row(raw: dict[str, str | None]) -> InstrumentRow:
    def text(name: str, limit: int, *, required: bool = True) -> str:
        value = (raw.get(name) or "").strip()
        if required and not value:
            raise ValueError(f"{name} is empty")
        if len(value) > limit:
            raise ValueError(f"{name} longer than {limit} characters")
        return value

    symbol = text("symbol", MAX_SYMBOL_LENGTH).upper()
    if not SYMBOL.match(symbol):
        raise ValueError(f"symbol {symbol!r} is not valid")
    isin = text("isin", 12, required=False).upper() or None
    if isin and not ISIN.match(isin):
        raise ValueError(f"isin {isin!r} is not valid")
    currency = text("currency", MAX_CURRENCY_LENGTH).upper()
    if not CURRENCY.match(currency):
        raise ValueError(f"currency {currency!r} is not a currency code (USD, USDT)")
    price = raw.get("reference_price")
    return InstrumentRow(
        symbol=symbol,
        name=text("name", 200),
        exchange=text("exchange", 16).upper(),
        sector=text("sector", 64),
        isin=isin,
        currency=currency,
        lot_size=positive_decimal("lot_size", raw.get("lot_size")),
        tick_size=positive_decimal("tick_size", raw.get("tick_size")),
        reference_price=positive_decimal("reference_price", price) if price else None,
    )


def positive_decimal(name: str, raw: str | None) -> Decimal:
    try:
        value = Decimal((raw or "").strip())
    except InvalidOperation:
        raise ValueError(f"{name} {raw!r} is not a number") from None
    if not value.is_finite() or value <= 0:
        raise ValueError(f"{name} must be above zero, got {raw!r}")
    return value
