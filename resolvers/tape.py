"""Time and sales and depth: a trade print's aggressor, the arguments of `recentTrades` and
`book`, and the recent prints from a symbol's quote history.

A trade tick is a print (its price and `volume`, the trade's size) with the touch it left, so
prints are not a message of their own: they are the quote channel's trade ticks, with the
same sequence, history and resume rules, and no extra publish per tick. (Quote, book and
status ticks share that channel and sequence, so prints skip numbers between them.)
"""

from __future__ import annotations

from models.tables import OrderSide
from streaming.book import BOOK_DEPTHS
from streaming.cache import Cache
from streaming.channels import book_key, quote_channel
from streaming.pubsub import PubSub
from streaming.tick import Tick
from trading.echo import echo

DEFAULT_RECENT_TRADES = 50


class BadTapeArgument(ValueError):
    pass


def aggressor_side(tick: Tick) -> OrderSide | None:
    """BUY for a print at or above its ask (a buyer lifted the offer), SELL at or below its
    bid; None inside the spread, or when bid and ask are equal (either could be)."""
    if tick.bid == tick.ask:
        return None
    if tick.price >= tick.ask:
        return OrderSide.BUY
    if tick.price <= tick.bid:
        return OrderSide.SELL
    return None


def book_depth(depth: int) -> int:
    if depth not in BOOK_DEPTHS:
        allowed = ", ".join(map(str, BOOK_DEPTHS))
        raise BadTapeArgument(f"depth must be one of {allowed}, got {echo(str(depth))}")
    return depth


def recent_count(first: int | None, limit: int) -> int:
    if first is None:
        return min(DEFAULT_RECENT_TRADES, limit)
    if not 1 <= first <= limit:
        raise BadTapeArgument(f"`first` must be between 1 and {limit}, got {first}")
    return first


async def recent_trades(pubsub: PubSub, symbol: str, count: int, held: int) -> list[Tick]:
    """The newest `count` prints the symbol's history holds (`held` messages at most), newest
    first: the history's tail is read twice as far each time it has too few trades in it."""
    reach = count
    while True:
        tail = await pubsub.recent(quote_channel(symbol), reach)
        ticks = [Tick.from_json(publication.message) for publication in reversed(tail)]
        trades = [tick for tick in ticks if tick.is_trade]
        if len(trades) >= count or len(tail) < reach or reach >= held:
            return trades[:count]
        reach = min(reach * 2, held)


async def has_exchange_book(cache: Cache, symbol: str) -> bool:
    """Whether the symbol's feed carries depth (its latest book is cached)."""
    (raw,) = await cache.get_many([book_key(symbol)])
    return raw is not None
