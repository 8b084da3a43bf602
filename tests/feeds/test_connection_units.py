"""The reconnect loop every adapter shares (`streaming/feeds/connection.py`), without a socket:
a connection is a function that ends the way a real one does."""

from __future__ import annotations

import logging

import pytest
from prometheus_client import REGISTRY
from tenacity import AsyncRetrying, RetryCallState

from streaming.feeds.connection import Backoff, ConnectionEnded, Refused, Working, keep_connected

FAST = Backoff(0.001, 0.002, refused=0.003, refused_maximum=0.004)


class _Done(BaseException):
    """Ends `keep_connected` from inside, as cancellation would (not retried: no Exception)."""


def _reconnects(feed: str) -> float:
    return REGISTRY.get_sample_value("trado_feed_reconnects_total", {"feed": feed}) or 0.0


def _state_after(error: BaseException, attempt: int) -> RetryCallState:
    state = RetryCallState(AsyncRetrying(), None, (), {})
    state.attempt_number = attempt
    state.set_exception((type(error), error, None))
    return state


def test_a_refusal_waits_the_refused_backoff_and_a_loss_the_usual_one() -> None:
    backoff = Backoff(1.0, 4.0, refused=60.0, refused_maximum=900.0)

    def waits(error: Exception, most: list[float]) -> bool:
        """Whether the waits after attempts 1, 2... are a random half to all of `most`."""
        waited = [backoff.wait(_state_after(error, n)) for n in range(1, len(most) + 1)]
        return all(m / 2 <= w <= m for w, m in zip(waited, most, strict=True))

    assert waits(OSError("reset"), [1.0, 2.0, 4.0, 4.0])  # capped at `maximum`
    assert waits(ConnectionEnded("slow_consumer"), [1.0, 2.0])  # a disconnect is no refusal
    assert waits(Refused("check the key"), [60.0, 120.0, 240.0, 480.0, 900.0, 900.0])


async def test_every_way_a_connection_ends_is_reconnected_counted_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    endings: list[BaseException | None] = [
        None,  # the provider closed it
        ConnectionEnded("slow_consumer (bye)"),
        OSError("connection refused"),
        Refused("check POLYGON_API_KEY"),
        _Done(),
    ]
    calls = 0

    async def connection(_working: Working) -> None:
        nonlocal calls
        ending = endings[calls]
        calls += 1
        if ending is not None:
            raise ending

    before = _reconnects("unit-ends")
    with caplog.at_level(logging.WARNING, "streaming.feeds.connection"), pytest.raises(_Done):
        await keep_connected("unit-ends", connection, FAST)
    assert calls == 5
    assert _reconnects("unit-ends") == before + 4
    said = [(r.levelname, r.getMessage().split(";")[0]) for r in caplog.records]
    assert said == [
        ("WARNING", "unit-ends connection lost (closed by unit-ends)"),
        ("WARNING", "unit-ends connection lost (slow_consumer (bye))"),
        ("WARNING", "unit-ends connection lost (OSError('connection refused'))"),
        ("ERROR", "unit-ends: check POLYGON_API_KEY"),
    ]


async def test_a_working_connection_starts_the_backoff_over() -> None:
    attempts: list[int] = []
    works = {3}  # the third connection carries data before it is lost

    def seen(state: RetryCallState) -> float:
        attempts.append(state.attempt_number)
        if len(attempts) == 5:
            raise _Done
        return 0.0

    class Watched(Backoff):
        def wait(self, state: RetryCallState) -> float:
            return seen(state)

    calls = 0

    async def connection(working: Working) -> None:
        nonlocal calls
        calls += 1
        if calls in works:
            working()
        raise OSError("lost")

    with pytest.raises(_Done):
        await keep_connected("unit-working", connection, Watched())
    assert attempts == [1, 2, 1, 2, 3]


async def test_an_error_that_is_no_loss_is_raised() -> None:
    async def connection(_working: Working) -> None:
        raise ValueError("a bug")

    with pytest.raises(ValueError, match="a bug"):
        await keep_connected("unit-bug", connection, FAST)
