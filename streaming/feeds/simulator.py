"""A random-walk market: each instrument moves by whole ticks from its starting price (the
reference price, or where a restarted feed left off). Ticks leave unnumbered (sequence 0): the
feed sender numbers them as it hands them to the log."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from models.types import utcnow
from streaming.feeds import TickSink
from streaming.tick import Tick

# Typical move per tick, as a fraction of price (about 0.05%).
STEP_FRACTION = 0.0005
# Share of trades a buyer starts (at the ask); the rest hit the bid.
BUYER_SHARE = 0.5
# The shortest pause between two rounds of ticks.
PACE_SECONDS = 0.002


@dataclass(slots=True)
class SimulatedInstrument:
    symbol: str
    tick_size: Decimal
    price: Decimal


class Simulator:
    def __init__(
        self,
        instruments: list[SimulatedInstrument],
        *,
        ticks_per_second: float,
        seed: int | None = None,
        trading: Callable[[str, datetime], bool] | None = None,
    ) -> None:
        """`trading(symbol, now)`: whether the symbol trades now (default: always); a tick
        that falls when it does not is skipped (MARKET_HOURS=calendar)."""
        if not instruments:
            raise ValueError("the simulator needs at least one instrument")
        self.instruments = instruments
        self.ticks_per_second = ticks_per_second
        self._random = random.Random(seed)
        self._trading = trading

    def next_tick(self, instrument: SimulatedInstrument | None = None) -> Tick:
        instrument = instrument or self._random.choice(self.instruments)
        tick_size = instrument.tick_size
        ticks_per_step = max(1.0, float(instrument.price) * STEP_FRACTION / float(tick_size))
        steps = round(self._random.gauss(0, ticks_per_step))
        instrument.price = max(instrument.price + steps * tick_size, tick_size * 2)
        spread = tick_size * self._whole(1, 3)
        bid, ask = _touch_after_trade(instrument.price, spread, tick_size, self._random.random())
        now = utcnow()
        return Tick(
            symbol=instrument.symbol,
            price=instrument.price,
            bid=bid,
            ask=ask,
            volume=Decimal(self._whole(1, 50) * 10),
            sequence=0,
            exchange_ts=now,
            received_ts=now,
        )

    def _whole(self, low: int, high: int) -> int:
        """From `low` to `high`, each as likely (`random.randint` costs five times as much)."""
        return low + int(self._random.random() * (high - low + 1))

    async def run(self, sink: TickSink) -> None:
        """An opening tick per instrument (so every symbol has a quote at once), then ticks
        at the configured rate: the ticks due since the last wake every `PACE_SECONDS` at
        most (each stamped as it is made), and caught up in bursts when the loop falls
        behind. (A wake per tick, every 62 µs at 16,000 ticks/s, cost the feed more than
        making the ticks.)"""
        for instrument in self.instruments:
            await self._offer(sink, self.next_tick(instrument))
        started = time.monotonic()
        emitted = 0
        while True:
            due = int((time.monotonic() - started) * self.ticks_per_second) - emitted
            for _ in range(max(due, 0)):
                await self._offer(sink, self.next_tick())
                emitted += 1
            await asyncio.sleep(min(0.05, max(PACE_SECONDS, 1 / self.ticks_per_second)))

    async def _offer(self, sink: TickSink, tick: Tick) -> None:
        if self._trading is None or self._trading(tick.symbol, tick.exchange_ts):
            await sink(tick)


def _touch_after_trade(
    price: Decimal, spread: Decimal, tick_size: Decimal, draw: float
) -> tuple[Decimal, Decimal]:
    """The bid and ask a trade at `price` leaves: a buyer lifted the ask (the trade is at the
    ask) or a seller hit the bid, even odds, so a print's aggressor shows against the quote."""
    if draw < BUYER_SHARE:
        return max(price - spread, tick_size), price
    return price, price + spread
