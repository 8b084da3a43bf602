"""Time and sales and depth, pure logic: a print's aggressor, the simulated book around a
quote, the depth-weighted price a MARKET order pays, and the arguments' checks."""

from __future__ import annotations

import zlib
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from models.tables import OrderSide
from resolvers.tape import BadTapeArgument, aggressor_side, book_depth, recent_count
from streaming.book import LOTS_AT_TOUCH, LOTS_PER_LEVEL, Book, book_of
from streaming.feeds.simulator import SimulatedInstrument, Simulator
from streaming.tick import Tick
from trading.depth import depth_weighted_price

D = Decimal
NOW = datetime(2026, 11, 30, 21, 0, tzinfo=UTC)


def tick(price: str, bid: str, ask: str, sequence: int = 7, symbol: str = "MSFT") -> Tick:
    return Tick(symbol, D(price), D(bid), D(ask), D(100), sequence, NOW, NOW)


@pytest.mark.parametrize(
    ("price", "bid", "ask", "side"),
    [
        ("10.02", "10.00", "10.02", OrderSide.BUY),  # lifted the offer
        ("10.03", "10.00", "10.02", OrderSide.BUY),  # through it
        ("10.00", "10.00", "10.02", OrderSide.SELL),  # hit the bid
        ("10.01", "10.00", "10.02", None),  # inside the spread
        ("10.00", "10.00", "10.00", None),  # a locked market: either could be
    ],
)
def test_the_aggressor_is_read_from_the_touch(
    price: str, bid: str, ask: str, side: OrderSide | None
) -> None:
    assert aggressor_side(tick(price, bid, ask)) == side


def test_the_simulator_prints_at_the_touch_so_each_print_has_an_aggressor() -> None:
    market = Simulator([SimulatedInstrument("AAPL", D("0.01"), D(100))], ticks_per_second=1, seed=3)
    sides = {aggressor_side(market.next_tick()) for _ in range(200)}
    assert sides == {OrderSide.BUY, OrderSide.SELL}


def test_the_book_steps_out_from_the_touch_in_lots() -> None:
    book = book_of(tick("400.20", "400.10", "400.20"), D("0.01"), D(5), depth=10)
    assert [p for p, _ in book.bids] == [D("400.10") - D("0.01") * n for n in range(10)]
    assert [p for p, _ in book.asks] == [D("400.20") + D("0.01") * n for n in range(10)]
    assert all(size > 0 and size % 5 == 0 for _, size in (*book.bids, *book.asks))
    assert book_of(tick("400.20", "400.10", "400.20"), D("0.01"), D(5), 5) == book.top(5), (
        "the same tick gives the same book in any process, at any depth"
    )
    assert book_of(tick("400.20", "400.10", "400.20", 8), D("0.01"), D(5), 10) != book


def spelled_out_book(tick: Tick, tick_size: Decimal, lot_size: Decimal, depth: int) -> Book:
    """The simulated book as `streaming/book.py`'s docstring defines it, level by level."""

    def size(side: bytes, level: int) -> Decimal:
        seed = zlib.crc32(b"%s|%d|%s|%d" % (tick.symbol.encode(), tick.sequence, side, level))
        return lot_size * (LOTS_AT_TOUCH // 2 + seed % LOTS_AT_TOUCH + LOTS_PER_LEVEL * level)

    bids = [(tick.bid - tick_size * n, size(b"b", n)) for n in range(depth)]
    asks = [(tick.ask + tick_size * n, size(b"a", n)) for n in range(depth)]
    return Book(
        tick.symbol,
        tick.sequence,
        tuple(level for level in bids if level[0] > 0),
        tuple(asks),
        previous=tick.sequence - 1,
    )


@pytest.mark.parametrize(
    ("bid", "ask", "tick_size", "lot_size", "depth"),
    [
        ("400.10", "400.20", "0.01", "5", 10),
        ("400.1", "400.2", "0.01", "1.0", 20),  # the tick size's places; a lot size of 1.0
        ("0.03", "0.04", "0.01", "0.001", 5),  # bids stop above zero
        ("65000.5", "65001", "0.5", "0.00001", 20),
        ("7", "7", "1", "100", 1),
    ],
)
def test_the_book_is_the_same_to_the_last_digit(
    bid: str, ask: str, tick_size: str, lot_size: str, depth: int
) -> None:
    """Level for level and digit for digit (places included), what the docstring says: any
    process and any version of this code gives the same book for the same tick."""
    for sequence in (0, 41, 2**53 - 1):
        each = Tick("BTC-USD", D(bid), D(bid), D(ask), D(1), sequence, NOW, NOW)
        made = book_of(each, D(tick_size), D(lot_size), depth)
        assert repr(made) == repr(spelled_out_book(each, D(tick_size), D(lot_size), depth))


def test_bids_stop_above_zero() -> None:
    book = book_of(tick("0.03", "0.02", "0.03"), D("0.01"), D(1), depth=5)
    assert [p for p, _ in book.bids] == [D("0.02"), D("0.01")]
    assert len(book.asks) == 5


LEVELS = [(D("10.00"), D(100)), (D("10.01"), D(50)), (D("10.05"), D(200))]


@pytest.mark.parametrize(
    ("quantity", "price"),
    [
        (D(40), D("10.00")),  # within the top level: its price
        (D(100), D("10.00")),
        # 100 @ 10.00 + 50 @ 10.01 + 50 @ 10.05 = 2003.00 / 200 = 10.015 -> half-even 10.02
        (D(200), D("10.02")),
        # 100 @ 10.00 + 20 @ 10.01 = 1200.20 / 120 = 10.001666.. -> 10.00
        (D(120), D("10.00")),
        # past the book: 100 @ 10.00 + 50 @ 10.01 + 250 @ 10.05 = 4013.00 / 400 = 10.0325 -> 10.03
        (D(400), D("10.03")),
    ],
)
def test_the_depth_weighted_price(quantity: Decimal, price: Decimal) -> None:
    assert depth_weighted_price(LEVELS, quantity, D("0.01")) == price


def test_the_rounding_follows_the_tick_size() -> None:
    levels = [(D("1.0000"), D(1)), (D("1.0001"), D(2))]
    assert depth_weighted_price(levels, D(3), D("0.0001")) == D("1.0001")  # 3.0002/3
    assert depth_weighted_price(levels, D(3), D("0.05")) == D("1.00")
    assert depth_weighted_price([(D(250), D(1)), (D(260), D(1))], D(2), D(5)) == D(255)


@pytest.mark.parametrize("depth", [5, 10, 20])
def test_book_depths(depth: int) -> None:
    assert book_depth(depth) == depth


@pytest.mark.parametrize("depth", [0, 1, 15, 50, -5])
def test_other_depths_are_refused(depth: int) -> None:
    with pytest.raises(BadTapeArgument, match="depth must be one of 5, 10, 20"):
        book_depth(depth)


def test_recent_count() -> None:
    assert recent_count(None, 100) == 50
    assert recent_count(3, 100) == 3
    with pytest.raises(BadTapeArgument):
        recent_count(0, 100)
    with pytest.raises(BadTapeArgument):
        recent_count(101, 100)
