"""Live candles: folding ticks into OHLCV bars. Pure logic, no I/O.

A bar is identified by (symbol, interval, start); `start` is the tick's exchange time floored
to the interval in UTC (daily bars start at 00:00 UTC: exchange sessions are not modelled).
`last_sequence` is the sequence of the last tick folded in, so folding a tick twice (a Kafka
re-delivery) is refused and a stored bar is only ever replaced by a newer one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum

import msgspec

from streaming.tick import Tick

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
STARTS_KEPT = 1024  # seconds whose bar starts `CandleBook.starts` keeps


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
        """The start of the bar that `moment` falls in (UTC, aligned to the epoch)."""
        return self.start_at(whole_seconds(moment))

    def start_at(self, second: int) -> datetime:
        """The start of the bar that the whole `second` since the epoch falls in (every
        interval is whole seconds long: integer arithmetic, where timedelta arithmetic cost
        the candle stage more than the folding)."""
        return datetime.fromtimestamp(second - second % _SECONDS[self], UTC)


def whole_seconds(moment: datetime) -> int:
    """The whole seconds from the epoch to `moment` (floored)."""
    elapsed = moment - EPOCH
    return elapsed.days * 86_400 + elapsed.seconds


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

    def to_json(self) -> bytes:
        return _BAR_ENCODER.encode(self)

    @classmethod
    def from_json(cls, raw: bytes | str) -> Bar:
        """Raises `msgspec.DecodeError` (a `ValueError`) naming what is wrong."""
        return _BAR_DECODER.decode(raw)


_BAR_ENCODER = msgspec.json.Encoder(decimal_format="string")
_BAR_DECODER = msgspec.json.Decoder(Bar)


@dataclass(slots=True)
class _Folding:
    """A bar while a batch folds into it: plain fields, made a `Bar` once it closes or the
    batch ends (a `Bar` per tick and interval cost the candle stage most of its time)."""

    start: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    last_sequence: int

    @classmethod
    def of(cls, bar: Bar) -> _Folding:
        return cls(bar.start, bar.open, bar.high, bar.low, bar.close, bar.volume, bar.last_sequence)

    @classmethod
    def opened_by(cls, tick: Tick, start: datetime) -> _Folding:
        price = tick.price
        return cls(start, price, price, price, price, tick.volume, tick.sequence)

    def add(self, tick: Tick) -> None:
        """`tick` folded in; the caller checked it belongs here and is newer."""
        price = tick.price
        self.high = max(self.high, price)
        self.low = min(self.low, price)
        self.close = price
        self.volume += tick.volume
        self.last_sequence = tick.sequence

    def bar(self, symbol: str, interval: Interval) -> Bar:
        return Bar(
            symbol,
            interval,
            self.start,
            self.open,
            self.high,
            self.low,
            self.close,
            self.volume,
            self.last_sequence,
        )


class CandleBook:
    """The forming bar of every (symbol, interval) seen: bounded by symbols times intervals.

    `wanted` names the bars to load from the store before `apply`: a restarted bridge then
    continues a bar (open, high, low, volume) instead of re-opening it half-way through.
    """

    def __init__(self, intervals: tuple[Interval, ...] = tuple(Interval)) -> None:
        self.intervals = intervals
        self._forming: dict[tuple[str, Interval], Bar] = {}
        self._starts: dict[int, tuple[datetime, ...]] = {}  # second -> a bar start per interval
        self.late = 0
        self.stale = 0

    def starts(self, moment: datetime) -> tuple[datetime, ...]:
        """The start of the bar `moment` falls in, per interval."""
        return self._starts_at(whole_seconds(moment))

    def _starts_at(self, second: int) -> tuple[datetime, ...]:
        """Worked out once per second (a batch's ticks fall in a few), not per tick and
        interval."""
        found = self._starts.get(second)
        if found is None:
            if len(self._starts) >= STARTS_KEPT:
                self._starts.clear()
            found = self._starts[second] = tuple(i.start_at(second) for i in self.intervals)
        return found

    def forming(self, symbol: str, interval: Interval) -> Bar | None:
        return self._forming.get((symbol, interval))

    def wanted(self, ticks: list[Tick]) -> set[tuple[str, Interval, datetime]]:
        """Bars these ticks fall in that are newer than what is forming here (once per bar)."""
        wanted = set()
        for symbol, second in {(tick.symbol, whole_seconds(tick.exchange_ts)) for tick in ticks}:
            for interval, start in zip(self.intervals, self._starts_at(second), strict=True):
                forming = self._forming.get((symbol, interval))
                if forming is None or forming.start < start:
                    wanted.add((symbol, interval, start))
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
        """Fold ticks in log order; returns every bar they changed (latest state), symbol by
        symbol and interval by interval, a bar that a later tick of the batch closed first."""
        by_symbol: dict[str, list[Tick]] = {}
        for tick in ticks:
            by_symbol.setdefault(tick.symbol, []).append(tick)
        changed: list[Bar] = []
        for symbol, own in by_symbol.items():
            starts = [self.starts(tick.exchange_ts) for tick in own]
            for index, interval in enumerate(self.intervals):
                changed += self._fold(symbol, interval, own, [s[index] for s in starts])
        return changed

    def _fold(
        self, symbol: str, interval: Interval, ticks: list[Tick], starts: list[datetime]
    ) -> list[Bar]:
        """One symbol's ticks (and their bars' starts) into its forming bar of `interval`: a
        tick at or below the bar's last sequence is stale (a re-delivery), one before the
        bar's start late (both counted, not folded), one after it opens the next bar."""
        slot = (symbol, interval)
        forming = self._forming.get(slot)
        folding = None if forming is None else _Folding.of(forming)
        changed, done = False, []
        for tick, start in zip(ticks, starts, strict=True):
            if folding is not None:
                if tick.sequence <= folding.last_sequence:
                    self.stale += 1
                    continue
                if start < folding.start:
                    self.late += 1
                    continue
                if start == folding.start:
                    folding.add(tick)
                    changed = True
                    continue
                if changed:
                    done.append(folding.bar(symbol, interval))
            folding, changed = _Folding.opened_by(tick, start), True
        if changed and folding is not None:
            bar = self._forming[slot] = folding.bar(symbol, interval)
            done.append(bar)
        return done

    def snapshot(self) -> dict[tuple[str, Interval], Bar]:
        """The forming bars as they are now (bars are immutable: a shallow copy suffices)."""
        return dict(self._forming)

    def restore(self, saved: dict[tuple[str, Interval], Bar]) -> None:
        """Undo the folds since `snapshot`, when their batch could not be written."""
        self._forming = dict(saved)

    def forget(self) -> None:
        """Drop every forming bar (partitions were revoked: another worker may own them now)."""
        self._forming.clear()
