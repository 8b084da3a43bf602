"""Live candles: folding ticks into OHLCV bars. Pure logic, no I/O.

A bar is identified by (symbol, interval, start); `start` is the tick's exchange time floored
to the interval in UTC (daily bars start at 00:00 UTC: exchange sessions are not modelled).
`last_sequence` is the sequence of the last tick folded in, so folding a tick twice (a Kafka
re-delivery) is refused and a stored bar is only ever replaced by a newer one.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum

import msgspec

from streaming.tick import Tick

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Interval(StrEnum):
    """Stored as these short codes (the `candle.interval` column is 4 characters)."""

    M1 = "1m"
    M5 = "5m"
    M15 = "15m"
    H1 = "1h"
    D1 = "1d"

    @property
    def length(self) -> timedelta:
        return _LENGTHS[self]

    def start_of(self, moment: datetime) -> datetime:
        """The start of the bar that `moment` falls in (UTC, aligned to the epoch). In whole
        seconds (every interval is): twice per tick per interval, where timedelta arithmetic
        cost the candle stage more than the folding."""
        elapsed = moment - EPOCH
        seconds = elapsed.days * 86_400 + elapsed.seconds
        return datetime.fromtimestamp(seconds - seconds % _SECONDS[self], UTC)


_LENGTHS = {
    Interval.M1: timedelta(minutes=1),
    Interval.M5: timedelta(minutes=5),
    Interval.M15: timedelta(minutes=15),
    Interval.H1: timedelta(hours=1),
    Interval.D1: timedelta(days=1),
}
_SECONDS = {interval: int(length.total_seconds()) for interval, length in _LENGTHS.items()}


class Bar(msgspec.Struct, frozen=True, gc=False):
    """A symbol's OHLCV bar of one interval, as the cache, the candle channels and the
    clients see it (JSON with decimals as strings)."""

    symbol: str
    interval: Interval
    start: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    last_sequence: int

    @property
    def key(self) -> tuple[str, Interval, datetime]:
        return self.symbol, self.interval, self.start

    @classmethod
    def opened_by(cls, tick: Tick, interval: Interval) -> Bar:
        return cls(
            symbol=tick.symbol,
            interval=interval,
            start=interval.start_of(tick.exchange_ts),
            open=tick.price,
            high=tick.price,
            low=tick.price,
            close=tick.price,
            volume=tick.volume,
            last_sequence=tick.sequence,
        )

    def folded(self, tick: Tick) -> Bar:
        """This bar with `tick` added; the caller checks the tick belongs here and is newer.
        (The constructor, not `msgspec.structs.replace`: this runs five times per tick.)"""
        return Bar(
            symbol=self.symbol,
            interval=self.interval,
            start=self.start,
            open=self.open,
            high=max(self.high, tick.price),
            low=min(self.low, tick.price),
            close=tick.price,
            volume=self.volume + tick.volume,
            last_sequence=tick.sequence,
        )

    def to_json(self) -> bytes:
        return _BAR_ENCODER.encode(self)

    @classmethod
    def from_json(cls, raw: bytes | str) -> Bar:
        """Raises `msgspec.DecodeError` (a `ValueError`) naming what is wrong."""
        return _BAR_DECODER.decode(raw)


_BAR_ENCODER = msgspec.json.Encoder(decimal_format="string")
_BAR_DECODER = msgspec.json.Decoder(Bar)


class Outcome(StrEnum):
    FOLDED = "folded"
    OPENED = "opened"  # the tick started a new bar
    STALE = "stale"  # the bar already holds this sequence or a later one (re-delivery)
    LATE = "late"  # the tick's time falls before the forming bar: not folded, counted


def fold(current: Bar | None, tick: Tick, interval: Interval) -> tuple[Bar, Outcome]:
    """Fold one tick into the forming bar of its (symbol, interval).

    Returns the bar to keep (possibly a new one) and what happened. `current` may be None
    (no bar known yet) or the forming bar, whose start may be older than the tick's bar.
    """
    start = interval.start_of(tick.exchange_ts)
    if current is None:
        return Bar.opened_by(tick, interval), Outcome.OPENED
    if tick.sequence <= current.last_sequence:
        return current, Outcome.STALE
    if start < current.start:
        return current, Outcome.LATE
    if start > current.start:
        return Bar.opened_by(tick, interval), Outcome.OPENED
    return current.folded(tick), Outcome.FOLDED


class CandleBook:
    """The forming bar of every (symbol, interval) seen: bounded by symbols times intervals.

    `wanted` names the bars to load from the store before `apply`: a restarted bridge then
    continues a bar (open, high, low, volume) instead of re-opening it half-way through.
    """

    def __init__(self, intervals: tuple[Interval, ...] = tuple(Interval)) -> None:
        self.intervals = intervals
        self._forming: dict[tuple[str, Interval], Bar] = {}
        self.late = 0
        self.stale = 0

    def forming(self, symbol: str, interval: Interval) -> Bar | None:
        return self._forming.get((symbol, interval))

    def wanted(self, ticks: list[Tick]) -> set[tuple[str, Interval, datetime]]:
        """Bars these ticks fall in that are newer than what is forming here (once per bar)."""
        wanted = set()
        for tick in ticks:
            for interval in self.intervals:
                start = interval.start_of(tick.exchange_ts)
                forming = self._forming.get((tick.symbol, interval))
                if forming is None or forming.start < start:
                    wanted.add((tick.symbol, interval, start))
        return wanted

    def load(self, found: list[Bar]) -> None:
        """Adopt stored bars that are newer than the forming ones."""
        for bar in found:
            slot = (bar.symbol, bar.interval)
            forming = self._forming.get(slot)
            if forming is None or (forming.start, forming.last_sequence) < (
                bar.start,
                bar.last_sequence,
            ):
                self._forming[slot] = bar

    def apply(self, ticks: list[Tick]) -> list[Bar]:
        """Fold ticks in order; returns every bar they changed (latest state), in first-change
        order, including a bar that a later tick of the same batch closed."""
        changed: dict[tuple[str, Interval, datetime], Bar] = {}
        for tick in ticks:
            for interval in self.intervals:
                slot = (tick.symbol, interval)
                bar, outcome = fold(self._forming.get(slot), tick, interval)
                if outcome is Outcome.STALE:
                    self.stale += 1
                elif outcome is Outcome.LATE:
                    self.late += 1
                else:
                    self._forming[slot] = bar
                    changed[bar.key] = bar
        return list(changed.values())

    def snapshot(self) -> dict[tuple[str, Interval], Bar]:
        """The forming bars as they are now (bars are immutable: a shallow copy suffices)."""
        return dict(self._forming)

    def restore(self, saved: dict[tuple[str, Interval], Bar]) -> None:
        """Undo the folds since `snapshot`, when their batch could not be written."""
        self._forming = dict(saved)

    def forget(self) -> None:
        """Drop every forming bar (partitions were revoked: another worker may own them now)."""
        self._forming.clear()
