"""The reconnect loop every provider adapter shares: `keep_connected` runs one connection after
another until cancelled, waiting a `Backoff` between them, counting each loss in
`trado_feed_reconnects_total{feed}` and logging it once, naming the adapter.

An adapter's connection returns when the provider closes it, and raises `ConnectionEnded`
when it gives the connection up itself (a disconnect message, an error reply): both are
reconnected after the usual backoff, as is a lost socket (OSError, a timeout, a WebSocket
error). `Refused` is for what time alone rarely mends (a bad key, a plan without the stream,
the account's one connection in use elsewhere): its message says what to fix, it is logged
as an error, and the next attempt waits the longer refused backoff rather than take part in
a tug of war. A connection calls `working()` once it proves to work (data flows, or it has
subscribed): should it be lost later, the next wait is the first one again.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial

from tenacity import RetryCallState
from websockets.exceptions import WebSocketException

from streaming.metrics import FEED_RECONNECTS
from streaming.retry import Report, equal_jitter, retrying, start_over

log = logging.getLogger(__name__)

Working = Callable[[], None]
Connection = Callable[[Working], Awaitable[None]]
"""One connection, from connecting until the provider closes it (or an error ends it)."""


class ConnectionEnded(Exception):
    """The adapter gives the connection up (a disconnect message, an error reply, the
    provider closed it): reconnect after the usual backoff."""


class Refused(ConnectionEnded):
    """The provider refused us for a reason time alone rarely mends; the message says what
    to fix. Reconnect, but only after the longer refused backoff."""


@dataclass(frozen=True, slots=True)
class Backoff:
    """The waits between connections, in seconds: after a loss `initial` doubling up to
    `maximum`; after a refusal `refused` doubling up to `refused_maximum`. A random half to all
    of each is waited (equal jitter: adapters lost together come back apart)."""

    initial: float = 0.5
    maximum: float = 30.0
    refused: float = 30.0
    refused_maximum: float = 600.0

    def wait(self, state: RetryCallState) -> float:
        """The wait after the attempt `state` tells of (a tenacity wait)."""
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, Refused):
            return equal_jitter(self.refused, self.refused_maximum)(state)
        return equal_jitter(self.initial, self.maximum)(state)


async def keep_connected(name: str, connection: Connection, backoff: Backoff) -> None:
    """Run `connection` again and again until cancelled (see the module docstring); an error
    that is no connection's loss (a bug) is raised."""
    async for attempt in retrying(
        f"{name} connection",
        retry_on=(OSError, TimeoutError, WebSocketException, ConnectionEnded),
        failures=FEED_RECONNECTS.labels(name),
        wait=backoff.wait,
        report=_reporter(name),
    ):
        with attempt:
            await connection(partial(start_over, attempt))
            raise ConnectionEnded(f"closed by {name}")


def _reporter(name: str) -> Report:
    def report(error: BaseException, attempt: int, delay: float) -> None:
        if isinstance(error, Refused):
            log.error("%s: %s; attempt %d, reconnecting in %.1fs", name, error, attempt, delay)
            return
        reason = str(error) if isinstance(error, ConnectionEnded) else repr(error)
        log.warning("%s connection lost (%s); reconnecting in %.2fs", name, reason, delay)

    return report
