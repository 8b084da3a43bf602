"""The pure parts every feed shares: market events into ticks (`MarketState`), the tick's
kinds and book, the views that pick what `trades` and `book` show, and numbers written as a
screen shows them."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

import msgspec
import pytest

from graph.scalars import Written, serialize_decimal
from graph.tape import TRADES, exchange_book_view
from models.types import at_precision
from streaming.book import exchange_book
from streaming.errors import BadTick
from streaming.feeds.market import (
    BarEvent,
    BookEvent,
    MarketState,
    QuoteEvent,
    StatusEvent,
    TradeEvent,
)
from streaming.tick import Depth, Tick
from trading.day_stats import DayStats

NOW = datetime(2026, 12, 7, 15, 30, tzinfo=UTC)


def depth(update: int, previous: int | None = None) -> Depth:
    bids = ((D("100.00"), D("1.5")), (D("99.99"), D("2")))
    asks = ((D("100.01"), D("0.5")), (D("100.50"), D(10)))
    return Depth(update, bids, asks, previous)


def made(state: MarketState, event: object) -> Tick:
    tick = state.tick(event, NOW)  # type: ignore[arg-type]
    assert tick is not None
    return tick


def test_a_quote_moves_the_touch_and_a_trade_keeps_it() -> None:
    state = MarketState()
    quote = made(state, QuoteEvent("AAPL", D("248.99"), D("249.01"), NOW, D(200), D(300)))
    assert (quote.kind, quote.price, quote.volume) == ("quote", D(249), D(0)), "the midpoint"
    assert (quote.bid_size, quote.ask_size) == (D(200), D(300))
    trade = made(state, TradeEvent("AAPL", D("249.01"), D(30), NOW))
    assert (trade.kind, trade.price, trade.volume) == ("trade", D("249.01"), D(30))
    assert (trade.bid, trade.ask, trade.bid_size) == (D("248.99"), D("249.01"), D(200))
    after = made(state, QuoteEvent("AAPL", D("249.00"), D("249.02"), NOW))
    assert (after.price, after.bid, after.bid_size) == (D("249.01"), D("249.00"), None)


def test_a_trade_before_any_quote_is_its_own_touch() -> None:
    tick = made(MarketState(), TradeEvent("MSFT", D("410.5"), D(1), NOW))
    assert (tick.bid, tick.ask) == (D("410.5"), D("410.5"))


def test_a_status_before_any_price_is_not_published_and_after_one_is() -> None:
    state = MarketState()
    assert state.tick(StatusEvent("IBM", True, NOW), NOW) is None
    made(state, TradeEvent("IBM", D(150), D(1), NOW))
    halt = made(state, StatusEvent("IBM", True, NOW, "H"))
    assert (halt.kind, halt.halted, halt.price, halt.volume) == ("status", True, D(150), D(0))


def test_a_crossed_quote_is_a_bad_tick_and_leaves_the_touch() -> None:
    state = MarketState()
    made(state, QuoteEvent("AAPL", D(10), D("10.02"), NOW))
    with pytest.raises(BadTick, match="crossed"):
        state.tick(QuoteEvent("AAPL", D("10.03"), D("10.02"), NOW), NOW)
    assert made(state, TradeEvent("AAPL", D("10.01"), D(1), NOW)).bid == D(10)


def test_a_book_sets_the_touch_only_where_no_quotes_come() -> None:
    state = MarketState()
    book = made(state, BookEvent("BTCUSDT", depth(7), NOW))
    assert (book.kind, book.bid, book.ask, book.bid_size) == ("book", D(100), D("100.01"), D("1.5"))
    made(state, QuoteEvent("ETHUSDT", D(3000), D("3000.01"), NOW))
    eth = made(state, BookEvent("ETHUSDT", depth(8), NOW))
    assert (eth.bid, eth.ask) == (D(3000), D("3000.01")), "the quote stream's touch"


def test_a_bar_is_recorded_not_published() -> None:
    bar = BarEvent("AAPL", "1m", D(1), D(2), D(1), D(2), D(100), NOW)
    assert MarketState().tick(bar, NOW) is None


def test_a_tick_kind_and_its_book_go_together() -> None:
    trade = made(MarketState(), TradeEvent("AAPL", D(1), D(1), NOW))
    with pytest.raises(ValueError, match="book"):
        msgspec.structs.replace(trade, kind="book")
    with pytest.raises(ValueError, match="halted"):
        msgspec.structs.replace(trade, kind="status")
    with pytest.raises(ValueError, match="order"):
        Depth(1, ((D(1), D(1)), (D(2), D(1))), ())


def test_a_trade_keeps_its_wire_form_and_a_book_tick_round_trips() -> None:
    trade = made(MarketState(), TradeEvent("AAPL", D(1), D(1), NOW))
    assert b"kind" not in trade.to_json()
    assert b"book" not in trade.to_json()
    book = made(MarketState(), BookEvent("BTCUSDT", depth(9, 8), NOW))
    assert Tick.from_json(book.to_json()) == book


def test_trades_show_trades_and_the_exchange_book_its_books() -> None:
    state = MarketState()
    quote = made(state, QuoteEvent("BTCUSDT", D(100), D("100.01"), NOW))
    trade = made(state, TradeEvent("BTCUSDT", D("100.01"), D("0.25"), NOW))
    book = made(state, BookEvent("BTCUSDT", depth(1002, 1001), NOW))
    assert [t.kind for t in (quote, trade, book) if TRADES.shows(t)] == ["trade"]
    view = exchange_book_view(5)
    assert [t.kind for t in (quote, trade, book) if view.shows(t)] == ["book"]
    real = exchange_book(book, depth=1)
    assert real is not None
    assert not real.simulated
    assert (real.sequence, real.previous, len(real.bids)) == (1002, 1001, 1)
    assert exchange_book(trade) is None


@pytest.mark.parametrize(
    ("price", "tick_size", "written"),
    [
        ("249", "0.01", "249.00"),
        ("249.030000", "0.01", "249.03"),
        ("102.875", "0.01", "102.875"),  # off the grid: its own digits
        ("100.00500000", "0.01", "100.005"),
        ("0.00001234", "0.00000001", "0.00001234"),
        ("4E+2", "0.01", "400.00"),
    ],
)
def test_a_price_is_written_at_its_tick_precision(price: str, tick_size: str, written: str) -> None:
    assert serialize_decimal(Written(at_precision(D(price), D(tick_size)))) == written


def test_no_number_is_a_negative_zero() -> None:
    assert serialize_decimal(Written(D("-0.00"))) == "0.00"
    assert serialize_decimal(D("-0")) == "0"
    flat = DayStats(NOW.date(), D("100.00"), D("100.00"), D("100.01"), D("99.99"), D("99.999"),
                    D(1), D("99.999"))  # fmt: skip
    assert flat.change_percent == D("-0.00"), "rounding keeps the sign..."
    assert serialize_decimal(Written(flat.change_percent)) == "0.00", "...which is not written"


def test_amounts_are_written_without_trailing_zeros() -> None:
    assert serialize_decimal(D("50.00000000")) == "50"
    assert serialize_decimal(D("1.50000000")) == "1.5"


def test_the_vwap_reads_like_the_last_price() -> None:
    day = DayStats(NOW.date(), None, D("100.00"), D("101.00"), D("99.80"), D("100.00"),
                   D(100), D(10040))  # fmt: skip
    assert str(day.vwap) == "100.40"
