"""The one internal tick shape: what a feed produces, what goes onto the log, into the cache
and onto each quote channel, declared once as a msgspec struct with its JSON wire form.

Decoding validates as it parses (types, a timezone on both timestamps, a whole sequence of 0
or more, a symbol of 1 to 32 characters), then `__post_init__` checks what a type cannot say
(finite, positive prices; bid not above ask). Any failure is a `BadTick`. Decimals travel as
strings, so prices stay exact from the feed to the client.
"""

from __future__ import annotations

import copy
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

import msgspec

from models.instrument_file import MAX_SYMBOL_LENGTH
from streaming.errors import BadTick
from trading.day_stats import DayStats

Symbol = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_SYMBOL_LENGTH)]
Sequence = Annotated[int, msgspec.Meta(ge=0)]
Timestamp = Annotated[datetime, msgspec.Meta(tz=True)]


Kind = Literal["trade", "quote", "book", "status"]
Level = tuple[Decimal, Decimal]  # (price, size)

MAX_BOOK_LEVELS = 20  # levels a side a feed's book carries (the deepest `book` serves)


class Depth(msgspec.Struct, frozen=True, gc=False, omit_defaults=True):
    """An exchange's order book as of one update, best levels first: `update` is the
    exchange's id of it, `previous` the id of the update it follows (None: a snapshot, the
    first or after a resynchronisation)."""

    update: Annotated[int, msgspec.Meta(ge=0)]
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]
    previous: Annotated[int, msgspec.Meta(ge=0)] | None = None

    def __post_init__(self) -> None:
        if len(self.bids) > MAX_BOOK_LEVELS or len(self.asks) > MAX_BOOK_LEVELS:
            raise ValueError(f"more than {MAX_BOOK_LEVELS} levels a side")
        for side in (self.bids, self.asks):
            for price, size in side:
                _check_decimal("book price", price, allow_zero=False)
                _check_decimal("book size", size, allow_zero=False)
        _check_ordered(self.bids, descending=True)
        _check_ordered(self.asks, descending=False)


class Tick(msgspec.Struct, frozen=True, gc=False, omit_defaults=True):
    """One market event of a symbol, with the state it leaves: `price` is the last trade's,
    `bid`/`ask` the touch; `sequence` rises by one per symbol across every kind (0 until the
    feed sender numbers it on its way to the log), so `since` stays one number.

    `kind` says what happened: a `trade` (`volume` is its size), a `quote` (the touch
    changed; `volume` 0), a `book` update (`book` holds the exchange's book after it), or a
    `status` (`halted` true: trading halted, false: resumed). Ticks of feeds that send only
    trades are all `trade`s with the touch they left (or `bid = ask = price`). The bridge
    sets `halted` on every tick it publishes, with `day`, the session's statistics as of this
    tick (`streaming.stages.day`). What is unset is left out of the JSON, so a trade keeps
    its wire form."""

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
    kind: Kind = "trade"
    bid_size: Decimal | None = None
    ask_size: Decimal | None = None
    book: Depth | None = None

    def __post_init__(self) -> None:
        price, bid, ask, volume = self.price, self.bid, self.ask, self.volume
        # Every tick is checked where it is made and again where it is read (the feed, the
        # bridge): the common case in one expression, the precise refusal only when it fails.
        if not (
            price.is_finite()
            and bid.is_finite()
            and ask.is_finite()
            and volume.is_finite()
            and price > 0
            and 0 < bid <= ask
            and volume >= 0
        ):
            self._refuse_prices()
        if self.bid_size is not None or self.ask_size is not None:
            for name, size in (("bid_size", self.bid_size), ("ask_size", self.ask_size)):
                if size is not None:
                    _check_decimal(name, size, allow_zero=True)
        if (self.kind == "book") != (self.book is not None):
            raise ValueError("a book tick carries a book, and only a book tick does")
        if self.kind == "status" and self.halted is None:
            raise ValueError("a status tick says whether trading is halted")

    def _refuse_prices(self) -> None:
        for name in ("price", "bid", "ask"):
            _check_decimal(name, getattr(self, name), allow_zero=False)
        _check_decimal("volume", self.volume, allow_zero=True)
        raise ValueError(f"bid {self.bid} above ask {self.ask}")

    def numbered(self, sequence: int) -> Tick:
        """This tick with `sequence`: a copy, not checked again (only the number changes, and
        the feed sender numbers every tick it sends)."""
        if sequence < 0:
            raise ValueError(f"bad sequence {sequence}")
        numbered = copy.copy(self)
        msgspec.structs.force_setattr(numbered, "sequence", sequence)
        return numbered

    @property
    def is_trade(self) -> bool:
        return self.kind == "trade"

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


def _check_ordered(levels: tuple[Level, ...], *, descending: bool) -> None:
    prices = [price for price, _ in levels]
    if prices != sorted(set(prices), reverse=descending):
        raise ValueError("book levels out of order or repeated")


def _check_decimal(name: str, value: Decimal, *, allow_zero: bool) -> None:
    if not value.is_finite() or value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"bad {name} {value}")


_ENCODER = msgspec.json.Encoder(decimal_format="string")
_DECODER = msgspec.json.Decoder(Tick)
