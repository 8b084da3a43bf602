"""marketStatus over HTTP and WebSocket: the exchange calendar's answer at chosen instants
(a holiday, a weekend, pre-market, regular hours, an early close's post-market)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.api.conftest import Api
from tests.utils.graphql_ws import graphql_ws
from tests.utils.server import RunningServer
from trading.sessions import SessionClock

STATUS = """query ($exchange: String!, $at: DateTime) {
  marketStatus(exchange: $exchange, at: $at) { exchange status nextChange nextStatus } }"""
SUBSCRIPTION = """subscription { marketStatus(exchange: "NASDAQ") {
  exchange status nextChange } }"""


@pytest.mark.parametrize(
    ("exchange", "instant", "expected"),
    [
        (
            "NYSE",
            "2026-11-26T15:00:00+00:00",
            ("CLOSED", "2026-11-27T09:00:00+00:00", "PRE"),
        ),  # Thanksgiving
        (
            "NASDAQ",
            "2026-11-28T15:00:00+00:00",
            ("CLOSED", "2026-11-30T09:00:00+00:00", "PRE"),
        ),  # a Saturday
        (
            "XNYS",
            "2026-11-30T12:00:00+00:00",
            ("PRE", "2026-11-30T14:30:00+00:00", "OPEN"),
        ),  # 07:00 New York
        (
            "XNAS",
            "2026-11-30T15:00:00+00:00",
            ("OPEN", "2026-11-30T21:00:00+00:00", "POST"),
        ),  # 10:00 New York
        (
            "NYSE",
            "2026-11-27T18:30:00+00:00",
            ("POST", "2026-11-27T22:00:00+00:00", "CLOSED"),
        ),  # after the early close
        (
            "NYSE",
            "2026-12-01T01:30:00+00:00",
            ("CLOSED", "2026-12-01T09:00:00+00:00", "PRE"),
        ),  # night
    ],
)
async def test_market_status_at_fixed_instants(
    api: Api, exchange: str, instant: str, expected: tuple[str, str, str]
) -> None:
    """`expected`: the status, when it next changes, and to what."""
    got = (await api.data(STATUS, {"exchange": exchange, "at": instant}))["marketStatus"]
    assert (got["status"], got["nextChange"], got["nextStatus"]) == expected
    assert got["exchange"] == ("XNAS" if exchange in ("NASDAQ", "XNAS") else "XNYS")


async def test_market_status_refuses_an_unknown_exchange(api: Api) -> None:
    error = await api.error(STATUS, {"exchange": "LSE"})
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "unknown exchange 'LSE'" in error["message"]


async def test_market_status_subscription_starts_with_the_status_now(
    api_server: RunningServer,
) -> None:
    expected = SessionClock().exchange("XNAS").status(datetime.now(UTC))
    async with graphql_ws(api_server.ws) as ws:
        await ws.subscribe("s", SUBSCRIPTION)
        got = (await ws.next_payload(10))["data"]["marketStatus"]
    assert got["exchange"] == "XNAS"
    assert (got["status"], got["nextChange"]) == (expected.phase.value, expected.until.isoformat())
