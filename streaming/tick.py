"""The one internal tick shape that goes onto the log, and its wire form."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from models.instrument_file import MAX_SYMBOL_LENGTH
from streaming.errors import BadTick


@dataclass(frozen=True, slots=True)
class Tick:
    """A trade print: `volume` is this trade's size; `sequence` rises by one per symbol (0 until
    the feed sender numbers it on its way to the log)."""

    symbol: str
    price: Decimal
    bid: Decimal
    ask: Decimal
    volume: Decimal
    sequence: int
    exchange_ts: datetime
    received_ts: datetime

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "symbol": self.symbol,
                "price": str(self.price),
                "bid": str(self.bid),
                "ask": str(self.ask),
                "volume": str(self.volume),
                "sequence": self.sequence,
                "exchange_ts": self.exchange_ts,
                "received_ts": self.received_ts,
            }
        )

    @classmethod
    def from_json(cls, raw: bytes | str) -> Tick:
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as error:
            raise BadTick(f"not JSON: {error}") from None
        if not isinstance(data, dict):
            raise BadTick("not a JSON object")
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Tick:
        try:
            symbol = data["symbol"]
            if not isinstance(symbol, str) or not 0 < len(symbol) <= MAX_SYMBOL_LENGTH:
                raise BadTick(f"bad symbol {symbol!r}")
            sequence = data["sequence"]
            if not isinstance(sequence, int) or isinstance(sequence, bool) or sequence < 0:
                raise BadTick(f"bad sequence {sequence!r}")
            tick = cls(
                symbol=symbol,
                price=_decimal(data, "price"),
                bid=_decimal(data, "bid"),
                ask=_decimal(data, "ask"),
                volume=_decimal(data, "volume", allow_zero=True),
                sequence=sequence,
                exchange_ts=_timestamp(data, "exchange_ts"),
                received_ts=_timestamp(data, "received_ts"),
            )
        except KeyError as missing:
            raise BadTick(f"missing field {missing}") from None
        if tick.bid > tick.ask:
            raise BadTick(f"bid {tick.bid} above ask {tick.ask}")
        return tick


def _decimal(data: dict[str, Any], name: str, *, allow_zero: bool = False) -> Decimal:
    raw = data[name]
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        raise BadTick(f"bad {name} {raw!r}")
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        raise BadTick(f"bad {name} {raw!r}") from None
    if not value.is_finite() or value < 0 or (value == 0 and not allow_zero):
        raise BadTick(f"bad {name} {raw!r}")
    return value


def _timestamp(data: dict[str, Any], name: str) -> datetime:
    raw = data[name]
    try:
        value = datetime.fromisoformat(raw)
    except (TypeError, ValueError):
        raise BadTick(f"bad {name} {raw!r}") from None
    if value.tzinfo is None:
        raise BadTick(f"{name} has no timezone")
    return value
