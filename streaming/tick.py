"""The one internal tick shape: what a feed produces, what goes onto the log, into the cache
and onto each quote channel, declared once as a msgspec struct with its JSON wire form.

Decoding validates as it parses (types, a timezone on both timestamps, a whole sequence of 0
or more, a symbol of 1 to 32 characters), then `__post_init__` checks what a type cannot say
(finite, positive prices; bid not above ask). Any failure is a `BadTick`. Decimals travel as
strings, so prices stay exact from the feed to the client.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

import msgspec

from models.instrument_file import MAX_SYMBOL_LENGTH
from streaming.errors import BadTick
from trading.day_stats import DayStats

Symbol = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_SYMBOL_LENGTH)]
Sequence = Annotated[int, msgspec.Meta(ge=0)]
Timestamp = Annotated[datetime, msgspec.Meta(tz=True)]


class Tick(msgspec.Struct, frozen=True, gc=False, omit_defaults=True):
    """A trade print: `volume` is this trade's size; `sequence` rises by one per symbol (0 until
    the feed sender numbers it on its way to the log).

    `halted` from a feed makes the tick a status message (true: trading halted, false:
    resumed) rather than a trade; the bridge then sets it on every tick it publishes, with
    `day`, the session's statistics as of this tick (`streaming.stages.day`). Both are left
    out of the JSON while unset, so a feed's ticks keep their wire form."""

    symbol: Symbol
    price: Decimal
    bid: Decimal
    ask: Decimal
    volume: Decimal
    sequence: Sequence
    exchange_ts: Timestamp
    received_ts: Timestamp
    halted: bool | None = None
    day: DayStats | None = None

    def __post_init__(self) -> None:
        for name in ("price", "bid", "ask"):
            _check_decimal(name, getattr(self, name), allow_zero=False)
        _check_decimal("volume", self.volume, allow_zero=True)
        if self.bid > self.ask:
            raise ValueError(f"bid {self.bid} above ask {self.ask}")

    def to_json(self) -> bytes:
        return _ENCODER.encode(self)

    @classmethod
    def from_json(cls, raw: bytes | str) -> Tick:
        try:
            return _DECODER.decode(raw)
        except msgspec.DecodeError as error:
            raise BadTick(str(error)) from None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Tick:
        """From a parsed object whose decimals and timestamps may still be text (a replay
        row, a provider's trade)."""
        try:
            return msgspec.convert(data, cls)
        except msgspec.ValidationError as error:
            raise BadTick(str(error)) from None


def _check_decimal(name: str, value: Decimal, *, allow_zero: bool) -> None:
    if not value.is_finite() or value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"bad {name} {value}")


_ENCODER = msgspec.json.Encoder(decimal_format="string")
_DECODER = msgspec.json.Decoder(Tick)
